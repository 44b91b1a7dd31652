"""``sam-edge batch`` without a model: what becomes an item, prompts, markers, the manifest, and every
one-line refusal of bad input (exit 2, no traceback). ~3 s: nothing here loads a model or starts Ray."""

from __future__ import annotations

import json
import socket
import sys
import warnings

import pytest
from cli_runner import run_cli
from test_batch_support import write_folder

from sam_edge.batch.items import IMAGE_EXTENSIONS, attach_prompts, find_items
from sam_edge.batch.job import split_cpus
from sam_edge.batch.outputs import is_done, job_key, mark_done, output_path, remove_stale_partials
from sam_edge.batch.prompt_spec import Prompt, parse_prompts
from sam_edge.batch.results import ResultsManifest, failed_row, one_line
from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.errors import InvalidInputError, SamEdgeNote

pq = pytest.importorskip("pyarrow.parquet")


def test_a_folder_gives_its_images_recursively_named_by_relative_path(tmp_path):
    write_folder(tmp_path, 3, corrupt=True, oversized=False)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skipped.png").write_bytes(b"x")
    (tmp_path / ".partial.png").write_bytes(b"x")
    items = find_items(tmp_path)
    assert [item.name for item in items] == ["corrupt.png", "scene00.png", "scene02.png", "sub/scene01.png"]
    assert [item.index for item in items] == [0, 1, 2, 3]
    assert items[3].path == str(tmp_path / "sub" / "scene01.png") and items[3].error is None


def test_a_glob_is_named_relative_to_its_fixed_prefix(tmp_path):
    write_folder(tmp_path, 3, corrupt=False, oversized=False)
    items = find_items(f"{tmp_path}/**/scene0[12].png")
    assert [(item.name, item.path) for item in items] == [
        ("scene02.png", str(tmp_path / "scene02.png")),
        ("sub/scene01.png", str(tmp_path / "sub" / "scene01.png")),
    ]


def test_jsonl_rows_are_relative_to_the_manifest_and_bad_rows_fail_alone(tmp_path):
    manifest = tmp_path / "list.jsonl"
    lines = [
        json.dumps({"path": "imgs/a.png", "points": [[1, 2]]}),
        "{not json",
        json.dumps(["a list"]),
        "",
        json.dumps({"path": "imgs/deeper/b.png", "boxes": [[0, 0, 5, 5]], "extra": 1}),
        json.dumps({"path": ""}),
        json.dumps({"path": "imgs/a.png"}),
    ]
    manifest.write_text("\n".join(lines) + "\n")
    items = find_items(manifest)
    assert [(item.path, item.name, item.prompts, item.error) for item in items] == [
        (str(tmp_path / "imgs/a.png"), "a.png", {"points": [[1, 2]]}, None),
        (
            f"{manifest} line 2",
            "",
            None,
            "not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        ),
        (f"{manifest} line 3", "", None, "expected an object with a path; got list"),
        (str(tmp_path / "imgs/deeper/b.png"), "deeper/b.png", {"boxes": [[0, 0, 5, 5]]}, None),
        (f"{manifest} line 6", "", None, "path must be a non-empty string; got ''"),
        (
            str(tmp_path / "imgs/a.png"),
            "a.png",
            None,
            f"listed twice in the manifest ({manifest} line 1 and {manifest} line 7)",
        ),
    ]


def test_csv_cells_hold_json_prompts_and_a_short_row_fails(tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text('path,points\na.png,"[[3, 4, 0]]"\nb.png\nc.png,\n')
    items = find_items(manifest)
    assert [(item.name, item.prompts, item.error) for item in items] == [
        ("a.png", {"points": [[3, 4, 0]]}, None),
        ("", None, "1 fields where the header has 2"),
        ("c.png", None, None),
    ]


def test_parquet_manifest_rows(tmp_path):
    import pyarrow as pa

    manifest = tmp_path / "list.parquet"
    pq.write_table(pa.table({"path": ["x/a.png", None], "boxes": ["[[0, 0, 2, 2]]", None]}), manifest)
    items = find_items(manifest)
    assert [(item.path, item.prompts, item.error) for item in items] == [
        (str(tmp_path / "x/a.png"), {"boxes": "[[0, 0, 2, 2]]"}, None),
        (f"{manifest} row 2", None, "path must be a non-empty string; got None"),
    ]
    assert parse_prompts(items[0].prompts) == [Prompt(None, None, [0.0, 0.0, 2.0, 2.0])]


def test_a_prompts_file_matches_by_path_or_by_name(tmp_path):
    write_folder(tmp_path / "imgs", 3, corrupt=False, oversized=False)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps({"imgs/scene00.png": {"points": [[1, 1]]}, "sub/scene01.png": {"boxes": [[0, 0, 9, 9]]}})
    )
    items = attach_prompts(find_items(tmp_path / "imgs"), prompts)
    assert [(item.name, item.prompts) for item in items] == [
        ("scene00.png", {"points": [[1, 1]]}),
        ("scene02.png", None),
        ("sub/scene01.png", {"boxes": [[0, 0, 9, 9]]}),
    ]


def test_prompt_fields_become_one_prompt_each():
    fields = {
        "points": [[10, 20], [30, 40, 0]],
        "boxes": "[[1, 2, 3, 4]]",
        "prompts": [{"points": [[5, 6, 1], [7, 8, 0]], "box": [0, 0, 50, 50]}],
    }
    assert parse_prompts(fields) == [
        Prompt([[10.0, 20.0]], [1], None),
        Prompt([[30.0, 40.0]], [0], None),
        Prompt(None, None, [1.0, 2.0, 3.0, 4.0]),
        Prompt([[5.0, 6.0], [7.0, 8.0]], [1, 0], [0.0, 0.0, 50.0, 50.0]),
    ]


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            None,
            "no prompts for this image; give points [[x, y(, label)], ...], boxes [[x0, y0, x1, y1], ...] "
            'or prompts [{"points": ..., "box": ...}] in its manifest row or --prompts file',
        ),
        ({"points": [[1, "a"]]}, 'points[0] must be [x, y] or [x, y, label] of finite numbers; got [1, "a"]'),
        ({"points": [[1, 2, 5]]}, "points[0]: label must be 1 (foreground) or 0 (background); got 5"),
        ({"boxes": [[5, 5, 1, 9]]}, "boxes[0]: a box is [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1; got [5, 5, 1, 9]"),
        (
            {"boxes": "[[1, 2"},
            "boxes is not valid JSON ('[[1, 2'); expected points [[x, y(, label)], ...], boxes "
            '[[x0, y0, x1, y1], ...] or prompts [{"points": ..., "box": ...}]',
        ),
        ({"prompts": [{"label": 1}]}, 'prompts[0] must be an object with "points" and/or "box"; got {\'label\': 1}'),
    ],
)
def test_bad_prompts_say_what_is_wrong(fields, message):
    with pytest.raises(InvalidInputError) as error:
        parse_prompts(fields)
    assert str(error.value) == message


def test_a_marker_matches_only_the_same_content_and_job(tmp_path):
    output = output_path(tmp_path, "sub/a.png", "embed")
    assert output == tmp_path / "sub" / "a.png.npz"
    job = job_key("embed", "nano-1", {}, None)
    output.parent.mkdir()
    output.write_bytes(b"npz")
    assert not is_done(output, "abc", job)  # no marker yet
    mark_done(output, "/in/sub/a.png", "abc", job)
    assert is_done(output, "abc", job)
    assert not is_done(output, "abd", job) and not is_done(output, "abc", job_key("embed", "vit_b-2", {}, None))
    output.unlink()
    assert not is_done(output, "abc", job)


def test_stale_partials_of_this_jobs_outputs_are_removed(tmp_path):
    output = output_path(tmp_path, "a.png", "embed")

    class Killed(Exception):
        pass

    with pytest.raises(Killed), atomic_output(output, suffix=".npz") as temp:
        temp.write_bytes(b"half")
        kept = temp.with_name(temp.name.replace(".a.png.npz.", ".b.png.npz."))
        kept.write_bytes(b"another job's")
        leftover = temp.with_name(temp.name + ".left")
        leftover.write_bytes(b"as a SIGKILL leaves it")
        raise Killed
    assert remove_stale_partials(tmp_path, ["a.png"], "embed") == 1
    assert not leftover.exists() and kept.exists()


def test_the_results_manifest_keeps_input_order_and_its_columns(tmp_path):
    manifest = ResultsManifest(tmp_path / "results.parquet")
    manifest.add(failed_row(1, "/b.png", "bad\nimage   file"))
    manifest.add(failed_row(0, "/a.png", "missing", worker="vm:1", sha256="00"))
    table = pq.read_table(manifest.write())
    assert table.schema.names == ["path", "sha256", "status", "error", "encode_ms", "total_ms", "output", "worker"]
    assert [(row["path"], row["error"], row["sha256"]) for row in table.to_pylist()] == [
        ("/a.png", "missing", "00"),
        ("/b.png", "bad image file", None),
    ]
    assert manifest.counts == {"ok": 0, "skipped": 0, "failed": 2}
    assert one_line("x" * 500, 10) == "xxxxxxx..."


def test_the_manifest_is_rewritten_as_rows_come_in(tmp_path, monkeypatch):
    monkeypatch.setattr("sam_edge.batch.results.FLUSH_SECONDS", 0.0)  # every row, instead of every 10 s ...
    monkeypatch.setattr("sam_edge.batch.results.FLUSH_SHARE", 0.0)  # ... and whatever a rewrite costs
    manifest = ResultsManifest(tmp_path / "results.parquet")
    for index in range(3):
        manifest.add(failed_row(index, f"/{index}.png", "unreadable"))
        assert [row["path"] for row in pq.read_table(manifest.path).to_pylist()] == [
            f"/{i}.png" for i in range(index + 1)
        ]
    assert [path.name for path in tmp_path.iterdir()] == ["results.parquet"]  # no temporary file left beside it


def test_cpus_are_split_so_workers_times_threads_fit():
    assert split_cpus(8, None, None) == (8, 1)
    assert split_cpus(8, None, 3) == (2, 3)
    assert split_cpus(8, 2, None) == (2, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert split_cpus(2, 4, 1) == (2, 1)
        assert split_cpus(2, None, 5) == (1, 2)
    assert [str(w.message) for w in caught if w.category is SamEdgeNote] == [
        "--workers 4 x --threads-per-worker 1 is more than the 2 CPUs; using 2 workers",
        "--threads-per-worker 5 is more than the 2 CPUs; using 2",
    ]


def _refusal(*argv) -> str:
    status, stdout, stderr = run_cli("batch", *argv)
    assert (status, stdout) == (2, ""), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr.strip()


def test_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    assert _refusal(tmp_path / "empty", "--out", tmp_path / "out") == (
        f"sam-edge batch: error: input folder {tmp_path / 'empty'} holds no image files; "
        f"accepted extensions: {', '.join(sorted(IMAGE_EXTENSIONS))}"
    )
    assert not (tmp_path / "out").exists()


def test_a_missing_input_and_an_empty_glob_are_refused(tmp_path):
    assert _refusal(tmp_path / "nope", "--out", tmp_path / "out") == (
        f"sam-edge batch: error: input {tmp_path / 'nope'} does not exist; give a folder of images, a glob (quoted) "
        "or a manifest (.jsonl, .csv, .parquet) with a path column"
    )
    assert _refusal(f"{tmp_path}/*.png", "--out", tmp_path / "out") == (
        f"sam-edge batch: error: input glob {tmp_path}/*.png matches no file; quote it so the shell does not expand it"
    )


def test_a_manifest_without_a_path_column_is_refused(tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text("file,points\na.png,\n")
    assert _refusal(manifest, "--out", tmp_path / "out") == (
        f"sam-edge batch: error: manifest {manifest} has no path column (columns: file, points); "
        "give each row's image path in a column named path"
    )


def test_an_output_directory_that_is_a_file_is_refused(tmp_path):
    write_folder(tmp_path / "imgs", 1, corrupt=False, oversized=False)
    (tmp_path / "out").write_text("a file")
    assert _refusal(tmp_path / "imgs", "--out", tmp_path / "out") == (
        f"sam-edge batch: error: output {tmp_path / 'out'} is a file; expected a directory (existing or to be created)"
    )


def test_prompts_for_another_task_are_refused(tmp_path):
    write_folder(tmp_path / "imgs", 1, corrupt=False, oversized=False)
    assert _refusal(tmp_path / "imgs", "--out", tmp_path / "out", "--prompts", tmp_path / "p.json") == (
        "sam-edge batch: error: --prompts FILE is for --task prompts; this job's task is embed"
    )


def test_a_ray_address_that_does_not_answer_is_refused(tmp_path):
    pytest.importorskip("ray")
    write_folder(tmp_path / "imgs", 1, corrupt=False, oversized=False)
    with socket.socket() as probe:  # a port nothing listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    assert _refusal(tmp_path / "imgs", "--out", tmp_path / "out", "--engine", "ray", "--ray-address", address) == (
        f"sam-edge batch: error: Ray address {address} does not answer (Connection refused, within 5 s); give the "
        "address of a running Ray head (ray start --head prints it) or leave --ray-address out to start Ray here"
    )
    assert not (tmp_path / "out").exists()


def test_the_ray_engine_without_ray_names_the_extra(tmp_path, monkeypatch):
    write_folder(tmp_path / "imgs", 1, corrupt=False, oversized=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the package
    assert _refusal(tmp_path / "imgs", "--out", tmp_path / "out", "--engine", "ray") == (
        'sam-edge batch: error: the ray engine needs Ray Data, which is not installed: pip install "sam-edge[ray]"'
    )


def test_without_pyarrow_the_batch_extra_is_named(tmp_path, monkeypatch):
    write_folder(tmp_path / "imgs", 1, corrupt=False, oversized=False)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert _refusal(tmp_path / "imgs", "--out", tmp_path / "out") == (
        "sam-edge batch: error: sam-edge batch reads and writes parquet with pyarrow, which is not installed: "
        'pip install "sam-edge[batch]"'
    )
