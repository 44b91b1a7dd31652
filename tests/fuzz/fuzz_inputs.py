"""Coverage-guided fuzzing (atheris / libFuzzer) of what sam-edge reads from outside.

Targets:
  image      runtime.image_io.load_image on arbitrary bytes written to a file
  embedding  ImageEmbedding.load on arbitrary bytes written to an .npz file
  metadata   GraphMetadata.from_json on arbitrary text

The property: a well-formed result, or a SamEdgeError whose message is one line; any other exception
is a crash (libFuzzer stops and writes the input to crash-<sha1>). Each target seeds its corpus with
valid files made by code (``seed_corpus``) when the corpus folder is empty.

    python tests/fuzz/fuzz_inputs.py TARGET [CORPUS_DIR] [libFuzzer flags]
    python tests/fuzz/fuzz_inputs.py image /tmp/corpus-image -max_total_time=3600 -rss_limit_mb=4096

CI (tests/test_fuzz_inputs.py) runs the three for 60 s together.
"""

from __future__ import annotations

import importlib
import io
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: image_files

WORK = Path(tempfile.mkdtemp(prefix="sam-edge-fuzz-"))
# Per target: the modules it reads with, and the packages whose Python code is instrumented for coverage
# (each package costs seconds of start-up: numpy and Pillow ~6 s each here).
RUNTIME_MODULES = {
    "image": ("sam_edge.runtime.image_io", "PIL.Image"),
    "embedding": ("sam_edge.runtime.embedding",),
    "metadata": ("sam_edge.runtime.metadata",),
}
INSTRUMENTED = {
    "image": ["sam_edge", "PIL"],
    "embedding": ["sam_edge", "zipfile", "numpy"],
    "metadata": ["sam_edge", "json"],
}


def import_instrumented(target: str) -> None:
    """Import what ``target`` runs with coverage instrumentation (Pillow's plugins too: they load lazily)."""
    with atheris.instrument_imports(include=INSTRUMENTED[target]):
        for module in RUNTIME_MODULES[target]:
            importlib.import_module(module)
        if target == "image":
            sys.modules["PIL.Image"].init()


def refused_cleanly(error: Exception) -> None:
    """A SamEdgeError is a clean answer only with a non-empty one-line message."""
    message = str(error)
    if not message or "\n" in message:
        raise AssertionError(f"{type(error).__name__} message is not one line: {message!r}")


def fuzz_image(data: bytes) -> None:
    import numpy as np

    from sam_edge.runtime.errors import SamEdgeError
    from sam_edge.runtime.image_io import load_image

    path = WORK / "input"
    path.write_bytes(data)
    try:
        rgb = load_image(path)
    except SamEdgeError as error:
        return refused_cleanly(error)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.flags.c_contiguous, rgb.shape


def fuzz_embedding(data: bytes) -> None:
    import numpy as np

    from sam_edge.runtime.embedding import ImageEmbedding
    from sam_edge.runtime.errors import SamEdgeError

    path = WORK / "input.npz"
    path.write_bytes(data)
    try:
        embedding = ImageEmbedding.load(path)
    except SamEdgeError as error:
        return refused_cleanly(error)
    array = embedding.embeddings
    assert array.dtype == np.float32 and array.ndim == 4 and array.shape[0] == 1 and np.isfinite(array).all()
    for size in (embedding.original_size, embedding.input_size):
        assert len(size) == 2 and all(type(side) is int and side >= 1 for side in size), size
    assert isinstance(embedding.model_id, str) and isinstance(embedding.model_type, str)


def fuzz_metadata(data: bytes) -> None:
    from sam_edge.runtime.errors import SamEdgeError
    from sam_edge.runtime.metadata import GraphMetadata

    text = data.decode("utf-8", errors="surrogateescape")  # any byte string is some text; seeds stay as written
    try:
        metadata = GraphMetadata.from_json(text, "fuzzed.json")
    except SamEdgeError as error:
        return refused_cleanly(error)
    assert isinstance(metadata.model_id, str) and isinstance(metadata.image_size, int) and metadata.image_size >= 1
    assert len(metadata.pixel_mean) == len(metadata.pixel_std) == 3 and all(s > 0 for s in metadata.pixel_std)


def image_seeds() -> dict[str, bytes]:
    from image_files import encoded_images

    return encoded_images()


def embedding_seeds() -> dict[str, bytes]:
    """A valid small embedding .npz, uncompressed and compressed, and one with a size that does not fit."""
    import numpy as np

    rng = np.random.default_rng(0)
    fields = {
        "embeddings": rng.standard_normal((1, 4, 4, 4)).astype(np.float32),
        "original_size": np.array([30, 40]),
        "input_size": np.array([768, 1024]),
        "model_id": np.str_("nano-e39bdf9cc37c"),
        "model_type": np.str_("nano"),
        "format_version": np.int64(1),
    }
    seeds = {}
    for name, save, extra in (
        ("plain", np.savez, {}),
        ("compressed", np.savez_compressed, {}),
        ("bad-size", np.savez, {"original_size": np.array([0, 40])}),
    ):
        buffer = io.BytesIO()
        save(buffer, **(fields | extra))
        seeds[f"{name}.npz"] = buffer.getvalue()
    return seeds


def metadata_seeds() -> dict[str, bytes]:
    from sam_edge.runtime.metadata import GraphMetadata

    record = GraphMetadata(
        model_type="nano",
        model_id="nano-e39bdf9cc37c",
        part="encoder",
        exporter="sam-edge",
        spec={"name": "nano", "encoder": {"kind": "nano"}},
    )
    return {
        "graph.json": record.to_json().encode(),
        "partial.json": b'{"model_type": "vit_b", "part": "decoder"}',
        "list.json": b"[1, 2]",
    }


TARGETS = {
    "image": (fuzz_image, image_seeds),
    "embedding": (fuzz_embedding, embedding_seeds),
    "metadata": (fuzz_metadata, metadata_seeds),
}


def seed_corpus(folder: Path, seeds: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        for name, data in seeds.items():
            (folder / name).write_bytes(data)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: {argv[0]} {{{','.join(TARGETS)}}} [CORPUS_DIR] [libFuzzer flags]")
    target, seeds = TARGETS[argv[1]]
    import_instrumented(argv[1])
    rest = argv[2:]
    corpus = [arg for arg in rest if not arg.startswith("-")]
    if not corpus:
        corpus = [str(WORK / f"corpus-{argv[1]}")]
        rest = rest + corpus
    seed_corpus(Path(corpus[0]), seeds())
    warnings.simplefilter("ignore")  # Pillow warns about odd files it still reads; not a failure
    atheris.Setup([argv[0]] + rest, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
