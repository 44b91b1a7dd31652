"""Habits every ``sam-edge`` command shares: single-use options, --threads capped to the CPUs, negative
coordinates, --model given a file, --max-pixels. Each bad input: exit 2, one stderr line, nothing written.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cli_runner import run_cli
from image_files import damaged_deflate_tiff, png_header_only
from PIL import Image

from sam_edge.cli import build_parser
from sam_edge.commands import argument_types
from sam_edge.commands.parser import StoreOnce, pop_notes

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.png"  # 640x480 RGB
GRAPH_FILE = Path(__file__).resolve().parents[1] / "sam_edge" / "models" / "nano" / "nano.encoder.fp32.onnx"
OUTSIDE = "point_coords lie outside the image: accepted 0 <= x <= 640, 0 <= y <= 480 (original pixels)"


def parse(*argv) -> argparse.Namespace:
    return build_parser().parse_args([str(arg) for arg in argv])


def one_error_line(argv, command: str) -> str:
    """Run ``sam-edge ARGV``; it must exit 2 with one stderr line and no stdout. Returns the line."""
    status, stdout, stderr = run_cli(*argv)
    assert (status, stdout) == (2, ""), (status, stdout, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sam-edge {command}: error: "), stderr
    return lines[0]


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    (subparsers,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def test_every_single_valued_option_of_every_command_refuses_a_repeat():
    for name, parser in subcommand_parsers().items():
        for action in parser._actions:
            if action.option_strings and action.nargs is None and not isinstance(action, argparse._AppendAction):
                assert isinstance(action, StoreOnce), (name, action.option_strings)


@pytest.mark.parametrize(
    "argv, option",
    [
        (["segment", SAMPLE, "--box", "1,2,3,4", "--box", "2,3,4,5"], "--box"),
        (["segment", SAMPLE, "--point", "1,2", "--out", "{tmp}/a.png", "--out", "{tmp}/b.png"], "--out"),
        (["segment", SAMPLE, "--point", "1,2", "--model", "{tmp}/a", "--model", "{tmp}/b"], "--model"),
        (["segment", SAMPLE, "--point", "1,2", "--threads", "1", "--threads", "1"], "--threads"),
        (["export", "--random", "vit_t", "--out", "{tmp}/a", "--out", "{tmp}/b"], "--out"),
        (["eval", "--limit", "1", "--limit", "2"], "--limit"),
        (["bench", "--target-ms", "5", "--target-ms", "6"], "--target-ms"),
        (["backends", "--rounds", "1", "--rounds", "2"], "--rounds"),
        (["quantize", "--recipe", "auto", "--recipe", "all"], "--recipe"),
    ],
)
def test_a_repeated_single_valued_option_is_one_line_naming_it(argv, option, tmp_path):
    argv = [str(arg).format(tmp=tmp_path) for arg in argv]
    command = argv[0]
    assert one_error_line(argv, command) == (
        f"sam-edge {command}: error: argument {option}: given more than once; give it once "
        f"(see sam-edge {command} --help)"
    )
    assert list(tmp_path.iterdir()) == []


def test_point_still_repeats():
    assert parse("segment", SAMPLE, "--point", "1,2", "--point", "3,4,0").point == [(1.0, 2.0, 1), (3.0, 4.0, 0)]


def test_threads_above_the_cpus_are_capped_with_a_note(monkeypatch):
    monkeypatch.setattr(argument_types, "available_cpus", lambda: 4)
    args = parse("segment", SAMPLE, "--point", "1,2", "--threads", "1000")
    assert args.threads == 4
    assert pop_notes(args) == ["--threads 1000 is more than the 4 CPUs here; using 4"]
    args = parse("bench", "--threads", "4")
    assert args.threads == 4 and pop_notes(args) == []


def test_the_note_is_printed_once_the_command_line_parsed(monkeypatch, tmp_path):
    monkeypatch.setattr(argument_types, "available_cpus", lambda: 2)
    status, _, stderr = run_cli("segment", tmp_path / "missing.png", "--point", "1,2", "--threads", "64")
    lines = stderr.splitlines()
    assert status == 2 and len(lines) == 2
    assert lines[0] == "sam-edge segment: note: --threads 64 is more than the 2 CPUs here; using 2"
    assert lines[1].startswith("sam-edge segment: error: cannot open image file")
    status, _, stderr = run_cli("segment", SAMPLE, "--point", "1,2", "--threads", "64", "--box", "x")
    assert status == 2 and "note" not in stderr  # a usage error stays one line


@pytest.mark.parametrize("command", ["segment", "eval", "bench", "backends", "quantize"])
@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_threads_below_one_or_not_a_number_is_a_usage_error(command, value):
    argv = [command] + ([SAMPLE, "--point", "1,2"] if command == "segment" else []) + ["--threads", value]
    assert one_error_line(argv, command) == (
        f"sam-edge {command}: error: argument --threads: expected an integer >= 1; got '{value}' "
        f"(see sam-edge {command} --help)"
    )


def test_negative_coordinates_are_values_with_or_without_equals():
    spaced = parse("segment", SAMPLE, "--point", "-5,100", "--box", "-5,-5,10,10")
    joined = parse("segment", SAMPLE, "--point=-5,100", "--box=-5,-5,10,10")
    assert spaced.point == joined.point == [(-5.0, 100.0, 1)]
    assert spaced.box == joined.box == (-5.0, -5.0, 10.0, 10.0)
    assert parse("segment", SAMPLE, "--point", "-.5,3").point == [(-0.5, 3.0, 1)]


@pytest.mark.parametrize("point", [["--point", "-5,100"], ["--point=-5,100"]])
def test_negative_point_is_refused_as_outside_before_any_model_loads(point, tmp_path):
    # the model directory does not exist: the prompt is checked against the image first
    argv = ["segment", SAMPLE, *point, "--model", tmp_path / "no-model", "--out", tmp_path / "mask.png"]
    assert one_error_line(argv, "segment") == f"sam-edge segment: error: {OUTSIDE}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, command",
    [
        (["segment", SAMPLE, "--point", "1,2", "--model", GRAPH_FILE], "segment"),
        (["eval", "--model", GRAPH_FILE], "eval"),
        (["bench", "--model", GRAPH_FILE], "bench"),
        (["backends", GRAPH_FILE], "backends"),
    ],
)
def test_a_file_given_as_the_model_directory_is_named_as_a_file(argv, command):
    line = one_error_line(argv, command)
    assert (
        f"{GRAPH_FILE} is a file, not a model directory; give the directory `sam-edge export` wrote "
        "(<model>.encoder.<precision>.onnx or .xml and its decoder graphs)" in line
    )


def test_image_above_max_pixels_is_one_line_naming_the_flag(tmp_path):
    big = png_header_only(tmp_path / "12k.png", 12000, 12000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = one_error_line(["segment", big, "--point", "1,2", "--out", tmp_path / "mask.png"], "segment")
    assert caught == []  # Pillow's DecompressionBombWarning would be two more lines
    assert line == (
        f"sam-edge segment: error: {str(big)!r} is 12000x12000 = 144,000,000 pixels, above the limit of "
        "50,000,000 pixels; to load it pass a larger max_pixels= (or max_pixels=None; CLI: --max-pixels N)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["12k.png"]


def test_max_pixels_is_passed_to_the_loader(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    small_limit = one_error_line(["segment", SAMPLE, "--point", "1,2", "--max-pixels", "1000"], "segment")
    assert "is 640x480 = 307,200 pixels, above the limit of 1,000 pixels" in small_limit
    for width, height in ((12000, 12000), (20000, 10000)):  # the second is above Pillow's own limit too
        big = png_header_only(tmp_path / f"{width}.png", width, height)
        line = one_error_line(["segment", big, "--point", "1,2", "--max-pixels", "300000000"], "segment")
        assert "is corrupt or truncated" in line  # past the size checks: only the missing pixel data is left
    assert one_error_line(["segment", SAMPLE, "--point", "1,2", "--max-pixels", "0"], "segment").endswith(
        "argument --max-pixels: expected an integer >= 1; got '0' (see sam-edge segment --help)"
    )


def test_a_damaged_tiff_is_one_line_although_libtiff_prints_its_own(tmp_path):
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(damaged_deflate_tiff())  # libtiff writes "ZIPDecode: Decoding error ..." to fd 2
    done = subprocess.run(
        [sys.executable, "-m", "sam_edge", "segment", str(damaged), "--point", "1,1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"sam-edge segment: error: image file {str(damaged)!r} is corrupt or truncated (OSError: decoder error -2); "
        "give a complete image file Pillow can decode (PNG, JPEG, TIFF, BMP, WebP, ...)"
    ]


class _ClosedPipe(io.TextIOBase):
    """stdout after the reader of a pipe has gone (`sam-edge info | head -1`): every write fails."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(monkeypatch, capsys):
    from sam_edge.cli import main

    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["info", "--no-compile"]) == 0
    assert capsys.readouterr().err == ""
