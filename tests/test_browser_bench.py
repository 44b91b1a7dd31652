"""bench/browser_bench.py runs end to end on a few moves: every figure present and positive (its values
are measured by ``python -m sam_edge.bench.browser_bench``, never judged here)."""

from __future__ import annotations

import pytest
from browser_helpers import require_browser

from sam_edge.bench import browser_bench


def test_a_short_run_reports_every_figure():
    require_browser()
    report = browser_bench.run_browser_bench(moves=5, images=1, threads=2)
    hover, first = report["hover"], report["first_mask"]
    assert hover["moves"] == 5 and hover["image"] == "640x480"
    assert first["images"] == 1 and first["image"] == "1500x1000"
    for value in (hover["round_trip_p50_ms"], hover["round_trip_p95_ms"], hover["decode_p50_ms"]):
        assert value > 0
    assert first["first_mask_p50_ms"] > first["encode_p50_ms"] > 0  # the first mask comes after the encode
    assert report["model"].startswith("nano-") and report["browser"].startswith("chromium ")
    table = browser_bench.format_report(report)
    assert "| hover round trip p95 |" in table and "| first mask - encode (p50) |" in table


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        browser_bench.main(["--moves", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: --moves takes 1..1000 and --images 1..20")
