"""The serve load test (bench/serve_bench.py) runs end to end for a moment: real counts, no speed asserted."""

from __future__ import annotations

import json

from sam_edge.bench.serve_bench import format_report, main, run_serve_bench


def test_the_load_test_runs_and_measures(tmp_path):
    report = run_serve_bench(seconds=2.0, clients=2, threads=2)
    http, one, many, video = report["http"], report["gaze_1"], report["gaze_2"], report["video"]
    assert http["rounds"] >= 3 and http["http_p50_ms"] > 0 and http["in_process_p50_ms"] > 0
    assert one["finished"] == 1 and one["masks"] >= 1 and one["errors"] == 0 and one["latency_p95_ms"] > 0
    assert many["finished"] == 2 and many["masks"] >= 2 and many["errors"] == 0
    assert many["oldest_decoded_ms"] <= 200.0  # the server's max_prompt_age_ms: older prompts are dropped
    assert video["frames_sent"] > 30 and video["frames_encoded_per_s"] > 0 and video["rss_start_mib"] > 0
    assert "gaze_2" in format_report(report)


def test_the_command_line_writes_its_report(tmp_path, capsys):
    out = tmp_path / "serve.json"
    assert main(["--seconds", "1", "--clients", "1", "--phases", "gaze", "--threads", "2", "--out", str(out)]) == 0
    assert set(json.loads(out.read_text())) >= {"gaze_1", "url", "seconds"}
    assert f"wrote {out}" in capsys.readouterr().out
