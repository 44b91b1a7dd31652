"""``sam-edge models``: the registry of official checkpoints and which of them are downloaded.

One row per checkpoint: name, aliases, model type, size, licence, and its state in the cache (or
``--dir``): ``yes (size ok)``, ``no``, ``partial N%`` or ``wrong size``. Sizes are compared, not hashed
(``sam-edge download NAME`` verifies the sha256).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sam_edge.commands.progress import format_size

COLUMNS = ("name", "aliases", "model type", "size", "licence", "cached")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the official checkpoints sam-edge can download, and which are downloaded",
        description="The checkpoint registry (name, aliases, model type, size, licence) and what the cache holds.",
    )
    parser.add_argument("--dir", type=Path, metavar="DIR", help="folder to look in (default: the cache)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.download.cache import cache_state, checkpoints_dir
    from sam_edge.download.registry import load_registry

    rows = [
        (
            model.name,
            ", ".join(model.aliases) or "-",
            model.model_type,
            format_size(model.size),
            model.license,
            cache_state(model, args.dir).describe(model.size),
        )
        for model in load_registry()
    ]
    print_table(rows)
    print(f"cache: {checkpoints_dir(args.dir)} (download with: sam-edge download NAME)")
    return 0


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Left-aligned columns (the size right-aligned), a header line first."""
    widths = [max(len(row[column]) for row in [COLUMNS, *rows]) for column in range(len(COLUMNS))]
    for row in [COLUMNS, *rows]:
        cells = [
            cell.rjust(width) if column == 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        print("  ".join(cells).rstrip())
