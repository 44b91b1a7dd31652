"""Meta's own ``sam2`` package (SAM2ImagePredictor) as the benchmark reference of a SAM 2 model, when installed.

It is not on PyPI under that name and needs torchvision, so it is optional, as segment-anything is
for SAM (bench/official_package.py): without it the reference is reported as skipped. The weights are
the runtime model's own (our Sam2, rebuilt by ``references.load_torch_reference``), loaded into the
official model built from its config; the official file's video-only modules keep their init, which
image mode never runs.
"""

from __future__ import annotations

import numpy as np

from sam_edge.bench.official_package import OfficialPackagePredictor

# The image-mode modules: every official key outside them belongs to video (memory) modules.
IMAGE_MODE_PREFIXES = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")


class OfficialSam2Predictor(OfficialPackagePredictor):
    """sam2's SAM2ImagePredictor behind the bench's predictor interface; only batching differs from SAM's."""

    def predict_batch(self, boxes=None, multimask_output=True, **unused):
        """Boxes [B, 4] in one decoder call: SAM2ImagePredictor.predict takes them batched itself."""
        return self.predict(box=np.asarray(boxes, np.float32), multimask_output=multimask_output)


def official_config(spec) -> str:
    """The official config file of a SAM 2 spec: configs/sam2.1/sam2.1_hiera_t.yaml and the like."""
    return f"configs/sam{spec.version}/{spec.name}.yaml"


def load_official_sam2(metadata, threads: int, our_sam2) -> OfficialSam2Predictor:
    """The official SAM 2 model of ``our_sam2``'s variant with its weights (same key names)."""
    from sam_edge.bench.references import ReferenceSkipped

    try:
        from sam2.build_sam import build_sam2
    except ImportError:
        raise ReferenceSkipped(
            "the official sam2 package is not installed (pip install from github.com/facebookresearch/sam2; "
            "it needs a matching torchvision)"
        ) from None
    config = official_config(our_sam2.spec)
    try:
        official = build_sam2(config, None, device="cpu")
    except Exception as error:  # hydra raises its own types for an unknown config
        raise ReferenceSkipped(f"sam2 cannot build {config}: {str(error).splitlines()[0]}") from None
    missing, unexpected = official.load_state_dict(our_sam2.state_dict(), strict=False)
    image_mode_missing = [key for key in missing if key.startswith(IMAGE_MODE_PREFIXES)]
    if image_mode_missing or unexpected:
        raise ReferenceSkipped(
            f"weights do not fit the official {metadata.model_type}: "
            f"missing {image_mode_missing[:3]}, unexpected {list(unexpected)[:3]}"
        )
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return OfficialSam2Predictor(SAM2ImagePredictor(official.eval()), threads)
