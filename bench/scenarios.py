"""Benchmark scenarios as data: what each one times, how many rounds, and what it is compared with.

Every scenario turns a ``BenchContext`` (a predictor with an image set, plus the optional references)
into a zero-argument callable; the runner (``runner.py``) and the pytest-benchmark suite
(``test_latency.py``) time exactly these callables. Prompts are in the ORIGINAL frame of a
synthetic ``ORIGINAL_SIZE`` image, so every ``predict`` returns full-resolution masks.

References measured in the same run (scenario names ``torch:<name>``, ``official_onnx:<name>``):
PyTorch eager over our modeling (``TorchSamPredictor``, same weights) and SAM's own ONNX decoder
interface (``<model>.decoder_official.fp32.onnx`` in onnxruntime, fed with ``orig_im_size``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sam_edge.runtime.prompts import build_decoder_feeds

ORIGINAL_SIZE = (1000, 1500)  # (H, W): masks are upscaled to 1.5 MP, as in the design's profile
QUICK_SIZE = (500, 750)  # --quick proves the machinery works; it does not judge speed
HOVER_PROMPTS = 100  # length of the interactive session's hover path
REFERENCES = ("torch", "official_onnx", "official_package")  # loaded references; the everything scenario adds one more
REFERENCE_LABELS = {
    "torch": "PyTorch eager",
    "official_onnx": "official ONNX decoder",
    "official_package": "official package",  # segment-anything for SAM, sam2 for SAM 2
    "official_logic": "official logic on our graphs",
}  # needs no loading (bench/everything_bench.py)


@dataclass(frozen=True)
class Scenario:
    """One timed operation. ``rounds`` / ``quick_rounds`` are timed calls after ``warmup`` untimed ones."""

    name: str
    what: str
    group: str  # "encoder", "decoder", "session", "end_to_end", "postprocess"
    rounds: int
    quick_rounds: int
    warmup: int = 2
    reference: str | None = None  # None: sam-edge itself; else one of REFERENCES
    compares_with: str | None = None  # for a reference: the sam-edge scenario it is the baseline of

    def rounds_for(self, quick: bool) -> int:
        return self.quick_rounds if quick else self.rounds

    def warmup_for(self, quick: bool) -> int:
        return 1 if quick else self.warmup


@dataclass(frozen=True)
class PromptCase:
    """A prompt for ``predict`` (or ``predict_batch`` when ``batched``), in the original frame."""

    name: str
    what: str
    kwargs: Callable[["BenchContext"], dict]
    batched: bool = False
    quick_rounds: int = 2
    rounds: int = 20
    prompts: int = 1  # prompts per call (predict_batch)
    single: str | None = None  # the one-prompt case a batched call is weighed against (bench/batching.py)


@dataclass
class BenchContext:
    """Everything the scenarios need; references are None when unavailable (see ``skipped``)."""

    predictor: object  # sam_edge.runtime.predictor.SamPredictor with cache_size=0
    image: np.ndarray  # HxWx3 uint8
    torch_predictor: object | None = None
    official_session: object | None = None  # onnxruntime.InferenceSession of decoder_official
    official_package: object | None = None  # official_package.OfficialPackagePredictor
    skipped: dict | None = None  # reference name -> reason
    _mask_input: np.ndarray | None = None

    def mask_input(self) -> np.ndarray:
        """Low-res logits [1, 256, 256] of the best 1-point mask: the refinement prompt's mask input."""
        if self._mask_input is None:
            masks, scores, logits = self.predictor.predict(**_point_1(self))
            self._mask_input = logits[int(np.argmax(scores))][None]
        return self._mask_input


def image_size(quick: bool) -> tuple[int, int]:
    """(H, W) of the benchmark image: ORIGINAL_SIZE, or the smaller QUICK_SIZE in quick mode."""
    return QUICK_SIZE if quick else ORIGINAL_SIZE


def make_image(original_size: tuple[int, int] = ORIGINAL_SIZE, seed: int = 0) -> np.ndarray:
    """A deterministic HxWx3 uint8 test image: smooth gradients, a few flat shapes and light noise."""
    height, width = original_size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 200, y / height * 200, (x + y) / (width + height) * 255], axis=-1)
    for _ in range(6):
        cy, cx, r = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width, rng.uniform(0.05, 0.2) * height
        rgb[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 255, size=3)
    rgb += rng.normal(0, 4, size=rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def hover_path(count: int = HOVER_PROMPTS, original_size: tuple[int, int] = ORIGINAL_SIZE) -> np.ndarray:
    """``count`` (x, y) points along a Lissajous-like path inside the image, as a mouse hovering."""
    height, width = original_size
    t = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    return np.stack([width * (0.5 + 0.4 * np.sin(t)), height * (0.5 + 0.4 * np.sin(2 * t))], axis=-1)


def _center(ctx: BenchContext) -> tuple[float, float]:
    height, width = ctx.image.shape[:2]
    return width / 2.0, height / 2.0


def _point_1(ctx: BenchContext) -> dict:
    x, y = _center(ctx)
    return {"point_coords": np.array([[x, y]]), "point_labels": np.array([1])}


def _box(ctx: BenchContext, scale: float = 0.3) -> np.ndarray:
    x, y = _center(ctx)
    return np.array([x * (1 - scale), y * (1 - scale), x * (1 + scale), y * (1 + scale)])


def _points_5(ctx: BenchContext) -> dict:
    x, y = _center(ctx)
    coords = np.array([[x, y], [x * 0.8, y], [x * 1.2, y], [x, y * 0.5], [x, y * 1.6]])
    return {"point_coords": coords, "point_labels": np.array([1, 1, 1, 0, 0])}


def _points_64(ctx: BenchContext) -> dict:
    """64 single-point prompts on an 8 x 8 grid over the image: [64, 1, 2] coordinates, [64, 1] labels."""
    height, width = ctx.image.shape[:2]
    grid = (np.arange(8) + 0.5) / 8
    xs, ys = np.meshgrid(grid * width, grid * height)
    return {"point_coords": np.stack([xs, ys], -1).reshape(64, 1, 2), "point_labels": np.ones((64, 1))}


def _boxes_16(ctx: BenchContext) -> dict:
    height, width = ctx.image.shape[:2]
    corners = np.stack(np.meshgrid(np.arange(4), np.arange(4)), axis=-1).reshape(16, 2)
    x0, y0 = corners[:, 0] * width / 4.0, corners[:, 1] * height / 4.0
    return {"boxes": np.stack([x0, y0, x0 + width / 4.0 - 1, y0 + height / 4.0 - 1], axis=-1)}


PROMPT_CASES = (
    PromptCase("predict_1_point", "predict, 1 foreground point, 3 masks", _point_1),
    PromptCase("predict_1_box", "predict, 1 box, 3 masks", lambda ctx: {"box": _box(ctx)}),
    PromptCase("predict_5_points", "predict, 3 fg + 2 bg points, 3 masks", _points_5),
    PromptCase("predict_box_point", "predict, box + 1 point, 3 masks", lambda ctx: {"box": _box(ctx), **_point_1(ctx)}),
    PromptCase(
        "predict_mask_input",
        "predict, 1 point + previous low-res logits, 1 mask",
        lambda ctx: {**_point_1(ctx), "mask_input": ctx.mask_input(), "multimask_output": False},
    ),
    PromptCase(
        "predict_16_boxes",
        "predict_batch, 16 boxes in one decoder call, 3 masks each",
        _boxes_16,
        batched=True,
        quick_rounds=1,
        prompts=16,
        single="predict_1_box",
    ),
    PromptCase(
        "predict_64_points",
        "predict_batch, 64 single-point prompts in one decoder call, 3 masks each",
        _points_64,
        batched=True,
        quick_rounds=1,
        rounds=7,
        prompts=64,
        single="predict_1_point",
    ),
)
GATED_SCENARIO = "predict_1_point"  # its p95 is the real-time gate (--target-ms)
ENCODER_SCENARIO = "encoder"


def _prompt_call(case: PromptCase, ctx: BenchContext) -> Callable[[], object]:
    kwargs = case.kwargs(ctx)
    method = ctx.predictor.predict_batch if case.batched else ctx.predictor.predict
    return lambda: method(**kwargs)


def _torch_call(case: PromptCase, ctx: BenchContext) -> Callable[[], object]:
    kwargs = case.kwargs(ctx)
    method = ctx.torch_predictor.predict_batch if case.batched else ctx.torch_predictor.predict
    return lambda: method(**kwargs)


def _official_package_call(case: PromptCase, ctx: BenchContext) -> Callable[[], object]:
    kwargs = case.kwargs(ctx)
    method = ctx.official_package.predict_batch if case.batched else ctx.official_package.predict
    return lambda: method(**kwargs)


def official_feeds(case: PromptCase, ctx: BenchContext) -> dict[str, np.ndarray]:
    """The feeds SAM's ONNX example builds: input-frame points, padding point, mask zeros, orig_im_size."""
    kwargs = dict(case.kwargs(ctx))
    kwargs.pop("multimask_output", None)
    boxes = kwargs.pop("boxes", kwargs.pop("box", None))
    embedding = ctx.predictor.image_embedding
    feeds = build_decoder_feeds(
        embedding.original_size,
        embedding.input_size,
        kwargs.get("point_coords"),
        kwargs.get("point_labels"),
        boxes,
        kwargs.get("mask_input"),
        case.batched,
    )
    return {**feeds.as_dict(embedding.embeddings), "orig_im_size": np.array(embedding.original_size, dtype=np.float32)}


def _official_call(case: PromptCase, ctx: BenchContext) -> Callable[[], object]:
    feeds = official_feeds(case, ctx)
    session = ctx.official_session

    def call():
        masks, scores, low_res = session.run(["masks", "iou_predictions", "low_res_masks"], feeds)
        return masks > 0.0, scores, low_res  # SAM's example thresholds at mask_threshold 0.0

    return call


def _postprocess_call(ctx: BenchContext) -> Callable[[], object]:
    """What predict does after the decoder: upscale the 3 low-res masks to full size and threshold."""
    upscaler = ctx.predictor.mask_upscaler()
    low_res = np.ascontiguousarray(ctx.predictor.predict(**_point_1(ctx)).low_res_logits[None])

    def call():
        return upscaler.masks(low_res)

    return call


def _session_call(ctx: BenchContext) -> Callable[[], object]:
    """One hover prompt per call, walking the path (the runner times HOVER_PROMPTS of them)."""
    path, labels = hover_path(HOVER_PROMPTS, ctx.image.shape[:2]), np.array([1])
    state = {"index": 0}

    def call():
        point = path[state["index"] % len(path)][None]
        state["index"] += 1
        return ctx.predictor.predict(point_coords=point, point_labels=labels)

    return call


def _first_mask_call(ctx: BenchContext) -> Callable[[], object]:
    """set_image (encoder runs: the predictor caches nothing) and predict one point."""
    kwargs = _point_1(ctx)

    def call():
        ctx.predictor.set_image(ctx.image)
        return ctx.predictor.predict(**kwargs)

    return call


def _encoder_call(ctx: BenchContext) -> Callable[[], object]:
    return lambda: ctx.predictor.encode(ctx.image)


def _torch_encoder_call(ctx: BenchContext) -> Callable[[], object]:
    return lambda: ctx.torch_predictor.set_image(ctx.image)


def _scenarios() -> dict[str, tuple[Scenario, Callable[[BenchContext], Callable[[], object]]]]:
    table = {
        ENCODER_SCENARIO: (
            Scenario(ENCODER_SCENARIO, "encoder only (resize, normalize, graph)", "encoder", 5, 1),
            _encoder_call,
        ),
        "torch:encoder": (
            Scenario(
                "torch:encoder",
                "PyTorch eager set_image",
                "encoder",
                5,
                1,
                reference="torch",
                compares_with=ENCODER_SCENARIO,
            ),
            _torch_encoder_call,
        ),
        "official_package:encoder": (
            Scenario(
                "official_package:encoder",
                "official segment-anything set_image",
                "encoder",
                3,
                1,
                warmup=1,
                reference="official_package",
                compares_with=ENCODER_SCENARIO,
            ),
            lambda ctx: lambda: ctx.official_package.set_image(ctx.image),
        ),
        "time_to_first_mask": (
            Scenario("time_to_first_mask", "new image: set_image + predict 1 point", "end_to_end", 5, 1),
            _first_mask_call,
        ),
        "postprocess": (
            Scenario("postprocess", "upscale 3 low-res masks to full size + threshold", "postprocess", 20, 3),
            _postprocess_call,
        ),
        "interactive_session": (
            Scenario(
                "interactive_session",
                f"{HOVER_PROMPTS} hover prompts along a path (per prompt)",
                "session",
                HOVER_PROMPTS,
                10,
            ),
            _session_call,
        ),
    }
    for case in PROMPT_CASES:
        table[case.name] = (
            Scenario(case.name, case.what, "decoder", case.rounds, case.quick_rounds),
            lambda ctx, c=case: _prompt_call(c, ctx),
        )
        for reference, factory in (
            ("torch", _torch_call),
            ("official_onnx", _official_call),
            ("official_package", _official_package_call),
        ):
            name = f"{reference}:{case.name}"
            scenario = Scenario(
                name,
                f"{REFERENCE_LABELS[reference]}: {case.what}",
                "decoder",
                case.rounds,
                1,
                reference=reference,
                compares_with=case.name,
            )
            table[name] = (scenario, lambda ctx, c=case, f=factory: f(c, ctx))
    from .everything_bench import everything_scenarios  # it builds on Scenario, defined above

    table.update(everything_scenarios())
    return table


SCENARIOS = _scenarios()  # name -> (Scenario, prepare(ctx) -> callable)


def scenario_names() -> list[str]:
    return list(SCENARIOS)
