#!/usr/bin/env bash
# Set up sam-edge for development on a fresh machine: a venv in .venv with the project, its export,
# OpenVINO and dev extras. Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# torch first, pinned: a CPU build that pip takes from local disk. Left to resolve on its own, the
# `torch>=2.10` of the export extra would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[export,openvino,quantize,dev,video,serve,batch,ray]"
# The browser demo's tests drive Debian's Chromium through Playwright (dev extra), which cannot download a
# browser of its own here: installed with apt-get only when missing and run as root; never fatal.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
        echo "scripts/setup.sh: could not install chromium; tests/test_browser_demo.py will be skipped" >&2
fi
echo "sam-edge set up in .venv ($(.venv/bin/python -c 'import sam_edge; print(sam_edge.__version__)'))" >&2
