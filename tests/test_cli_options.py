"""The CLI's shared options are declared once: every command that has one gets the same choices and defaults."""

from __future__ import annotations

import argparse

from cli_runner import run_cli

from sam_edge.cli import build_parser
from sam_edge.quantize.recipes import DEFAULT_CALIBRATION_IMAGES, DEFAULT_GATE_IMAGES, DEFAULT_ROUNDS
from sam_edge.runtime.backends import BACKENDS
from sam_edge.runtime.image_io import DEFAULT_MAX_PIXELS


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_every_backend_option_offers_the_runtimes_engines():
    having = {
        name: option(parser, "--backend") for name, parser in subcommands().items() if option(parser, "--backend")
    }
    assert {"segment", "eval", "bench", "everything"} <= set(having)
    assert all(tuple(action.choices) == BACKENDS for action in having.values())


def test_max_pixels_defaults_to_the_runtimes_limit_wherever_an_image_is_read():
    having = {
        name: option(parser, "--max-pixels") for name, parser in subcommands().items() if option(parser, "--max-pixels")
    }
    assert {"segment", "everything"} <= set(having)
    assert all(action.default == DEFAULT_MAX_PIXELS for action in having.values()), having


def test_quantize_defaults_are_the_pipelines():
    parser = subcommands()["quantize"]
    assert (
        option(parser, "--calib-images").default,
        option(parser, "--gate-images").default,
        option(parser, "--rounds").default,
    ) == (DEFAULT_CALIBRATION_IMAGES, DEFAULT_GATE_IMAGES, DEFAULT_ROUNDS)


def test_quantize_requires_its_model_and_output_but_lists_recipes_without_them():
    status, stdout, stderr = run_cli("quantize")
    assert status == 2 and "the following arguments are required: MODEL_DIR, --out" in stderr
    status, stdout, _ = run_cli("quantize", "--list")
    assert status == 0 and "ov_bf16" in stdout and "auto on this CPU" in stdout
