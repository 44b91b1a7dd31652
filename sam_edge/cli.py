"""The ``sam-edge`` command: thin argument parsing; each command lives in sam_edge/commands/.

Errors that sam-edge raises on purpose (SamEdgeError) print one line and exit with status 2; so do
usage errors (sam_edge/commands/parser.py holds the habits every command's options share).
"""

from __future__ import annotations

import argparse
import sys

from sam_edge import __version__
from sam_edge.commands import (
    backends_cmd,
    bench_cmd,
    eval_cmd,
    everything_cmd,
    export_cmd,
    info_cmd,
    quantize_cmd,
    segment_cmd,
)
from sam_edge.commands.parser import ArgumentParser, pop_notes
from sam_edge.runtime.errors import SamEdgeError

COMMANDS = (segment_cmd, everything_cmd, export_cmd, info_cmd, eval_cmd, bench_cmd, quantize_cmd, backends_cmd)


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
        return int(args.run(args) or 0)
    except SamEdgeError as error:
        print(f"sam-edge {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sam-edge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
