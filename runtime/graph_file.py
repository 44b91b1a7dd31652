"""The one owner of graph file names: ``<model>.<part>.<precision>.<onnx|xml>``.

Export writes them, quantize and the engine record read and write them, and the runtime finds a
model's graphs by them; all of them go through ``GraphFile`` (format, parse) and ``find_graphs``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sam_edge.runtime.backends import EXTENSIONS
from sam_edge.runtime.metadata import PARTS

PRECISIONS = ("fp32", "fp16", "int8", "bf16")
_BACKEND_OF_SUFFIX = {suffix: backend for backend, suffix in EXTENSIONS.items()}


@dataclass(frozen=True)
class GraphFile:
    """One graph's name: model (e.g. "vit_b"), part (runtime.metadata.PARTS), precision, backend."""

    model: str
    part: str
    precision: str
    backend: str  # "onnxruntime" (.onnx) or "openvino" (.xml)

    @property
    def name(self) -> str:
        return f"{self.model}.{self.part}.{self.precision}{EXTENSIONS[self.backend]}"

    def path(self, directory: str | Path) -> Path:
        return Path(directory) / self.name

    def weights_name(self) -> str:
        """The file beside the graph holding its weights: ``.bin`` (IR) or ``.onnx.data`` (large ONNX)."""
        return self.name[: -len(".xml")] + ".bin" if self.backend == "openvino" else self.name + ".data"

    def with_(self, **changes) -> "GraphFile":
        """The same name with other fields, e.g. ``with_(precision="int8", backend="openvino")``."""
        return replace(self, **changes)

    @staticmethod
    def parse(path: str | Path) -> "GraphFile | None":
        """The parts of a graph file name, or None when the name does not follow the scheme."""
        name = Path(path).name
        suffix = Path(name).suffix
        pieces = name[: -len(suffix)].rsplit(".", 2) if suffix in _BACKEND_OF_SUFFIX else []
        if len(pieces) != 3 or not pieces[0] or pieces[1] not in PARTS or pieces[2] not in PRECISIONS:
            return None
        return GraphFile(pieces[0], pieces[1], pieces[2], _BACKEND_OF_SUFFIX[suffix])


def find_graphs(
    directory: str | Path, part: str | None = None, precision: str | None = None, backend: str | None = None
) -> list[Path]:
    """The directory's graph files matching every given field, sorted by name."""
    found = []
    for path in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
        graph = GraphFile.parse(path)
        if graph is None or not path.is_file():
            continue
        if (
            (part or graph.part) == graph.part
            and (precision or graph.precision) == graph.precision
            and (backend or graph.backend) == graph.backend
        ):
            found.append(path)
    return found


def model_name(directory: str | Path) -> str | None:
    """The model name of the directory's graphs, when they all share one."""
    names = {GraphFile.parse(path).model for path in find_graphs(directory)}
    return names.pop() if len(names) == 1 else None
