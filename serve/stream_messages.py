"""The stream's text messages, read and checked: JSON object -> one typed value per message type.

Each ``read_*`` takes the decoded JSON object and returns what the session acts on, or raises an
InvalidInputError whose one line the session sends back as ``{"type": "error", ...}``. The fields
each type accepts are in ``FIELDS`` (docs/protocol.md lists them with their meaning).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.serve.prompt_fields import Prompt, box_field, check_fields, label_field, number, prompt_id
from sam_edge.serve.settings import GazeConfig

FIELDS = {
    "image": ("type", "image_id"),
    "gaze": ("type", "t", "x", "y"),
    "point": ("type", "x", "y", "label", "id"),
    "box": ("type", "box", "id"),
    "track": ("type", "on"),
    "config": ("type", "multimask", "max_prompt_age_ms", *GazeConfig.__dataclass_fields__),
}


@dataclass(frozen=True)
class GazeSample:
    t: float
    x: float
    y: float


@dataclass(frozen=True)
class PromptMessage:
    """A ``point`` or ``box`` message: the prompt and the client's id to echo."""

    source: str
    prompt: Prompt
    id: object


def decode_message(text: str, max_bytes: int) -> dict:
    """A text message as a JSON object."""
    if len(text) > max_bytes:
        raise InvalidInputError(
            f"a text message is {len(text):,} characters, above this server's limit of {max_bytes:,}"
        )
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidInputError(f"malformed JSON ({str(error)[:100] or type(error).__name__})") from None
    if not isinstance(message, dict):
        raise InvalidInputError(f"a message must be a JSON object with a type; got {type(message).__name__}")
    return message


def check_message(message: dict) -> None:
    """A known ``type`` with only the fields that type defines."""
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in FIELDS:
        raise InvalidInputError(f"unknown message type {kind!r:.40}; accepted: {', '.join(FIELDS)}")
    check_fields(message, FIELDS[kind], f"a {kind} message")


def read_image(message: dict) -> str:
    image_id = message.get("image_id")
    if not isinstance(image_id, str):
        raise InvalidInputError("an image message needs image_id, the string POST /v1/images returned")
    return image_id


def read_gaze(message: dict, original_size: tuple[int, int]) -> GazeSample:
    sample = GazeSample(*(number(message.get(name), f"gaze {name}") for name in ("t", "x", "y")))
    _check_inside(sample.x, sample.y, original_size, "gaze")
    return sample


def read_prompt(message: dict, original_size: tuple[int, int]) -> PromptMessage:
    """A ``point`` (x, y, label 1 by default) or ``box`` message."""
    ident = prompt_id(message.get("id"))
    if message["type"] == "point":
        x, y = number(message.get("x"), "point x"), number(message.get("y"), "point y")
        label = label_field(message.get("label", 1))
        _check_inside(x, y, original_size, "point")
        return PromptMessage("point", Prompt(points=[[x, y]], labels=[label]), ident)
    box = box_field(message.get("box"))
    prompt = Prompt(box=box)
    prompt.check_inside(original_size)
    return PromptMessage("box", prompt, ident)


def read_track(message: dict) -> bool:
    on = message.get("on")
    if not isinstance(on, bool):
        raise InvalidInputError(f"a track message needs on: true or false; got {on!r:.40}")
    return on


@dataclass(frozen=True)
class SessionConfig:
    """A session's own settings: the gaze filter's parameters, multimask for prompts, and the age (ms)
    beyond which a waiting prompt is dropped (at most the server's ``max_prompt_age_ms``)."""

    gaze: GazeConfig
    multimask: bool
    max_prompt_age_ms: float

    def reply(self) -> dict:
        return {
            "type": "config",
            **asdict(self.gaze),
            "multimask": self.multimask,
            "max_prompt_age_ms": self.max_prompt_age_ms,
        }


def read_config(message: dict, current: SessionConfig, server_max_age_ms: float) -> SessionConfig:
    """The session's new settings; fields left out keep their values."""
    changes = {
        name: number(message[name], name) for name in GazeConfig.__dataclass_fields__ if message.get(name) is not None
    }
    multimask, max_age = current.multimask, current.max_prompt_age_ms
    if "multimask" in message:
        multimask = message["multimask"]
        if not isinstance(multimask, bool):
            raise InvalidInputError(f"multimask must be true or false; got {multimask!r:.40}")
    if message.get("max_prompt_age_ms") is not None:
        max_age = number(message["max_prompt_age_ms"], "max_prompt_age_ms")
        if not 0 < max_age <= server_max_age_ms:
            raise InvalidInputError(f"max_prompt_age_ms must lie within (0, {server_max_age_ms:g}]; got {max_age:g}")
    return SessionConfig(replace(current.gaze, **changes), multimask, max_age)


def _check_inside(x: float, y: float, original_size: tuple[int, int], name: str) -> None:
    height, width = original_size
    if not (0 <= x <= width and 0 <= y <= height):
        raise InvalidInputError(
            f"{name} ({x:g}, {y:g}) lies outside the image: accepted 0 <= x <= {width}, 0 <= y <= {height} "
            "(original pixels)"
        )
