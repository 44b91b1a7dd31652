"""The ``everything`` scenario (segment everything) and its references, added to the scenario table.

The issue's measurement: a 32 x 32 grid with pred_iou_thresh = stability_score_thresh = 0, so every
mask goes the whole way (random weights fail the default filters), on the benchmark image
(1500 x 1000; --quick: 750 x 500 and a 4 x 4 grid, which proves the machinery, not the speed).
Each call is a whole ``generate`` (encoder included, as in the official code) in binary_mask mode.

- ``everything``: sam-edge's SamAutomaticMaskGenerator;
- ``official_logic:everything``: the official algorithm in its own order on sam-edge's graphs
  (bench/official_amg.py), torch-free, so it always runs;
- ``torch:everything``: segment_anything's generator code driving PyTorch eager on the same weights
  (our modeling; the official package has no vit_t), or the official order in numpy over the same
  torch model when the package is not installed;
- ``official_package:everything``: segment_anything's generator on the official Sam (vit_b/l/h).
"""

from __future__ import annotations

from .references import ReferenceSkipped, is_sam2_model
from .scenarios import QUICK_SIZE, Scenario

EVERYTHING = "everything"
SETTINGS = dict(points_per_side=32, pred_iou_thresh=0.0, stability_score_thresh=0.0)
QUICK_POINTS_PER_SIDE = 4


def everything_settings(ctx) -> dict:
    """The generator arguments for this run (a smaller grid on the quick image)."""
    quick = tuple(ctx.image.shape[:2]) == QUICK_SIZE
    return {**SETTINGS, "points_per_side": QUICK_POINTS_PER_SIDE if quick else SETTINGS["points_per_side"]}


def _ours(ctx):
    from sam_edge.runtime.automatic_mask_generator import SamAutomaticMaskGenerator

    generator = SamAutomaticMaskGenerator(ctx.predictor, **everything_settings(ctx))
    return lambda: generator.generate(ctx.image)


def _require_sam(ctx) -> None:
    """The references below are segment_anything's generator: SAM 2's own (SAM2AutomaticMaskGenerator,
    other defaults and a mask-to-mask refinement) is a different algorithm, so they do not apply."""
    if is_sam2_model(ctx.predictor.metadata):
        raise ReferenceSkipped("segment_anything's generator is not SAM 2's (SAM2AutomaticMaskGenerator differs)")


def _official_logic(ctx):
    from .official_amg import GraphsLowRes, OfficialOrderGenerator

    _require_sam(ctx)
    generator = OfficialOrderGenerator(GraphsLowRes(ctx.predictor), **everything_settings(ctx))
    return lambda: generator.generate(ctx.image)


def _torch(ctx):
    from .official_amg import official_generator_on_torch

    _require_sam(ctx)
    generate = official_generator_on_torch(ctx.torch_predictor, **everything_settings(ctx))
    return lambda: generate(ctx.image)


def _official_package(ctx):
    from segment_anything import SamAutomaticMaskGenerator

    generator = SamAutomaticMaskGenerator(ctx.official_package.predictor.model, **everything_settings(ctx))
    return lambda: generator.generate(ctx.image)


def everything_scenarios() -> dict:
    """name -> (Scenario, prepare(ctx) -> callable) for the everything scenario and its references."""
    what = "segment everything: 32x32 grid, thresholds 0, generate() incl. encoder"
    table = {EVERYTHING: (Scenario(EVERYTHING, what, "end_to_end", 3, 1, warmup=1), _ours)}
    labels = {
        "official_logic": "official generator logic on sam-edge's graphs",
        "torch": "official generator logic on PyTorch eager (same weights)",
        "official_package": "official segment-anything generator",
    }
    references = (("official_logic", _official_logic), ("torch", _torch), ("official_package", _official_package))
    for reference, prepare in references:
        name = f"{reference}:{EVERYTHING}"
        table[name] = (
            Scenario(
                name,
                f"{labels[reference]}: {what}",
                "end_to_end",
                3,
                1,
                warmup=1,
                reference=reference,
                compares_with=EVERYTHING,
            ),
            prepare,
        )
    return table
