"""``sam-edge export`` end to end: the written files, and for every bad input a one-line error, exit code 2,
no traceback and nothing left behind in --out (hidden temporary files included).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from bad_checkpoints import BAD_CHECKPOINTS, MARKER_NAME, write_truncated  # noqa: E402

from sam_edge import cli  # noqa: E402
from sam_edge.commands import export_cmd  # noqa: E402
from sam_edge.export import onnx_export  # noqa: E402
from sam_edge.runtime.backends import read_graph_metadata  # noqa: E402

ERROR_PREFIX = "sam-edge export: error: "


def run_cli(capsys, *args: str) -> tuple[int, str, list[str]]:
    """(exit code, stdout, stderr lines) of an in-process ``sam-edge export ...``."""
    code = cli.main(["export", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def snapshot(root: Path) -> list[str]:
    """Every path under ``root``, hidden ones included (pathlib's glob does not skip dotfiles)."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def assert_one_line_error(code: int, out: str, err: list[str], fragment: str) -> None:
    assert code == 2
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith(ERROR_PREFIX)
    assert fragment in err[0]


def test_export_checkpoint_writes_validated_graphs(golden_checkpoint, tmp_path, capsys):
    checkpoint = golden_checkpoint("vit_small")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("pre-existing")
    code, stdout, err = run_cli(capsys, "--checkpoint", checkpoint, "--out", out)
    assert code == 0, err
    parts = ["encoder", "decoder", "decoder_image", "decoder_prompt"]
    names = [f"vit_custom_64x2.{part}.fp32.onnx" for part in parts]
    assert snapshot(out) == sorted(names + ["keep.txt"])
    # Summary on stdout; progress and validation numbers on stderr.
    lines = stdout.splitlines()
    assert lines[0].startswith("wrote 4 files (") and lines[0].endswith(f") to {out}:")
    assert [line.split()[0] for line in lines[1:]] == names
    assert all((" MB  max abs diff " in line or " kB  max abs diff " in line) for line in lines[1:])
    assert "[1/4] encoder" in err and "[2/4] decoder" in err and "[4/4] decoder_prompt" in err
    assert any("vit_custom_64x2.decoder.fp32.onnx: max abs diff vs PyTorch iou_predictions" in line for line in err)
    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    for name, part in zip(names, parts):
        metadata = read_graph_metadata(out / name)
        assert (metadata.part, metadata.checkpoint_sha256) == (part, sha256)
        assert metadata.model_id == f"vit_custom_64x2-{sha256[:12]}"


def test_split_decoder_only(golden_checkpoint, tmp_path, capsys):
    code, stdout, err = run_cli(
        capsys, "--checkpoint", golden_checkpoint("vit_small"), "--out", tmp_path, "--decoder", "split"
    )
    assert code == 0, err
    assert snapshot(tmp_path) == [
        f"vit_custom_64x2.{part}.fp32.onnx" for part in ("decoder_image", "decoder_prompt", "encoder")
    ]
    prompt_line = next(line for line in err if "decoder_prompt.fp32.onnx: max abs diff" in line)
    assert "low_res_masks" in prompt_line and "(tol 1e-03)" in prompt_line


def test_unknown_decoder_layout(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "--random", "nano", "--out", str(tmp_path), "--decoder", "fast"])
    assert exit_info.value.code == 2 and "invalid choice: 'fast'" in capsys.readouterr().err


def test_summary_lists_each_weight_file_once_with_both_formats(tmp_path):
    for name in (
        "m.decoder.fp32.onnx",
        "m.decoder.fp32.xml",
        "m.decoder.fp32.bin",
        "big.encoder.fp32.onnx",
        "big.encoder.fp32.onnx.data",
    ):
        (tmp_path / name).write_bytes(b"x")
    assert export_cmd.artifact_files(tmp_path / "m.decoder.fp32.onnx") == [tmp_path / "m.decoder.fp32.onnx"]
    assert export_cmd.artifact_files(tmp_path / "m.decoder.fp32.xml") == [
        tmp_path / "m.decoder.fp32.xml",
        tmp_path / "m.decoder.fp32.bin",
    ]
    assert export_cmd.artifact_files(tmp_path / "big.encoder.fp32.onnx") == [
        tmp_path / "big.encoder.fp32.onnx",
        tmp_path / "big.encoder.fp32.onnx.data",
    ]


def test_format_choices_match_the_library():
    from sam_edge.export.api import DECODER_LAYOUTS, FORMATS

    assert export_cmd.FORMATS == FORMATS
    assert export_cmd.DECODER_LAYOUTS == DECODER_LAYOUTS


@pytest.mark.parametrize("kind", list(BAD_CHECKPOINTS))
def test_bad_checkpoint(kind, tmp_path, capsys):
    write, fragment = BAD_CHECKPOINTS[kind]
    path = write(tmp_path / f"{kind}.pth")
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, "--checkpoint", path, "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, fragment)
    assert snapshot(tmp_path) == before  # no --out folder, no temporary files
    assert not (tmp_path / MARKER_NAME).exists()


def test_missing_checkpoint(tmp_path, capsys):
    code, out, err = run_cli(capsys, "--checkpoint", tmp_path / "sam_vit_b_01ec64.pth", "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, "does not exist or is not a file; expected a .pth/.pt state dict")
    assert snapshot(tmp_path) == []


def test_checkpoint_of_another_architecture(golden_checkpoint, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "--checkpoint", golden_checkpoint("vit_small"), "--model-type", "vit_b", "--out", tmp_path / "out"
    )
    assert_one_line_error(code, out, err, "does not fit vit_b (missing 140: image_encoder.blocks.10.attn.proj.bias")
    assert "wrong shape 32: image_encoder.pos_embed (1, 64, 64, 64) != (1, 64, 64, 768)" in err[0]
    assert err[0].endswith("custom ViT (embed_dim 64, depth 2, 2 heads); leave out --model-type to load it as detected")
    assert snapshot(tmp_path) == []


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("not a folder")
    code, out, err = run_cli(capsys, "--random", "vit_t", "--out", target)
    assert_one_line_error(code, out, err, f"output {target} is a file; expected a directory")
    assert snapshot(tmp_path) == ["out"] and target.read_text() == "not a folder"


def test_out_inside_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, out, err = run_cli(capsys, "--random", "vit_t", "--out", tmp_path / "file" / "out")
    assert_one_line_error(code, out, err, f"cannot create output directory {tmp_path / 'file' / 'out'}: ")
    assert err[0].endswith("file is a file")


@contextlib.contextmanager
def as_unprivileged_user():
    """Root ignores permission bits, so act as nobody (effective ids only: root can switch back)."""
    if os.geteuid() != 0:
        yield
        return
    import pwd  # POSIX only, like the situation it handles

    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def read_only_dir():
    """A read-only folder in a world-searchable temporary folder (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="sam-edge-test-"))
    base.chmod(0o755)
    folder = base / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(base)


@pytest.mark.parametrize("inside", [False, True], ids=["existing", "new_inside"])
def test_out_not_writable(read_only_dir, inside, capsys):
    target = read_only_dir / "out" if inside else read_only_dir
    with as_unprivileged_user():
        with pytest.raises(PermissionError):
            (read_only_dir / "probe").touch()  # the setup really forbids writing
        code, out, err = run_cli(capsys, "--random", "vit_t", "--out", target)
    where = f" (cannot create it in {read_only_dir})" if inside else ""
    expected = f"output directory {target} is not writable{where}; expected a writable directory"
    assert_one_line_error(code, out, err, expected)
    assert snapshot(read_only_dir) == []


def test_missing_torch_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    code, out, err = run_cli(capsys, "--random", "vit_t", "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, "export needs PyTorch: pip install 'sam-edge[export]'")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--random", "vit_t", "--model-type", "vit_b"], "--model-type applies to --checkpoint; --random already"),
        (["--checkpoint", "x.pth", "--seed", "3"], "--seed applies to --random; a checkpoint brings its own weights"),
    ],
)
def test_options_of_the_other_source_are_refused(args, fragment, tmp_path, capsys):
    code, out, err = run_cli(capsys, *args, "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, fragment)


def test_checkpoint_and_random_are_exclusive(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["export", "--checkpoint", "x.pth", "--random", "vit_t", "--out", "o"])
    assert caught.value.code == 2
    assert "argument --random: not allowed with argument --checkpoint" in capsys.readouterr().err


def test_interrupted_export_leaves_nothing(golden_checkpoint, tmp_path, capsys, monkeypatch):
    def interrupt(path, feeds):
        raise KeyboardInterrupt  # Ctrl-C while the first graph is being validated

    checkpoint = golden_checkpoint("vit_small")
    monkeypatch.setattr(onnx_export, "run_onnxruntime", interrupt)
    code, out, err = run_cli(capsys, "--checkpoint", checkpoint, "--out", tmp_path / "new" / "out")
    assert code == 130 and out == ""
    assert err[-1] == "sam-edge export: interrupted"
    assert snapshot(tmp_path) == []  # the folders export created are gone, as is everything in them


def test_failed_validation_of_a_later_graph_leaves_no_subset(golden_checkpoint, tmp_path, capsys, monkeypatch):
    real_compare = onnx_export.compare_outputs

    def reject_decoder(actual, expected):
        diffs = real_compare(actual, expected)
        return {**diffs, "low_res_masks": float("inf")} if "low_res_masks" in diffs else diffs

    checkpoint = golden_checkpoint("vit_small")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("pre-existing")
    monkeypatch.setattr(onnx_export, "compare_outputs", reject_decoder)
    code, stdout, err = run_cli(capsys, "--checkpoint", checkpoint, "--out", out)
    assert code == 2 and stdout == ""
    assert "vit_custom_64x2.encoder.fp32.onnx: max abs diff" in "\n".join(err)  # the encoder had passed
    assert err[-1].startswith(f"{ERROR_PREFIX}export rejected, nothing written: vit_custom_64x2.decoder.fp32.onnx")
    assert "low_res_masks inf (tol 1e-04)" in err[-1]
    assert snapshot(out) == ["keep.txt"]  # neither the validated encoder nor any temporary folder


def test_subprocess_exit_code_and_single_stderr_line(tmp_path):
    checkpoint = write_truncated(tmp_path / "sam_vit_b_01ec64.pth")
    result = subprocess.run(
        [sys.executable, "-m", "sam_edge", "export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{ERROR_PREFIX}checkpoint {checkpoint} cannot be read, truncated or not a PyTorch file "
        "(PytorchStreamReader failed reading zip archive: failed finding central directory); "
        "expected a torch.save'd state dict such as sam_vit_b_01ec64.pth"
    ]
    assert snapshot(tmp_path) == ["sam_vit_b_01ec64.pth"]


@pytest.mark.slow
def test_random_vit_b_exports_end_to_end(tmp_path, capsys):
    args = ["--random", "vit_b", "--out", tmp_path, "--format", "both", "--official-decoder"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    # both decoder layouts by default, and with both formats the engine record of this machine
    parts = ["encoder", "decoder", "decoder_image", "decoder_prompt", "decoder_official"]
    expected = [f"vit_b.{part}.fp32.{ext}" for part in parts for ext in ("onnx", "xml", "bin")]
    assert snapshot(tmp_path) == sorted(expected + ["vit_b.backends.json"])
    assert stdout.startswith("wrote 15 files (")
    for part in parts:
        metadata = read_graph_metadata(tmp_path / f"vit_b.{part}.fp32.onnx")
        assert (metadata.model_type, metadata.model_id, metadata.part) == ("vit_b", "vit_b-random-seed0", part)
