"""The record of which engine runs each part of a model fastest, per CPU, kept beside the graphs.

``<model>.backends.json`` is measured by ``sam_edge.bench.engine_choice`` (at ``sam-edge export
--format both``, by ``sam-edge backends`` and by the bench when the running CPU has no entry yet).
The faster engine differs between CPUs (onnxruntime's 1-point predict on nano was 2x OpenVINO's on a
Sapphire Rapids VM and the reverse on an AMD Zen 3), so the record holds one measurement per CPU:
its model name, its ISA flags (runtime/cpu.py) and the thread count. When no backend is asked for,
``find_model_files`` follows the measurement of the running CPU; a record that has none for it is
reported in one line (a ``SamEdgeNote``) and the default order applies: onnxruntime graphs first, the
graphs' own fp32. This module only reads and writes the record: loading a model never imports
measurement code.

Format: ``{"format": 2, "measurements": [{"machine", "isa", "threads", "precision", "encoder_ms",
"decoder_ms", "preferred"}, ...]}``; a one-measurement record of the earlier layout (no ``isa``)
still reads, as a measurement on a CPU of unknown flags, which matches no CPU.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.backends import BACKENDS
from sam_edge.runtime.cpu import cpu_model, isa_summary
from sam_edge.runtime.errors import SamEdgeNote
from sam_edge.runtime.graph_file import find_graphs
from sam_edge.runtime.interface import SAM2_ENCODER

CHOICE_SUFFIX = ".backends.json"
CHOICE_PARTS = ("encoder", "decoder")  # the engine is chosen per part: the encoder, and the decoder graphs
RECORD_FORMAT = 2
UNREADABLE_ISA = "(no flags readable)"  # what cpu.isa_summary gives where the flags cannot be read


@dataclass(frozen=True)
class BackendChoice:
    """One CPU's measurement: median ms per part and engine, and the faster engine per part."""

    encoder_ms: dict[str, float]
    decoder_ms: dict[str, float]
    threads: int
    machine: str  # the CPU's model name (cpu.cpu_model)
    isa: str = ""  # cpu.isa_summary of that CPU; "" in records of the earlier layout
    precision: str = "fp32"  # the encoder precision that was timed

    def preferred(self, part: str) -> str:
        times = self.encoder_ms if part == "encoder" else self.decoder_ms
        return min(times, key=times.get)

    @property
    def cpu(self) -> str:
        """ "<model name> (<flags>)", as reports print it."""
        return f"{self.machine} ({self.isa or 'flags not recorded'})"

    def is_for(self, machine: str, isa: str) -> bool:
        """Measured on a CPU of this model name and these flags (unreadable flags match nothing)."""
        return bool(self.isa) and self.isa != UNREADABLE_ISA and (self.machine, self.isa) == (machine, isa)

    def to_record(self) -> dict:
        return asdict(self) | {"preferred": {part: self.preferred(part) for part in CHOICE_PARTS}}


def this_cpu() -> tuple[str, str]:
    """(model name, ISA summary) of the running CPU: the key of a measurement."""
    return cpu_model(), isa_summary()


def choice_path(model_dir: Path) -> Path | None:
    """The directory's ``<model>.backends.json``, if it has exactly one."""
    found = sorted(Path(model_dir).glob(f"*{CHOICE_SUFFIX}"))
    return found[0] if len(found) == 1 else None


def load_backend_choices(model_dir: Path) -> list[BackendChoice]:
    """Every readable measurement in the directory's record; [] when there is none or it cannot be read."""
    path = choice_path(model_dir)
    if path is None:
        return []
    try:
        record = json.loads(path.read_text())
        entries = record["measurements"] if isinstance(record, dict) and "measurements" in record else [record]
        return [choice for choice in map(_entry_choice, entries) if choice is not None]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def load_backend_choice(model_dir: Path, threads: int | None = None) -> BackendChoice | None:
    """The measurement of the running CPU (the one at ``threads`` if several), else None."""
    return _this_cpus(load_backend_choices(model_dir), threads)


def _this_cpus(choices: list[BackendChoice], threads: int | None) -> BackendChoice | None:
    here = [choice for choice in choices if choice.is_for(*this_cpu())]
    same_threads = [choice for choice in here if choice.threads == threads]
    return (same_threads or here or [None])[0]


def choice_for_this_cpu(model_dir: Path, engines: list[str], threads: int | None = None) -> BackendChoice | None:
    """The running CPU's measurement; when the directory offers a choice of ``engines`` and has a record,
    but none for this CPU (measured on another one), say so once (a ``SamEdgeNote``) and return None
    (default order). A directory without any record (exported with timing skipped) says nothing."""
    known = load_backend_choices(model_dir)
    choice = _this_cpus(known, threads)
    if choice is None and len(engines) > 1 and known:
        warnings.warn(not_measured_here_note(model_dir, known), SamEdgeNote, stacklevel=3)
    return choice


def not_measured_here_note(model_dir: Path, known: list[BackendChoice]) -> str:
    """One line: which CPUs the record knows (``known``, not empty), that this one is not among them,
    and the command that measures."""
    machine, isa = this_cpu()
    if isa == UNREADABLE_ISA:
        why = f"this CPU's features cannot be read ({machine})"
    else:
        why = f"{choice_path(model_dir).name} has no measurement for this CPU, {machine} ({isa}); it has {known[0].cpu}"
        why += f" and {len(known) - 1} more" if len(known) > 1 else ""
    fallback = f"running {BACKENDS[0]} where it has the graphs, in their own precision"
    return f"{why}; {fallback}; `sam-edge backends {model_dir}` measures here"


def engines_with_encoder(model_dir: Path, precision: str = "fp32") -> list[str]:
    """The backends the directory holds a ``precision`` encoder graph for (SAM's or SAM 2's), in BACKENDS order."""
    parts = ("encoder", SAM2_ENCODER.part)
    return [b for b in BACKENDS if any(find_graphs(model_dir, part, precision, b) for part in parts)]


def write_backend_choice(choice: BackendChoice, model_dir: Path, model_name: str) -> Path:
    """Add ``choice`` to the directory's record, replacing an earlier one for the same CPU and threads;
    measurements of the earlier layout (no ISA flags: they match no CPU) are dropped."""
    kept = [
        old
        for old in load_backend_choices(model_dir)
        if old.isa and not (old.is_for(choice.machine, choice.isa) and old.threads == choice.threads)
    ]
    record = {"format": RECORD_FORMAT, "measurements": [c.to_record() for c in [*kept, choice]]}
    path = Path(model_dir) / f"{model_name}{CHOICE_SUFFIX}"
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def _entry_choice(entry: dict) -> BackendChoice | None:
    """One measurement, or None when it names an engine this runtime does not know or times nothing."""
    choice = BackendChoice(
        dict(entry["encoder_ms"]),
        dict(entry["decoder_ms"]),
        int(entry["threads"]),
        str(entry["machine"]),
        str(entry.get("isa", "")),
        str(entry.get("precision", "fp32")),
    )
    known = set(BACKENDS)
    usable = choice.encoder_ms and choice.decoder_ms and set(choice.encoder_ms) | set(choice.decoder_ms) <= known
    return choice if usable else None
