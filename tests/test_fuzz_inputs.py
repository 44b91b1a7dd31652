"""The coverage-guided fuzz targets (tests/fuzz/fuzz_inputs.py) run 60 s together: no crash, no hang, no
exception other than a SamEdgeError with a one-line message.

Images get the most time (Pillow's many formats), metadata the least (it saturates in seconds).
``SAM_EDGE_FUZZ_SECONDS=N`` gives every target N seconds; docs/reliability.md has the longer run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZ_SCRIPT = Path(__file__).resolve().parent / "fuzz" / "fuzz_inputs.py"
SECONDS = {"image": 25, "embedding": 20, "metadata": 15}


@pytest.mark.parametrize("target", list(SECONDS))
def test_fuzz_target_finds_nothing(target, tmp_path):
    seconds = int(os.environ.get("SAM_EDGE_FUZZ_SECONDS", SECONDS[target]))
    command = [
        sys.executable,
        str(FUZZ_SCRIPT),
        target,
        str(tmp_path / "corpus"),
        f"-max_total_time={seconds}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={tmp_path}/",
        "-print_final_stats=1",
    ]
    # Through a shell that forks: Linux carries a parent's peak RSS across fork + exec into the
    # child's getrusage, and libFuzzer's -rss_limit_mb reads that, so a fuzzer started straight from a
    # pytest holding 4 GB of models reports an out-of-memory on its first input.
    launcher = ["sh", "-c", '"$@"; exit $?', "fuzz"]
    done = subprocess.run(launcher + command, capture_output=True, text=True, timeout=seconds + 180)
    findings = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(("crash-", "timeout-", "oom-")))
    uncaught = done.stderr.find("=== Uncaught Python exception")  # the traceback, not the last progress lines
    report = done.stderr[uncaught:][:4000] if uncaught >= 0 else done.stderr[-4000:]
    assert (done.returncode, findings) == (0, []), report
    executed = re.search(r"stat::number_of_executed_units: (\d+)", done.stderr)
    per_second = re.search(r"stat::average_exec_per_sec:\s+(\d+)", done.stderr)
    assert executed and int(executed.group(1)) > 0, done.stderr[-2000:]
    print(f"fuzz {target}: {executed.group(1)} inputs, {per_second.group(1)} per second")
