"""Meta's own ``segment-anything`` package as a benchmark reference, when it is installed.

It needs torchvision, which PyPI cannot pair with every torch build, so it is optional: without it the
reference is reported as skipped. The weights are the runtime model's own (rebuilt by
``references.load_torch_reference`` from the checkpoint or random seed), loaded into the official
``Sam`` with its own key names, so both sides compute the same function.
"""

from __future__ import annotations

import numpy as np

OFFICIAL_TYPES = ("vit_b", "vit_l", "vit_h")  # the package has no MobileSAM (vit_t) nor our nano


class OfficialPackagePredictor:
    """An official predictor (segment_anything's SamPredictor; sam2's SAM2ImagePredictor in
    bench/official_sam2.py) behind the bench's predictor interface (set_image, predict, predict_batch
    with boxes [B, 4] in the original image frame), run in inference mode on ``threads`` threads."""

    def __init__(self, official_predictor, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.predictor = official_predictor

    def set_image(self, image: np.ndarray) -> None:
        with self.torch.inference_mode():
            self.predictor.set_image(image)

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None, multimask_output=True):
        with self.torch.inference_mode():
            return self.predictor.predict(
                point_coords=None if point_coords is None else np.asarray(point_coords, np.float32),
                point_labels=None if point_labels is None else np.asarray(point_labels, np.float32),
                box=None if box is None else np.asarray(box, np.float32),
                mask_input=mask_input,
                multimask_output=multimask_output,
            )

    def predict_batch(self, boxes=None, multimask_output=True, **unused):
        """Boxes [B, 4] in one decoder call, as SAM's notebooks batch them (predict_torch)."""
        with self.torch.inference_mode():
            boxes = self.torch.as_tensor(np.asarray(boxes, np.float32))
            transformed = self.predictor.transform.apply_boxes_torch(boxes, self.predictor.original_size)
            return self.predictor.predict_torch(None, None, boxes=transformed, multimask_output=multimask_output)


def load_official_package(metadata, threads: int, our_sam) -> OfficialPackagePredictor:
    """The official model of ``metadata.model_type`` with ``our_sam``'s weights (same key names)."""
    from sam_edge.bench.references import ReferenceSkipped

    try:
        from segment_anything import sam_model_registry
    except ImportError:
        raise ReferenceSkipped(
            "the official segment-anything package is not installed "
            "(pip install segment-anything; it needs a matching torchvision)"
        ) from None
    if metadata.model_type not in OFFICIAL_TYPES:
        raise ReferenceSkipped(
            f"the official segment-anything package has no {metadata.model_type} "
            f"(it builds {', '.join(OFFICIAL_TYPES)})"
        )
    official = sam_model_registry[metadata.model_type]()
    missing, unexpected = official.load_state_dict(our_sam.state_dict(), strict=False)
    if missing or unexpected:
        raise ReferenceSkipped(
            f"weights do not fit the official {metadata.model_type}: "
            f"missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}"
        )
    from segment_anything import SamPredictor

    return OfficialPackagePredictor(SamPredictor(official.eval()), threads)
