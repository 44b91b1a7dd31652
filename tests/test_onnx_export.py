"""ONNX and OpenVINO export of the small ViT config: files, metadata, opset, dynamic prompt batches, parity.

One export (both formats, with the official-interface decoder) serves the whole file to keep CI short.
The TinyViT encoder's ONNX parity is covered by test_tiny_vit.py; it goes through the same EncoderGraph.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("openvino")

from golden_data import golden_spec  # noqa: E402

from sam_edge.export.api import export_model, load_model  # noqa: E402
from sam_edge.export.graphs import RECIPES, OfficialDecoderGraph  # noqa: E402
from sam_edge.export.specs import ModelSpec  # noqa: E402
from sam_edge.runtime.backends import open_backend  # noqa: E402
from sam_edge.runtime.interface import INTERFACES  # noqa: E402
from sam_edge.runtime.metadata import METADATA_KEY, GraphMetadata  # noqa: E402

PARTS = ("encoder", "decoder", "decoder_image", "decoder_prompt", "decoder_official")
ATOL = 1e-4
DECODER_OUTPUTS = ["iou_predictions", "low_res_masks"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, output folder, reports, progress lines) of one vit_small export with seed 0."""
    model = load_model(model_type=golden_spec("vit_small"), random_seed=0)
    out = tmp_path_factory.mktemp("export")
    progress: list[str] = []
    reports = export_model(model, out, "both", official_decoder=True, progress=progress.append)
    return model, out, reports, progress


def graph_path(exported, part: str, extension: str = "onnx"):
    return exported[1] / f"vit_small.{part}.fp32.{extension}"


def prompt_feeds(batch: int, num_points: int, mask_batch: int, seed: int) -> dict[str, np.ndarray]:
    """Decoder feeds in the input frame: fg/bg points, one box per prompt, padding, a mask on the first."""
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 1024, size=(batch, num_points, 2)).astype(np.float32)
    labels = rng.choice([0.0, 1.0], size=(batch, num_points)).astype(np.float32)
    if num_points >= 4:
        labels[:, -3:-1] = (2.0, 3.0)  # a box
        labels[:, -1] = -1.0  # padding point
    return {
        "image_embeddings": rng.standard_normal((1, 256, 64, 64)).astype(np.float32),
        "point_coords": coords,
        "point_labels": labels,
        "mask_input": rng.standard_normal((mask_batch, 1, 256, 256)).astype(np.float32),
        "has_mask_input": (np.arange(mask_batch) == 0).astype(np.float32),
    }


def torch_decode(model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Sam.decode on the same feeds, as [iou_predictions, low_res_masks]."""
    names = INTERFACES["decoder"].input_names
    with torch.no_grad():
        low_res, iou = model.sam.decode(*(torch.from_numpy(feeds[name]) for name in names))
    return [iou.numpy(), low_res.numpy()]


def max_diffs(actual: list[np.ndarray], expected: list[np.ndarray]) -> list[float]:
    assert [a.shape for a in actual] == [e.shape for e in expected]
    return [float(np.abs(a - e).max()) for a, e in zip(actual, expected)]


def test_writes_every_graph_and_nothing_else(exported):
    _, out, reports, progress = exported
    expected = [f"vit_small.{part}.fp32.{ext}" for part in PARTS for ext in ("onnx", "xml", "bin")]
    expected.append("vit_small.backends.json")  # both formats: which engine is faster per part
    assert sorted(path.name for path in out.iterdir()) == sorted(expected)  # no hidden staging folder either
    graphs = [f"vit_small.{part}.fp32.{ext}" for part in PARTS for ext in ("onnx", "xml")]
    assert [report.path.name for report in reports] == graphs
    assert all(report.path.parent == out for report in reports)
    assert progress[0] == "[1/5] encoder"
    assert "  validating vit_small.decoder.fp32.onnx in onnxruntime" in progress
    assert "  validating vit_small.decoder_official.fp32.xml in OpenVINO" in progress


def test_every_report_is_within_tolerance(exported):
    for report in exported[2]:
        part = report.path.name.split(".")[1]
        assert report.atol == RECIPES[part].tolerances()
        assert report.passed and set(report.max_abs_diff) == set(INTERFACES[part].output_names)
        assert all(0 <= diff <= report.atol[name] for name, diff in report.max_abs_diff.items()), report.summary()


@pytest.mark.parametrize("part", PARTS)
def test_metadata_is_stamped_in_both_formats(exported, part):
    import openvino as ov

    onnx_path = graph_path(exported, part)
    props = {entry.key: entry.value for entry in onnx.load(str(onnx_path)).metadata_props}
    metadata = GraphMetadata.from_json(props[METADATA_KEY], str(onnx_path))
    assert (metadata.model_type, metadata.model_id, metadata.part) == ("vit_small", "vit_small-random-seed0", part)
    assert (metadata.image_size, metadata.embedding_shape, metadata.opset) == (1024, (1, 256, 64, 64), 17)
    assert (metadata.precision, metadata.recipe, metadata.normalization_in_graph) == ("fp32", "none", False)
    assert metadata.pixel_mean == (123.675, 116.28, 103.53) and metadata.pixel_std == (58.395, 57.12, 57.375)
    assert metadata.checkpoint_sha256 == "" and metadata.exporter.startswith("sam-edge 0.1.0 / torch ")
    assert ModelSpec.from_dict(metadata.spec) == golden_spec("vit_small")
    xml_model = ov.Core().read_model(str(graph_path(exported, part, "xml")))
    assert GraphMetadata.from_json(xml_model.get_rt_info(METADATA_KEY).astype(str), "xml") == metadata


@pytest.mark.parametrize("part", PARTS)
def test_openvino_weights_are_no_bigger_than_onnx(exported, part):
    # Folding the decoder's positional-encoding grid into a constant would add 256*64*64 floats (4 MB).
    onnx_bytes = graph_path(exported, part).stat().st_size
    ir_bytes = graph_path(exported, part, "bin").stat().st_size
    assert ir_bytes <= onnx_bytes, (part, ir_bytes, onnx_bytes)


@pytest.mark.parametrize("part", PARTS)
def test_opset_and_declared_interface(exported, part):
    graph = onnx.load(str(graph_path(exported, part)), load_external_data=False)
    opset = {entry.domain: entry.version for entry in graph.opset_import}
    assert opset.get("", opset.get("ai.onnx")) >= 17
    interface = INTERFACES[part]
    session = open_backend(graph_path(exported, part)).session
    assert [(i.name, tuple(i.shape)) for i in session.get_inputs()] == [(t.name, t.shape) for t in interface.inputs]
    assert [o.name for o in session.get_outputs()] == interface.output_names


def test_encoder_matches_pytorch_on_a_new_image(exported):
    model = exported[0]
    image = np.random.default_rng(11).standard_normal((1, 3, 1024, 1024)).astype(np.float32)
    (onnx_embeddings,) = open_backend(graph_path(exported, "encoder")).run(["image_embeddings"], {"image": image})
    with torch.no_grad():
        expected = model.sam.encode_image(torch.from_numpy(image)).numpy()
    assert max_diffs([onnx_embeddings], [expected])[0] < ATOL


@pytest.mark.parametrize(
    "batch, num_points, mask_batch", [(1, 2, 1), (3, 5, 3), (3, 5, 1)], ids=["B1_N2", "B3_N5", "B3_N5_mask1"]
)
def test_decoder_dynamic_batch_matches_pytorch(exported, batch, num_points, mask_batch):
    feeds = prompt_feeds(batch, num_points, mask_batch, seed=batch * 10 + num_points + mask_batch)
    actual = open_backend(graph_path(exported, "decoder")).run(DECODER_OUTPUTS, feeds)
    assert actual[1].shape == (batch, 4, 256, 256)
    assert max(max_diffs(actual, torch_decode(exported[0], feeds))) < ATOL


def test_boxes_in_one_call_equal_one_call_each(exported):
    decoder = open_backend(graph_path(exported, "decoder"))
    feeds = prompt_feeds(3, 2, 1, seed=5)
    corners = np.sort(feeds["point_coords"], axis=1)  # top-left, bottom-right
    feeds.update(
        point_coords=corners,
        point_labels=np.tile(np.float32([2.0, 3.0]), (3, 1)),
        has_mask_input=np.zeros(1, np.float32),
    )
    batched = decoder.run(DECODER_OUTPUTS, feeds)
    for index in range(3):
        single = {**feeds, "point_coords": corners[index : index + 1], "point_labels": feeds["point_labels"][:1]}
        alone = decoder.run(DECODER_OUTPUTS, single)
        assert max(max_diffs([out[index : index + 1] for out in batched], alone)) < ATOL, index
        assert np.array_equal(batched[1][index] > 0, alone[1][0] > 0)


def test_official_decoder_upsamples_to_orig_im_size(exported):
    feeds = {**prompt_feeds(2, 5, 2, seed=9), "orig_im_size": np.array([480, 640], np.float32)}
    names = INTERFACES["decoder_official"].output_names
    actual = open_backend(graph_path(exported, "decoder_official")).run(names, feeds)
    with torch.no_grad():
        graph = OfficialDecoderGraph(exported[0].sam).eval()
        inputs = [torch.from_numpy(feeds[name]) for name in INTERFACES["decoder_official"].input_names]
        expected = [out.numpy() for out in graph(*inputs)]
    assert actual[0].shape == (2, 4, 480, 640)
    tolerances = RECIPES["decoder_official"].tolerances()
    for name, diff in zip(names, max_diffs(actual, expected)):
        assert diff < tolerances[name], name


@pytest.mark.parametrize("part", PARTS)
def test_openvino_matches_onnxruntime(exported, part):
    if part == "encoder":
        feeds = {"image": np.random.default_rng(3).standard_normal((1, 3, 1024, 1024)).astype(np.float32)}
    else:
        feeds = prompt_feeds(3, 5, 1, seed=4)
        if part == "decoder_official":
            feeds["orig_im_size"] = np.array([300, 400], np.float32)
        if part == "decoder_prompt":
            feeds = split_feeds(exported, feeds)
        feeds = {name: feeds[name] for name in INTERFACES[part].input_names}
    names = INTERFACES[part].output_names
    from_ort = open_backend(graph_path(exported, part)).run(names, feeds)
    from_openvino = open_backend(graph_path(exported, part, "xml")).run(names, feeds)
    assert max(max_diffs(from_openvino, from_ort)) < ATOL


def split_feeds(exported, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The prompt stage's feeds: the image stage's outputs (onnxruntime) for ``feeds`` + its points."""
    image_stage = INTERFACES["decoder_image"]
    stage = open_backend(graph_path(exported, "decoder_image"))
    outputs = stage.run(image_stage.output_names, {name: feeds[name] for name in image_stage.input_names})
    return dict(zip(image_stage.output_names, outputs)) | {
        "point_coords": feeds["point_coords"],
        "point_labels": feeds["point_labels"],
    }


@pytest.mark.parametrize("batch, num_points, mask_batch", [(1, 2, 1), (4, 3, 1), (3, 5, 3)])
def test_split_decoder_graphs_match_the_reference_decoder(exported, batch, num_points, mask_batch):
    # Image stage then prompt stage, both ONNX, against the PyTorch reference decoder (Sam.decode):
    # shared image state (mask_batch 1, no mask) and one state per prompt with mask inputs.
    feeds = prompt_feeds(batch, num_points, mask_batch, seed=batch + num_points)
    if mask_batch == 1:
        feeds["has_mask_input"][:] = 0.0
    names = INTERFACES["decoder_prompt"].output_names
    actual = open_backend(graph_path(exported, "decoder_prompt")).run(names, split_feeds(exported, feeds))
    expected = torch_decode(exported[0], feeds)
    # The bound is 1e-3; the split is exact algebra, so rounding alone keeps it near 1e-5.
    assert max(max_diffs(actual, expected)) < 1e-4


def test_both_formats_record_the_faster_backend_per_part_and_the_runtime_uses_it(exported, tmp_path):
    import json
    import shutil

    from sam_edge.runtime.backend_choice import load_backend_choice
    from sam_edge.runtime.model_dir import find_model_files
    from sam_edge.runtime.predictor import SamPredictor

    _, out, _, progress = exported
    choice = load_backend_choice(out)
    assert set(choice.encoder_ms) == set(choice.decoder_ms) == {"onnxruntime", "openvino"}
    assert all(ms > 0 for ms in [*choice.encoder_ms.values(), *choice.decoder_ms.values()])
    assert any(line.startswith("  encoder: onnxruntime") for line in progress)
    # Pin a split choice and check that the runtime follows it per part, unless a backend is named.
    model_dir = tmp_path / "model"
    shutil.copytree(out, model_dir)
    record = json.loads((model_dir / "vit_small.backends.json").read_text())
    (measured,) = record["measurements"]  # this CPU's, at the export's threads
    measured["encoder_ms"] = {"onnxruntime": 9.0, "openvino": 5.0}
    measured["decoder_ms"] = {"onnxruntime": 1.0, "openvino": 2.0}
    (model_dir / "vit_small.backends.json").write_text(json.dumps(record))
    files = find_model_files(model_dir)
    assert (files.encoder.suffix, files.encoder_backend, files.decoder_backend) == (".xml", "openvino", "onnxruntime")
    assert files.decoder_prompt.suffix == ".onnx"
    predictor = SamPredictor(model_dir, threads=1)
    assert (predictor.encoder.name, predictor.decoder.engine) == ("openvino", "onnxruntime")
    assert find_model_files(model_dir, backend="onnxruntime").encoder.suffix == ".onnx"
    (model_dir / "vit_small.backends.json").write_text("{not json")
    assert find_model_files(model_dir).encoder.suffix == ".onnx"  # unreadable record: default order
