"""``sam-edge download NAME...`` / ``sam-edge download --url URL --sha256 HEX``: the one command that fetches weights.

Names come from the registry (``sam-edge models``). Files go to ``--dir`` or the cache's checkpoints/
folder (docs/download.md); each is streamed to ``<file>.part`` with a progress bar on stderr, resumed
after interruptions, verified against its sha256 and only then renamed into place. Every name is
checked before anything is fetched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_edge.commands.progress import ProgressBar, format_size
from sam_edge.runtime.errors import InvalidInputError

PROGRESS_INTERVAL_S = 0.2


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "download",
        help="download official checkpoints by name (sam-edge models lists them), verified by sha256",
        description="Download official checkpoints into the cache ($SAM_EDGE_HOME, $XDG_CACHE_HOME/sam-edge or "
        "~/.cache/sam-edge, in checkpoints/) or --dir: resumed after interruptions, verified by sha256, renamed "
        "into place only when verified. $SAM_EDGE_MIRROR replaces the official hosts.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="registry names or aliases (vit_b, vit_t, hiera_t, ...)"
    )
    parser.add_argument("--url", metavar="URL", help="download this http(s) URL instead (saved under its file name)")
    parser.add_argument("--sha256", metavar="HEX", help="the sha256 the --url file must have")
    parser.add_argument("--dir", type=Path, metavar="DIR", help="folder to save into (default: the cache)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sam_edge.download.api import check_sha256, download_model, download_url, url_file_name
    from sam_edge.download.registry import get_model

    check_arguments(args)
    if args.url is not None:
        check_sha256(args.sha256)
        with _bar(url_file_name(args.url)) as bar:
            fetched = download_url(args.url, args.sha256, args.dir, progress=bar)
        report(url_file_name(args.url), fetched)
        return 0
    models = {get_model(name).name: get_model(name) for name in args.names}  # all checked before the first fetch
    for name, model in models.items():
        with _bar(model.file) as bar:
            fetched = download_model(name, args.dir, progress=bar)
        report(name, fetched)
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """Names or --url with --sha256, not both, not neither."""
    if args.url is not None and args.names:
        raise InvalidInputError("give registry names or --url URL --sha256 HEX, not both")
    if args.url is not None and args.sha256 is None:
        raise InvalidInputError("--url needs --sha256 HEX: sam-edge keeps only files it can verify")
    if args.url is None and args.sha256 is not None:
        raise InvalidInputError("--sha256 applies to --url; registry names bring their own checksums")
    if args.url is None and not args.names:
        raise InvalidInputError(
            "name the checkpoints to download (sam-edge models lists them) or give --url URL --sha256 HEX"
        )


def _bar(file_name: str) -> ProgressBar:
    return ProgressBar(sys.stderr, label=file_name, unit="bytes", min_interval_s=PROGRESS_INTERVAL_S)


def report(name: str, fetched) -> None:
    """One line per file on stdout: where it is, and whether it was fetched now."""
    what = {
        "present": "already downloaded and verified",
        "downloaded": "downloaded and verified",
        "replaced": "downloaded and verified (replaced a file with other bytes)",
    }[fetched.status]
    print(f"{name}: {what}: {fetched.path} ({format_size(fetched.size)}, sha256 ok)")
