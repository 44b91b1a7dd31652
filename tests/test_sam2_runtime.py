"""SAM 2 from export to predict: the runtime (numpy + onnxruntime / OpenVINO) against TorchSam2Predictor.

A golden config (seeded random official-format weights, the hypernetwork heads scaled so that single
masks both keep token 0 and fall back; tests/golden/make_sam2_golden.py) is exported once per module
through ``export_model``, then run by ``SamPredictor`` on the golden non-square 240 x 320 image with the
golden prompts: sam2.1_small in CI, the official sam2.1_hiera_t under ``-m slow``. Tolerances, runtime
vs our PyTorch on the same weights and vs the official outputs recorded in the golden file: scores
1e-4, logits (full-res and low-res) 2e-4 (measured <= 6e-5), masks identical except pixels whose logit
is within mask_policy.LOGIT_BAND (1e-3) of 0.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli
from mask_policy import assert_masks_agree
from sam2_golden_data import (
    load_sam2_golden,
    make_large_image,
    sam2_golden_spec,
    unpack_masks,
    write_sam2_golden_checkpoint,
)

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from sam_edge.runtime.embedding import ImageEmbedding  # noqa: E402
from sam_edge.runtime.errors import InvalidInputError, ModelMismatchError  # noqa: E402
from sam_edge.runtime.predictor import SamPredictor  # noqa: E402

SCORE_ATOL = 1e-4
LOGIT_ATOL = 2e-4
BACKENDS = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
# "<engine>/<decoder layout>": the split decoder (the default where exported) and the one-graph decoder
PATHS = [f"{backend}/{layout}" for backend in BACKENDS for layout in ("split", "full")]
CASES = ["one_point_multi", "points_stable", "points_fallback", "box", "box_points", "mask_input"]


@dataclass(frozen=True)
class Exported:
    config: str
    model_dir: Path
    reports: list  # export_model's ValidationReports
    model: object  # export.api.LoadedModel holding the Sam2
    reference: object  # TorchSam2Predictor on the same weights, image0 set
    golden: dict

    def tokens(self, case: str) -> list[int]:
        """The decoder tokens behind the case's masks in the official run (1..3 for multimask output)."""
        key = f"image0/{case}/tokens"
        return self.golden[key].tolist() if key in self.golden else [1, 2, 3]


@pytest.fixture(scope="module", params=["sam2.1_small", pytest.param("sam2.1_hiera_t", marks=pytest.mark.slow)])
def exported(request, tmp_path_factory) -> Exported:
    """A golden config exported (ONNX, and OpenVINO where installed) and its PyTorch reference."""
    from sam_edge.export.api import export_model, load_model
    from sam_edge.export.sam2_predictor import TorchSam2Predictor

    config, work = request.param, tmp_path_factory.mktemp("sam2_runtime")
    model = load_model(write_sam2_golden_checkpoint(config, work / f"{config}.pt"), sam2_golden_spec(config))
    fmt = "both" if "openvino" in BACKENDS else "onnx"
    reports = export_model(model, work / "model", fmt=fmt, progress=lambda message: None, time_backends=False)
    golden = load_sam2_golden(config)
    reference = TorchSam2Predictor(model.sam)
    reference.set_image(golden["image0/image"])
    return Exported(config, work / "model", reports, model, reference, golden)


@pytest.fixture(scope="module")
def predictors(exported):
    """ "<engine>/<layout>" (PATHS) -> a SamPredictor on the exported model with image0 set; the bare
    engine name is its default layout, the split decoder."""
    opened = {}
    for path in PATHS:
        backend, layout = path.split("/")
        opened[path] = SamPredictor(exported.model_dir, backend=backend, threads=2, split_decoder=layout == "split")
        opened[path].set_image(exported.golden["image0/image"])
    for backend in BACKENDS:
        opened[backend] = SamPredictor(exported.model_dir, backend=backend, threads=2)
        opened[backend].set_image(exported.golden["image0/image"])
        assert opened[backend].decoder.layout == "split"
    return opened


@pytest.fixture(scope="module")
def expected(exported):
    """Golden case (and "boxes_batch") -> the reference's (logits, scores, low-res logits, tokens) as numpy,
    batched [B, C, ...]; computed once for every backend."""
    results = {}
    for case in [*CASES, "boxes_batch"]:
        prompt = case_prompt(exported.golden, case)
        boxes = prompt.pop("box", None)
        result = exported.reference.decode(boxes=None if boxes is None else boxes.reshape(-1, 4), **prompt)
        results[case] = tuple(t.numpy() for t in (result.logits, result.scores, result.low_res, result.tokens))
    return results


def case_prompt(golden: dict, case: str) -> dict:
    """predict() keyword arguments of a golden case on image0."""
    key = f"image0/{case}"
    prompt = {"multimask_output": bool(golden[f"{key}/multimask"])}
    if f"{key}/coords" in golden:
        prompt |= {"point_coords": golden[f"{key}/coords"], "point_labels": golden[f"{key}/labels"]}
    if f"{key}/box" in golden:
        prompt["box"] = golden[f"{key}/box"]
    if case == "mask_input":
        prompt["mask_input"] = golden["image0/mask_input"].astype(np.float32)
    return prompt


def assert_same_prediction(ours_logits, ours_masks, ours, reference, what: str) -> None:
    """``ours`` (a Prediction) against the reference's (logits, scores, low-res logits) of the same prompt."""
    ref_logits, ref_scores, ref_low_res = reference
    np.testing.assert_allclose(ours.scores, ref_scores, atol=SCORE_ATOL, rtol=0, err_msg=what)
    np.testing.assert_allclose(ours.low_res_logits, ref_low_res, atol=LOGIT_ATOL, rtol=0, err_msg=what)
    np.testing.assert_allclose(ours_logits, ref_logits, atol=LOGIT_ATOL, rtol=0, err_msg=what)
    assert ours_masks.dtype == np.bool_
    assert_masks_agree(ours_masks, ref_logits > 0, ref_logits, what)


def assert_matches_official(exported: Exported, case: str, ours, ours_logits, ref_logits) -> None:
    """Against the official SAM2ImagePredictor's outputs in the golden file (strided logits, packed masks)."""
    key, stride = f"image0/{case}", int(exported.golden["logit_stride"])
    np.testing.assert_allclose(ours.scores, exported.golden[f"{key}/scores"], atol=SCORE_ATOL, rtol=0, err_msg=key)
    strided = (..., slice(None, None, stride), slice(None, None, stride))
    official_low_res, official_logits = (
        exported.golden[f"{key}/low_res_strided"],
        exported.golden[f"{key}/logits_strided"],
    )
    np.testing.assert_allclose(ours.low_res_logits[strided], official_low_res, atol=LOGIT_ATOL, rtol=0, err_msg=key)
    np.testing.assert_allclose(ours_logits[strided], official_logits, atol=LOGIT_ATOL, rtol=0, err_msg=key)
    assert_masks_agree(ours.masks, unpack_masks(exported.golden, key), ref_logits, key)


def test_export_writes_validated_graphs_with_sam2_metadata(exported):
    from sam_edge.runtime.backends import read_graph_metadata

    suffixes = [".onnx", ".xml"] if "openvino" in BACKENDS else [".onnx"]
    parts = ("sam2_encoder", "sam2_decoder", "sam2_decoder_image", "sam2_decoder_prompt")
    graphs = sorted(f"{exported.config}.{part}.fp32{suffix}" for part in parts for suffix in suffixes)
    assert sorted(p.name for p in exported.model_dir.iterdir() if p.suffix in (".onnx", ".xml")) == graphs
    outputs = {"sam2_encoder": {"image_embed", "high_res_feats_0", "high_res_feats_1"}}
    outputs["sam2_decoder"] = outputs["sam2_decoder_prompt"] = {
        "iou_predictions",
        "low_res_masks",
        "object_score_logits",
    }
    outputs["sam2_decoder_image"] = {"image_tokens", "image_pe", "attn_keys", "attn_values", "attn_queries"}
    outputs["sam2_decoder_image"] |= {"high_res_skip_0", "high_res_skip_1"}
    # the prompt stage is checked against the whole decoder, as SAM's: its reordered products
    tolerances = {"sam2_encoder": 1e-3, "sam2_decoder_prompt": 1e-3}
    for report in exported.reports:
        part = report.path.name.split(".")[-3]
        assert set(report.max_abs_diff) == outputs[part] and report.passed
        assert max(report.max_abs_diff.values()) <= tolerances.get(part, 1e-4)
        meta = read_graph_metadata(report.path)
        assert (meta.part, meta.model_type, meta.image_size) == (part, exported.config, 1024)
        extra = meta.extra
        postprocess = (extra["family"], extra["resize"], extra["mask_postprocess"], extra["low_res_clamp"])
        assert postprocess == ("sam2", "squash", "direct", 32.0)
        assert extra["single_mask"] == {"dynamic": True, "stability_delta": 0.05, "stability_thresh": 0.98}


def test_the_cases_keep_token_0_and_fall_back(exported, expected):
    """Guards against a trivial pass: single masks that keep token 0 and single masks that fall back."""
    chosen = [token for case in CASES[1:] + ["boxes_batch"] for token in expected[case][3].ravel().tolist()]
    assert 0 in chosen and any(token > 0 for token in chosen)
    for case in CASES:
        assert expected[case][3][0].tolist() == exported.tokens(case), case  # the official choice


@pytest.mark.parametrize("backend", BACKENDS)
def test_features_match_the_reference(predictors, exported, backend):
    embedding = predictors[backend].image_embedding
    assert embedding.input_size == (1024, 1024) and embedding.original_size == (240, 320)
    for ours, reference in zip((embedding.embeddings, *embedding.high_res_features), exported.reference.features):
        np.testing.assert_allclose(ours, reference.numpy(), atol=1e-3, rtol=0)


@pytest.mark.parametrize("backend", PATHS)
@pytest.mark.parametrize("case", CASES)
def test_predict_matches_the_reference_and_the_official(predictors, exported, expected, backend, case):
    prompt = case_prompt(exported.golden, case)
    logits, scores, low_res, _ = (value[0] for value in expected[case])
    predictor = predictors[backend]
    ours_logits = predictor.predict(**prompt, return_logits=True).masks
    ours = predictor.predict(**prompt)
    channels = 3 if prompt["multimask_output"] else 1
    assert ours.masks.shape == (channels, 240, 320) and ours.low_res_logits.shape == (channels, 256, 256)
    assert_same_prediction(ours_logits, ours.masks, ours, (logits, scores, low_res), case)
    assert_matches_official(exported, case, ours, ours_logits, logits)


@pytest.mark.parametrize("backend", PATHS)
def test_several_boxes_at_once_match_the_reference(predictors, exported, expected, backend):
    """Three boxes in one decoder call, of which some keep token 0 and some fall back (sam2.1_small: 1, 0, 0)."""
    boxes = exported.golden["image0/boxes_batch/box"]
    logits, scores, low_res, tokens = expected["boxes_batch"]
    assert tokens.ravel().tolist() == exported.golden["image0/boxes_batch/tokens"].tolist()
    ours_logits = predictors[backend].predict_batch(boxes=boxes, multimask_output=False, return_logits=True).masks
    ours = predictors[backend].predict_batch(boxes=boxes, multimask_output=False)
    assert ours.masks.shape == (3, 1, 240, 320)
    assert_same_prediction(ours_logits, ours.masks, ours, (logits, scores, low_res), "boxes_batch")
    assert_matches_official(exported, "boxes_batch", ours, ours_logits, logits)


def test_low_res_logits_returned_clamped_masks_from_unclamped(predictors, exported):
    predictor = predictors["onnxruntime"]
    prompt = case_prompt(exported.golden, "one_point_multi")
    prediction = predictor.predict(**prompt, return_logits=True)
    scores, unclamped = predictor.decode_low_res(
        prompt["point_coords"], prompt["point_labels"], batched=False, multimask_output=True
    )
    assert np.abs(prediction.low_res_logits).max() == 32.0 and np.abs(unclamped).max() > 32.0
    np.testing.assert_array_equal(prediction.low_res_logits, np.clip(unclamped[0], -32, 32))
    np.testing.assert_array_equal(prediction.masks, predictor.mask_upscaler().logits(unclamped[0]))
    np.testing.assert_array_equal(prediction.scores, scores[0])


def test_embedding_round_trip_keeps_the_high_res_features(predictors, exported, tmp_path):
    predictor = predictors["onnxruntime"]
    path = predictor.image_embedding.save(tmp_path / "image0.npz")
    loaded = ImageEmbedding.load(path)
    for ours, saved in zip(loaded.high_res_features, predictor.image_embedding.high_res_features):
        np.testing.assert_array_equal(ours, saved)
    decoder_only = SamPredictor(exported.model_dir, with_encoder=False, backend="onnxruntime", threads=2)
    decoder_only.set_image_embedding(loaded)
    prompt = case_prompt(exported.golden, "points_fallback")
    for mine, theirs in zip(decoder_only.predict(**prompt), predictor.predict(**prompt)):
        np.testing.assert_array_equal(mine, theirs)


def test_a_sam_embedding_is_refused_in_one_line_and_its_file_is_unchanged(predictors, tmp_path):
    sam_embedding = ImageEmbedding(
        np.zeros((1, 256, 64, 64), np.float32), (240, 320), (768, 1024), "vit_small-0123456789ab", "vit_small"
    )
    path = sam_embedding.save(tmp_path / "sam.npz")
    with np.load(path) as data:
        assert data.files == ["embeddings", "original_size", "input_size", "model_id", "model_type", "format_version"]
    assert ImageEmbedding.load(path).high_res_features is None
    with pytest.raises(ModelMismatchError) as caught:
        predictors["onnxruntime"].set_image_embedding(ImageEmbedding.load(path))
    model_id = predictors["onnxruntime"].metadata.model_id
    assert str(caught.value) == (
        "the embedding holds no high-res features, so a SAM model made it (vit_small-0123456789ab), and "
        f"{model_id} is a SAM 2 model; set the image with this model (set_image)"
    )


def test_a_hand_made_embedding_with_wrong_features_is_refused(predictors):
    good = predictors["onnxruntime"].image_embedding
    bad = ImageEmbedding(
        good.embeddings, good.original_size, good.input_size, good.model_id, good.model_type,
        (good.high_res_features[0], np.zeros((1, 64, 64, 64), np.float32)),
    )  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"^high_res_feats_1 must be float32 \[1, 64, 128, 128\] for "):
        predictors["onnxruntime"].set_image_embedding(bad)


def test_preprocessing_matches_the_reference():
    """Pillow's float resize accumulates in float64, torch's in float32: within 2e-6 after normalizing."""
    from sam_edge.export.sam2_predictor import preprocess_sam2
    from sam_edge.runtime.sam2_transforms import squash_and_normalize
    from sam_edge.runtime.transforms import PIXEL_MEAN, PIXEL_STD

    golden = load_sam2_golden("sam2.1_small")
    square = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    for image in (golden["image0/image"], golden["image1/image"], make_large_image(), square):
        ours = squash_and_normalize(image, 1024, PIXEL_MEAN, PIXEL_STD)
        np.testing.assert_allclose(ours, preprocess_sam2(image).numpy(), atol=2e-6, rtol=0, err_msg=str(image.shape))
    np.testing.assert_array_equal(squash_and_normalize(square, 1024, PIXEL_MEAN, PIXEL_STD), preprocess_sam2(square))


def test_prompt_feeds_equal_the_reference_bit_for_bit(exported):
    """Box corners first, then the clicks, then the padding point on every prompt; squashed coordinates."""
    from sam_edge.runtime.sam2_prompts import build_sam2_feeds

    reference = exported.reference
    points, labels = np.array([[[33.3, 201.7], [300.1, 17.9]]]), np.array([[1, 0]])
    boxes = np.array([[10.5, 20.25, 200.0, 180.0], [0.0, 0.0, 320.0, 240.0]])
    ours = build_sam2_feeds((240, 320), 1024, points, labels, boxes, None, batched=True)
    expected = reference.prompt_feeds(points, labels, boxes, None)
    np.testing.assert_array_equal(ours.point_coords, expected[0].numpy())
    np.testing.assert_array_equal(ours.point_labels, expected[1].numpy())
    assert ours.point_labels[0].tolist() == [2, 3, 1, 0, -1]


def test_single_mask_choice_equals_the_reference():
    from sam_edge.export.modeling.sam2_mask_decoder import select_masks
    from sam_edge.export.sam2_specs import Sam2DecoderSpec
    from sam_edge.runtime.sam2_decoder import SingleMaskChoice

    rng = np.random.default_rng(3)
    low_res = rng.normal(0, 3, (4, 4, 256, 256)).astype(np.float32)  # token 0 of prompt 3: stability ~0.97
    low_res[:3, 0] = np.abs(low_res[:3, 0]) + 0.1  # every pixel above delta: stability 1
    low_res[0, 0] = -1.0  # nothing above -delta either: stability 1 (0 / 0), token 0 kept
    low_res[1, 0, :10] = 0.01  # 10 of 256 rows inside the band: stability 0.96, falls back
    scores = rng.uniform(size=(4, 4)).astype(np.float32)
    scores[1, 1:] = [0.5, 0.7, 0.7]  # equal best scores: the first of them, as torch.argmax
    _, _, expected = select_masks(torch.from_numpy(low_res), torch.from_numpy(scores), False, Sam2DecoderSpec())
    tokens = SingleMaskChoice(True, 0.05, 0.98).tokens(scores, low_res)
    assert tokens.tolist() == expected.ravel().tolist() and tokens[:3].tolist() == [0, 2, 0]


def test_segment_everything_gives_the_predictors_masks(predictors, exported):
    """SamAutomaticMaskGenerator runs unchanged on a SAM 2 predictor: each record is a mask of its point."""
    from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator

    predictor = predictors["onnxruntime"]
    generator = SamAutomaticMaskGenerator(predictor, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    image = exported.golden["image0/image"]
    records = generator.generate(image)
    predictor.set_image(image)  # generate() leaves the predictor without an image; this one is cached
    assert records
    for record in records:
        logits, scores, _ = predictor.predict(np.array(record["point_coords"]), [1], return_logits=True)
        mask = record["segmentation"]
        best = int(np.argmax([(mask & (plane > 0)).sum() / (mask | (plane > 0)).sum() for plane in logits]))
        assert_masks_agree(mask, logits[best] > 0, logits[best], "everything")  # a batch of 4 vs 1: rounding only
        assert record["predicted_iou"] == pytest.approx(float(scores[best]), abs=1e-5)


def test_info_prints_the_family_and_the_official_decoder_is_refused(exported, tmp_path):
    from sam_edge.export.api import export_model

    status, stdout, stderr = run_cli("info", exported.model_dir, "--no-compile")
    assert status == 0, stderr
    family = "  family sam2  resize squash (no padding)  masks direct (256 x 256 -> original size)"
    assert stdout.count(family + "\n") == len(exported.reports)
    with pytest.raises(InvalidInputError) as caught:
        export_model(exported.model, tmp_path / "official", official_decoder=True, progress=lambda message: None)
    assert str(caught.value).startswith("--official-decoder applies to SAM models (SAM's own ONNX interface)")
    assert not (tmp_path / "official").exists()
