"""SAM's training losses: focal + dice on mask logits (20:1) and MSE on the IoU prediction."""

from __future__ import annotations

import torch
import torch.nn.functional as F

FOCAL_WEIGHT = 20.0
DICE_WEIGHT = 1.0


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Per-mask sigmoid focal loss, mean over pixels. logits, targets [..., H, W] -> [...]."""
    probs = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.flatten(-2).mean(-1)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-mask soft dice loss. logits, targets [..., H, W] -> [...]."""
    probs = torch.sigmoid(logits).flatten(-2)
    targets = targets.flatten(-2)
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return 1 - (numerator + 1) / (denominator + 1)


def mask_iou(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of thresholded logits with binary targets, [..., H, W] -> [...] (no gradient)."""
    predicted = (logits.detach() > 0).flatten(-2)
    targets = targets.flatten(-2) > 0.5
    intersection = (predicted & targets).sum(-1).float()
    union = (predicted | targets).sum(-1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def round_loss(logits: torch.Tensor, iou_pred: torch.Tensor, targets: torch.Tensor, multimask: torch.Tensor):
    """Loss of one decoding round for K prompts.

    logits [K, 4, h, w]; iou_pred [K, 4]; targets [K, 1, h, w]; multimask [K] bool: ambiguous prompts
    (one point) train only the best of tokens 1..3 (SAM's min loss), others train token 0.
    Returns (loss scalar, chosen token per prompt [K], IoU of the chosen mask [K]).
    """
    targets = targets.expand_as(logits)
    mask_losses = FOCAL_WEIGHT * focal_loss(logits, targets) + DICE_WEIGHT * dice_loss(logits, targets)  # [K, 4]
    best_multi = 1 + mask_losses[:, 1:].argmin(dim=1)
    chosen = torch.where(multimask, best_multi, torch.zeros_like(best_multi))
    rows = torch.arange(len(chosen))
    true_iou = mask_iou(logits, targets)  # [K, 4]
    iou_loss = F.mse_loss(iou_pred, true_iou, reduction="none")
    # The IoU head scores every token the user may see: tokens 1..3 for multimask prompts, 0 otherwise.
    weights = torch.zeros_like(iou_loss)
    weights[multimask, 1:] = 1.0 / 3
    weights[~multimask, 0] = 1.0
    loss = mask_losses[rows, chosen].mean() + (iou_loss * weights).sum(1).mean()
    return loss, chosen, true_iou[rows, chosen]
