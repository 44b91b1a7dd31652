"""``sam-edge serve``: SAM as a local HTTP + WebSocket service (sam_edge/serve; contract in docs/protocol.md)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from sam_edge.commands.argument_types import add_model_option, add_threads_option, positive_int
from sam_edge.runtime.errors import SamEdgeError

SERVE_PACKAGES = ("starlette", "uvicorn", "websockets")
MISSING_EXTRA = 'sam-edge serve needs the serve extra: pip install "sam-edge[serve]"'


def port_number(text: str) -> int:
    """A TCP port, 0..65535 (0: any free port, printed once listening)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535; got {text!r}")
    return value


def add_parser(subparsers) -> None:
    from sam_edge.serve.settings import DEFAULT_PORT, ServeSettings

    defaults = ServeSettings()
    parser = subparsers.add_parser(
        "serve",
        help="serve SAM over HTTP and WebSocket (gaze, prompts and video in, masks out)",
        description="Serve SAM on this machine: HTTP (JSON) for images and prompts, a WebSocket for gaze, "
        "prompts and video frames (docs/protocol.md). Listens on the loopback unless --host says otherwise.",
    )
    add_model_option(parser)
    parser.add_argument("--host", default=defaults.host, help=f"address to listen on (default: {defaults.host})")
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT}; 0: any free one)"
    )
    add_threads_option(parser, "the decoder's CPU threads (default: physical cores); the encoder gets one fewer")
    parser.add_argument(
        "--max-image-pixels",
        type=positive_int,
        default=defaults.max_image_pixels,
        metavar="N",
        help="refuse images and video frames of more than N pixels, read from the header "
        f"(default: {defaults.max_image_pixels})",
    )
    parser.add_argument(
        "--max-sessions",
        type=positive_int,
        default=defaults.max_sessions,
        metavar="N",
        help=f"open WebSocket sessions at most; more are answered 503 (default: {defaults.max_sessions})",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=defaults.max_body_bytes,
        metavar="N",
        help=f"largest image or embedding upload (default: {defaults.max_body_bytes})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    missing = [name for name in SERVE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise SamEdgeError(MISSING_EXTRA)
    from sam_edge.serve.app import run_server
    from sam_edge.serve.settings import ServeSettings

    settings = ServeSettings(
        model=None if args.model is None else str(args.model),
        host=args.host,
        port=args.port,
        threads=args.threads,
        max_image_pixels=args.max_image_pixels,
        max_sessions=args.max_sessions,
        max_body_bytes=args.max_body_bytes,
    )

    def announce(service, url: str) -> None:
        info = service.info()
        print(
            f"sam-edge serve: model {info['model']['id']} ({info['engines']['encoder']} encoder, "
            f"{info['threads']['encoder']} + {info['threads']['decoder']} threads), listening on {url} (Ctrl-C stops)",
            flush=True,
        )

    run_server(settings, announce)
    print("sam-edge serve: stopped", file=sys.stderr)
    return 0
