"""Run the ``sam-edge`` CLI in-process and capture what a user would see."""

from __future__ import annotations

import contextlib
import io

from sam_edge.cli import main


def run_cli(*argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``sam-edge ARGV`` in this process (argparse exits included)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(arg) for arg in argv])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()
