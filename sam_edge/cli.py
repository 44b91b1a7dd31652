"""The ``sam-edge`` command: thin argument parsing; each command lives in sam_edge/commands/.

Errors that sam-edge raises on purpose (SamEdgeError) print one line and exit with status 2; so do
usage errors (sam_edge/commands/parser.py holds the habits every command's options share).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from sam_edge import __version__
from sam_edge.commands import (
    backends_cmd,
    batch_cmd,
    bench_cmd,
    download_cmd,
    eval_cmd,
    everything_cmd,
    export_cmd,
    info_cmd,
    models_cmd,
    quantize_cmd,
    segment_cmd,
    serve_cmd,
    track_cmd,
)
from sam_edge.commands.parser import ArgumentParser, pop_notes
from sam_edge.runtime.errors import SamEdgeError, SamEdgeNote

COMMANDS = (
    segment_cmd,
    everything_cmd,
    export_cmd,
    info_cmd,
    eval_cmd,
    bench_cmd,
    quantize_cmd,
    backends_cmd,
    serve_cmd,
    track_cmd,
    download_cmd,
    models_cmd,
    batch_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="sam-edge", description="Segment Anything on CPUs: export, run, benchmark.")
    parser.add_argument("--version", action="version", version=f"sam-edge {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for note in pop_notes(args):
        print(f"sam-edge {args.command}: note: {note}", file=sys.stderr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("once", SamEdgeNote)
            warnings.showwarning = _note_printer(args.command, warnings.showwarning)
            return int(args.run(args) or 0)
    except SamEdgeError as error:
        print(f"sam-edge {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sam-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sam-edge info | head`: the reader has what it wanted
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (stdout replaced in-process)
        pass


def _note_printer(command: str, show_other):
    """``warnings.showwarning`` that prints a SamEdgeNote as one ``sam-edge CMD: note:`` line."""

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SamEdgeNote):
            print(f"sam-edge {command}: note: {message}", file=sys.stderr)
        else:
            show_other(message, category, filename, lineno, file, line)

    return show


if __name__ == "__main__":
    sys.exit(main())
