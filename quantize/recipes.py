"""Quantization recipes: frozen settings with names, and which ones to try on which CPU.

A recipe says what to do to a model's encoder graph and on which backend the result runs. It holds no
state and does no work (quantize/apply.py does); presets give the settings we measured and a name a
user can type. ``AUTO_CANDIDATES`` lists, per instruction set, the presets that can plausibly be faster
than fp32 there; ``sam-edge quantize --recipe auto`` times those and keeps the fastest that passes the
fidelity gate, or fp32.

The decoder graphs are copied unchanged (fp32) by every recipe but ``ov_bf16_decoder``: int8 would
add quantize/dequantize steps to a prompt stage bound by [4096, 256] x [256, 7h] products and
element-wise work, while bf16 halves the bytes of both where the CPU has native bf16. That one marks
the decoder graphs bf16 too and is gated end to end, encoder and decoder together.
"""

from __future__ import annotations

from dataclasses import dataclass

from sam_edge.runtime.errors import InvalidInputError

ISAS = ("avx2", "avx512_vnni", "amx", "arm64")
# Option defaults of `sam-edge quantize` (QuantizeOptions and the CLI share them; light to import).
DEFAULT_CALIBRATION_IMAGES = 16
DEFAULT_GATE_IMAGES = 8
DEFAULT_ROUNDS = 5  # timed encoder calls per graph, alternating fp32 and candidate


@dataclass(frozen=True)
class OrtDynamicInt8:
    """onnxruntime dynamic quantization: int8 weights, activations quantized per call (no calibration).

    ``weight_type`` "QUInt8" keeps accuracy on AVX2 without VNNI, where the signed kernels'
    16-bit intermediate sums saturate; ``op_types`` MatMul only, since TinyViT's convolutions do
    not quantize dynamically.
    """

    name: str
    weight_type: str = "QUInt8"
    per_channel: bool = False
    op_types: tuple[str, ...] = ("MatMul",)
    backend: str = "onnxruntime"
    precision: str = "int8"
    needs_calibration: bool = False


@dataclass(frozen=True)
class OrtStaticInt8:
    """onnxruntime static quantization in QDQ format: activation ranges fixed from calibration images."""

    name: str
    calibrate_method: str = "MinMax"  # MinMax | Entropy | Percentile
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"
    per_channel: bool = True
    op_types: tuple[str, ...] = ("MatMul", "Conv")
    # onnxruntime's calibrators keep every activation of every image in memory until the end (~1.2 GB
    # per 1024x1024 image for vit_t; the histogram ones went past 20 GB with 16 images). Its
    # CalibMaxIntermediateOutputs option would bound that for MinMax, but then fails ("No data is
    # collected") whenever the image count is a multiple of it.
    max_calibration_images: int | None = None
    backend: str = "onnxruntime"
    precision: str = "int8"
    needs_calibration: bool = True


@dataclass(frozen=True)
class Fp16Weights:
    """fp16 weights and arithmetic where the backend has fp16 kernels; inputs and outputs stay fp32.

    On x86 CPUs onnxruntime mostly casts back to fp32, so this halves the size, not the time.
    """

    name: str
    backend: str = "onnxruntime"
    precision: str = "fp16"
    needs_calibration: bool = False


@dataclass(frozen=True)
class NncfInt8:
    """OpenVINO post-training int8 with NNCF (fake-quantize nodes, executed in int8 by the CPU plugin)."""

    name: str
    model_type_transformer: bool = True  # nncf.ModelType.TRANSFORMER: keeps softmax / LayerNorm in float
    smooth_quant_alpha: float | None = None  # SmoothQuant for MatMuls; None = NNCF's default (off on CPU)
    preset: str = "mixed"  # performance | mixed (asymmetric activations)
    ignored_types: tuple[str, ...] = ()
    fast_bias_correction: bool = True
    backend: str = "openvino"
    precision: str = "int8"
    needs_calibration: bool = True


@dataclass(frozen=True)
class OvWeightCompression:
    """OpenVINO weight compression: int8 weights decompressed on the fly, activations in float."""

    name: str
    mode: str = "INT8_ASYM"  # INT8_SYM | INT8_ASYM
    backend: str = "openvino"
    precision: str = "int8"
    needs_calibration: bool = False


@dataclass(frozen=True)
class OvBf16:
    """OpenVINO bf16 execution: the fp32 IR, unchanged, compiled with INFERENCE_PRECISION_HINT bf16.

    Matrix products and convolutions run in bf16 with f32 accumulation where the CPU has native bf16
    (AVX512_BF16 dot products, AMX tiles); elsewhere there is nothing to gain, so it is offered only
    on CPUs with one of ``cpu_features``. The graph's metadata says bf16, which is what makes the
    runtime ask for it: an fp32 graph is never run in bf16.
    """

    name: str
    cpu_features: tuple[str, ...] = ("avx512_bf16", "amx_bf16")
    decoder_too: bool = False  # the decoder graphs run in bf16 as well (gated with the encoder, end to end)
    backend: str = "openvino"
    precision: str = "bf16"
    needs_calibration: bool = False


Recipe = OrtDynamicInt8 | OrtStaticInt8 | Fp16Weights | NncfInt8 | OvWeightCompression | OvBf16

_PRESET_LIST: tuple[Recipe, ...] = (
    OrtDynamicInt8("ort_dynamic_quint8"),
    OrtDynamicInt8("ort_dynamic_quint8_per_channel", per_channel=True),
    OrtDynamicInt8("ort_dynamic_qint8", weight_type="QInt8"),
    OrtStaticInt8("ort_static_minmax"),
    OrtStaticInt8("ort_static_percentile", calibrate_method="Percentile", max_calibration_images=4),
    OrtStaticInt8("ort_static_entropy", calibrate_method="Entropy", max_calibration_images=4),
    Fp16Weights("ort_fp16"),
    NncfInt8("nncf_int8"),
    NncfInt8("nncf_int8_smoothquant", smooth_quant_alpha=0.95),
    NncfInt8("nncf_int8_matmul_only", ignored_types=("Convolution", "GroupConvolution")),
    OvWeightCompression("ov_weights_int8"),
    OvBf16("ov_bf16"),
    OvBf16("ov_bf16_decoder", decoder_too=True),
)
PRESETS: dict[str, Recipe] = {recipe.name: recipe for recipe in _PRESET_LIST}

# What `auto` tries per instruction set, in order. Without VNNI int8 dot products are emulated with
# 16-bit multiplies, so only the recipes that stay close to fp32 cost are worth timing.
AUTO_CANDIDATES: dict[str, tuple[str, ...]] = {
    "avx2": ("ort_dynamic_quint8", "ort_dynamic_quint8_per_channel", "nncf_int8", "ov_weights_int8"),
    "avx512_vnni": (
        "ort_dynamic_qint8",
        "ort_static_minmax",
        "nncf_int8",
        "nncf_int8_smoothquant",
        "ov_weights_int8",
        "ov_bf16",
    ),
    "amx": ("ov_bf16", "nncf_int8", "nncf_int8_smoothquant", "ort_static_minmax", "ort_dynamic_qint8"),
    "arm64": ("ort_dynamic_qint8", "ort_static_minmax", "ort_fp16", "nncf_int8"),
}


def recipe_named(name: str) -> Recipe:
    """The preset called ``name``; InvalidInputError naming the accepted ones otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise InvalidInputError(f"unknown recipe {name!r}; accepted: auto, {', '.join(PRESETS)}") from None


def auto_candidates(isa: str, flags: set[str] | None = None) -> list[Recipe]:
    """The presets `auto` tries on a CPU with instruction set ``isa`` (one of ISAS) and feature
    ``flags`` (None: no filtering): a recipe needing a CPU feature the flags lack is left out."""
    if isa not in AUTO_CANDIDATES:
        raise InvalidInputError(f"unknown instruction set {isa!r}; accepted: {', '.join(ISAS)}")
    recipes = [PRESETS[name] for name in AUTO_CANDIDATES[isa]]
    return [recipe for recipe in recipes if flags is None or missing_cpu_feature(recipe, flags) is None]


def missing_cpu_feature(recipe: Recipe, flags: set[str]) -> str | None:
    """None when the CPU (its /proc/cpuinfo ``flags``) can run ``recipe``, else a one-line reason."""
    needed = getattr(recipe, "cpu_features", ())
    if not needed or set(needed) & flags:
        return None
    return (
        f"recipe {recipe.name} needs a CPU with {' or '.join(needed)}, which this CPU does not have; "
        "run it on a CPU with native bf16 (Intel Cooper Lake / Sapphire Rapids or newer, AMD Zen 4 or newer)"
    )


@dataclass(frozen=True)
class GateThresholds:
    """The fidelity gate: what a quantized encoder must keep of the fp32 one (docs/quantization.md)."""

    min_cosine: float = 0.999  # embedding cosine similarity, every gate image
    min_median_iou: float = 0.98  # mask IoU vs the fp32 masks over the prompt set
    min_p5_iou: float = 0.90
    max_miou_drop: float = 0.01  # default model only: mIoU against ground truth on the synthetic benchmark
