"""The registry of official checkpoints (``registry.json`` beside this file): lookup by name or alias.

A name is the official file name without its extension (``sam_vit_b_01ec64``); aliases are the model
types users know (``vit_b``, ``vit_t``, ``hiera_t``). ``$SAM_EDGE_MIRROR`` (a base URL) replaces the
official hosts: the file is then fetched from ``<mirror>/<file name>`` only.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from sam_edge.runtime.errors import InvalidInputError

REGISTRY_FILE = Path(__file__).with_name("registry.json")
MIRROR_VARIABLE = "SAM_EDGE_MIRROR"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Model:
    """One downloadable checkpoint: where it lives, what it must hash to, and whose it is."""

    name: str
    file: str
    aliases: tuple[str, ...]
    model_type: str
    family: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    license: str
    checksum_sources: tuple[str, ...]

    def download_urls(self) -> tuple[str, ...]:
        """The official URLs, or only ``$SAM_EDGE_MIRROR/<file>`` when a mirror is set."""
        mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
        if not mirror:
            return self.urls
        if urlsplit(mirror).scheme not in ("http", "https"):
            raise InvalidInputError(
                f"{MIRROR_VARIABLE}={mirror!r} is not an http(s) URL; expected e.g. https://host/sam"
            )
        return (f"{mirror.rstrip('/')}/{quote(self.file)}",)


def _model(record: dict) -> Model:
    model = Model(
        name=record["name"],
        file=record["file"],
        aliases=tuple(record.get("aliases", ())),
        model_type=record["model_type"],
        family=record["family"],
        urls=tuple(record["urls"]),
        sha256=record["sha256"].lower(),
        size=int(record["size"]),
        license=record["license"],
        checksum_sources=tuple(record["checksum_sources"]),
    )
    if not SHA256_HEX.match(model.sha256) or model.size <= 0 or not model.urls or not model.checksum_sources:
        raise ValueError(f"registry entry {model.name!r} needs a sha256, a size, URLs and checksum sources")
    return model


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[Model, ...]:
    with open(path, encoding="utf-8") as handle:
        models = tuple(_model(record) for record in json.load(handle)["models"])
    keys = [key for model in models for key in (model.name, *model.aliases)]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"registry {path} names {', '.join(duplicates)} more than once")
    return models


def load_registry(path: str | Path | None = None) -> tuple[Model, ...]:
    """Every model of the registry (``registry.json`` by default), in table order."""
    return _load(Path(path) if path is not None else REGISTRY_FILE)


def find_model(key: str, models: tuple[Model, ...] | None = None) -> Model | None:
    """The model named ``key`` (a name or an alias), or None."""
    for model in load_registry() if models is None else models:
        if key == model.name or key in model.aliases:
            return model
    return None


def get_model(key: str, models: tuple[Model, ...] | None = None) -> Model:
    """The model named ``key``; an unknown name is an InvalidInputError naming the nearest known one."""
    models = load_registry() if models is None else models
    model = find_model(key, models)
    if model is None:
        raise InvalidInputError(unknown_name_message(key, models))
    return model


def unknown_name_message(key: str, models: tuple[Model, ...]) -> str:
    """``unknown model 'vit_bb'; did you mean 'vit_b'? (sam-edge models lists them)``."""
    keys = [name for model in models for name in (model.name, *model.aliases)]
    nearest = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    return f"unknown model {key!r}{hint} (sam-edge models lists them)"
