"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from golden_data import golden_spec, load_golden, write_random_checkpoint


@pytest.fixture(scope="session")
def golden_checkpoint(tmp_path_factory):
    """Factory: config name -> path of its random-weight checkpoint in official format (cached)."""
    cache: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in cache:
            golden = load_golden(name)
            path = tmp_path_factory.mktemp("ckpt") / f"{name}.pth"
            cache[name] = write_random_checkpoint(golden_spec(name), path, int(golden["seed"]))
        return cache[name]

    return make
