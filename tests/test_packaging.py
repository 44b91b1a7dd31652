"""The distribution: one top-level package in the wheel, every source file inside it, and a torch-free runtime.

The wheel is built from a copy of the sources, so the build leaves no build/ or egg-info in the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from sam_edge import __version__

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]


def package_dirs() -> dict[str, str]:
    """Source folder -> its path inside the wheel, from pyproject.toml's [tool.setuptools.package-dir]."""
    with open(REPO / "pyproject.toml", "rb") as handle:
        mapping = tomllib.load(handle)["tool"]["setuptools"]["package-dir"]
    return {folder: package.replace(".", "/") for package, folder in mapping.items()}


PACKAGE_DIRS = package_dirs()
DIST_INFO = f"sam_edge-{__version__}.dist-info"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built (no isolation: offline, no downloads) from a copy of the mapped folders."""
    pytest.importorskip("build")
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for folder in PACKAGE_DIRS:
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    # --skip-dependency-check: setuptools >= 70.1 builds wheels itself; the `wheel` package need not be here.
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check"]
    result = subprocess.run(
        command + ["--outdir", str(source / "dist"), str(source)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = (source / "dist").glob("sam_edge-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_layout_maps_the_top_level_folders():
    assert {folder: PACKAGE_DIRS[folder] for folder in ("sam_edge", "export", "runtime", "quantize", "bench")} == {
        "sam_edge": "sam_edge",
        "export": "sam_edge/export",
        "runtime": "sam_edge/runtime",
        "quantize": "sam_edge/quantize",
        "bench": "sam_edge/bench",
    }


def test_sam_edge_is_the_only_top_level_package(wheel_names):
    top_level = {name.split("/")[0] for name in wheel_names}
    assert top_level == {"sam_edge", DIST_INFO}


@pytest.mark.parametrize("folder", list(PACKAGE_DIRS))
def test_every_source_file_is_in_the_wheel(wheel_names, folder):
    # Derived from the disk, so a new subfolder missing from pyproject's package list fails here.
    sources = {
        f"{PACKAGE_DIRS[folder]}/{path.relative_to(REPO / folder).as_posix()}"
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources and sources <= set(wheel_names), sorted(sources - set(wheel_names))


def test_bundled_default_model_is_package_data(wheel_names):
    models = REPO / "sam_edge" / "models"
    bundled = {f"sam_edge/models/{path.relative_to(models).as_posix()}" for path in models.rglob("*") if path.is_file()}
    assert {name for name in bundled if name.startswith("sam_edge/models/nano/nano.encoder.fp32.")}, sorted(bundled)
    assert bundled <= set(wheel_names), sorted(bundled - set(wheel_names))


def test_wheel_layout_and_entry_point(wheel, wheel_names):
    names = set(wheel_names)
    for module in (
        "sam_edge/export/modeling/vit_encoder.py",
        "sam_edge/export/modeling/tiny_vit.py",
        "sam_edge/runtime/errors.py",
        "sam_edge/bench/__init__.py",
        "sam_edge/quantize/__init__.py",
        "sam_edge/commands/export_cmd.py",
        "sam_edge/cli.py",
        "sam_edge/__main__.py",
    ):
        assert module in names
    assert not any(name.startswith(("tests/", "sam_edge/tests/")) for name in names)
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "sam-edge = sam_edge.cli:main" in entry_points


BLOCK_TORCH = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    class BlockTorch:
        # A meta path finder that makes every torch import fail, as on a machine without torch.
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked in this test: {name}")
            return None

    sys.meta_path.insert(0, BlockTorch())
    import sam_edge.runtime
    modules = [f"sam_edge.runtime.{info.name}" for info in pkgutil.iter_modules(sam_edge.runtime.__path__)]
    for name in modules + ["sam_edge", "sam_edge.cli", "sam_edge.export.specs"]:
        importlib.import_module(name)
    print(len(modules), sorted(name for name in sys.modules if name.split(".")[0] == "torch"))
    from sam_edge import cli
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_runtime_and_cli_import_without_torch(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, "export", "--random", "vit_t", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    runtime_files = [p for p in (REPO / "runtime").glob("*.py") if p.name != "__init__.py"]
    assert result.stdout.splitlines() == [f"{len(runtime_files)} []"], result.stderr
    # The export command itself says what to install instead of failing with a traceback.
    assert result.returncode == 2
    expected = "sam-edge export: error: export needs PyTorch: pip install 'sam-edge[export]'"
    assert result.stderr.splitlines() == [expected]
    assert not out.exists()
