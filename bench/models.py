"""Which model directories a benchmark runs: ``--model DIR`` as given, or ``--random vit_t,vit_b``
(SAM 2 types too, e.g. ``sam2.1_hiera_t``) exported once with seeded random weights (and, for SAM,
the official decoder interface) into a cache folder.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from sam_edge.runtime.errors import InvalidInputError, ModelFileError
from sam_edge.runtime.model_dir import find_model_files

RANDOM_SEED = 0


def cache_root() -> Path:
    """$SAM_EDGE_BENCH_CACHE, else $XDG_CACHE_HOME/sam-edge/bench, else ~/.cache/sam-edge/bench."""
    if os.environ.get("SAM_EDGE_BENCH_CACHE"):
        return Path(os.environ["SAM_EDGE_BENCH_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sam-edge" / "bench"


def parse_random_models(text: str) -> tuple[str, ...]:
    """'vit_t,vit_b' -> ('vit_t', 'vit_b'); unknown names raise one line listing the accepted ones."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    accepted = official_model_types()
    unknown = [name for name in names if name not in accepted]
    if unknown or not names:
        got = f"unknown model name(s) {', '.join(map(repr, unknown))}" if unknown else "no model name given"
        raise InvalidInputError(f"{got}; accepted: {', '.join(accepted)} (comma-separated)")
    return names


def official_model_types() -> tuple[str, ...]:
    """The model types ``--random`` accepts: SAM's, then SAM 2 / 2.1's (export's spec tables; no torch)."""
    from sam_edge.export.sam2_specs import SAM2_SPECS
    from sam_edge.export.specs import OFFICIAL_SPECS

    return tuple(OFFICIAL_SPECS) + tuple(SAM2_SPECS)


def has_official_decoder(model_type: str) -> bool:
    """SAM's official ONNX decoder interface exists for SAM models only (SAM 2 has none)."""
    from sam_edge.export.sam2_specs import SAM2_SPECS

    return model_type not in SAM2_SPECS


def _cached_dir_ok(directory: Path, backend: str | None, official_decoder: bool) -> bool:
    """The cached export has the graphs the run needs: OpenVINO's too where OpenVINO is installed, the
    split decoder (a cache from before SAM 2 had one is exported again) and SAM's official interface."""
    try:
        files = find_model_files(directory, backend or ("openvino" if openvino_installed() else "onnxruntime"))
    except ModelFileError:
        return False
    return files.split and (not official_decoder or any(directory.glob("*.decoder_official.fp32.onnx")))


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def random_model_dir(model_type: str, backend: str | None = None, cache: Path | None = None) -> Path:
    """The cached export of ``model_type`` with seed RANDOM_SEED; exported (needs torch) when missing."""
    directory = (cache or cache_root()) / f"{model_type}-random-seed{RANDOM_SEED}"
    official_decoder = has_official_decoder(model_type)
    if _cached_dir_ok(directory, backend, official_decoder):
        return directory
    try:
        from sam_edge.export.api import export_model, load_model
    except ImportError:
        raise ModelFileError(
            f"exporting random {model_type} needs torch (pip install 'sam-edge[export]'); or pass --model DIR"
        ) from None
    print(f"exporting random-weight {model_type} to {directory} (once; cached)", file=sys.stderr, flush=True)
    model = load_model(model_type=model_type, random_seed=RANDOM_SEED)
    fmt = "both" if backend == "openvino" or openvino_installed() else "onnx"  # both: the engines get chosen
    # both decoder layouts; SAM also its official interface (SAM 2 has none)
    export_model(model, directory, fmt, progress=lambda message: None, official_decoder=official_decoder)
    return directory
