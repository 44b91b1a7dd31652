"""One training step's forward and backward: SAM's interactive rounds on one or more scenes.

Frames: prompts and masks are in each scene's input frame (longest side = the step's image size);
logits and targets in the padded S x S frame at 1/4 (the decoder's low-res grid). One scene per
step (the CPU recipe) encodes [1, 3, S, S]; several scenes (a GPU's batch) are encoded together and
every decoder call holds the prompts of all of them, each prompt reading its own scene's embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from data import Sample
from losses import round_loss
from prompt_sampling import correction_clicks, first_prompts

from sam_edge.export.modeling.sam import Sam


@dataclass
class SceneDraw:
    """A scene of the step with the generator that drew it; the same generator draws its prompts."""

    sample: Sample
    rng: np.random.Generator


def decode_group(sam: Sam, embeddings, coords, labels, previous, targets, multimask: bool):
    """One decoder call for prompts sharing a layout; returns (loss, chosen logits [K, 1, h, w], IoU [K]).

    embeddings [1 or K, 256, g, g]; coords [K, N, 2] float32 (input frame); labels [K, N]; previous
    [K, 1, h, w] logits of the last round or None; targets [K, 1, h, w] in {0, 1}.
    """
    count, device = len(coords), targets.device
    if previous is None:
        mask_input = torch.zeros((count, 1) + targets.shape[-2:], device=device)
        has_mask = torch.zeros(count, device=device)
    else:
        mask_input, has_mask = previous, torch.ones(count, device=device)
    point_coords, point_labels = torch.from_numpy(coords).to(device), torch.from_numpy(labels).to(device)
    logits, iou_pred = sam.decode(embeddings, point_coords, point_labels, mask_input, has_mask)
    multimask_flags = torch.full((count,), multimask, dtype=torch.bool, device=device)
    loss, chosen, iou = round_loss(logits, iou_pred, targets, multimask_flags)
    picked = logits[torch.arange(count, device=device), chosen][:, None]
    return loss, picked.detach(), iou


def input_frame_masks(low_res_logits: torch.Tensor, input_size: tuple[int, int]) -> np.ndarray:
    """[K, 1, S/4, S/4] logits -> [K, h, w] bool in the input frame (nearest 4x upsampling, crop)."""
    upsampled = F.interpolate(low_res_logits, scale_factor=4.0, mode="nearest")[:, 0]
    return (upsampled[:, : input_size[0], : input_size[1]] > 0).cpu().numpy()


def assemble_prompts(first_coords, first_labels, clicks, click_labels, is_box: bool):
    """First prompt + correction clicks in the official layout: a box's corners last (no padding
    point); a point first and its padding point last. All [K, N, 2] / [K, N] float32."""
    if is_box:
        return np.concatenate([clicks, first_coords], 1), np.concatenate([click_labels, first_labels], 1)
    coords = np.concatenate([first_coords[:, :1], clicks, first_coords[:, 1:]], 1)
    return coords, np.concatenate([first_labels[:, :1], click_labels, first_labels[:, 1:]], 1)


def train_step(sam: Sam, draws: list[SceneDraw], image_size: int, rounds: int, device: torch.device) -> dict:
    """Interactive-segmentation rounds on the scenes of one step; backward; returns losses and IoUs for the log.

    Each scene's generator draws, in order: box or point per instance, the first prompts, then its
    correction clicks group by group and round by round (so one scene per step reproduces the
    single-scene recipe exactly).
    """
    sam.set_image_size(image_size)
    embeddings = sam.encode_image(torch.cat([draw.sample.image for draw in draws]).to(device))
    use_box, firsts = [], []
    for draw in draws:
        use_box.append(draw.rng.random(len(draw.sample.input_masks)) < 0.5)
        firsts.append(first_prompts(draw.sample.input_masks, use_box[-1], draw.rng, image_size))
    losses, first_iou, last_iou = [], [], []
    for is_box in (True, False):
        groups = [scene_use_box if is_box else ~scene_use_box for scene_use_box in use_box]
        members = [index for index, group in enumerate(groups) if group.any()]
        if not members:
            continue
        owner = np.concatenate([np.full(groups[i].sum(), i) for i in members])
        scene_embeddings = embeddings if len(draws) == 1 else embeddings[torch.from_numpy(owner).to(device)]
        targets = torch.cat([draws[i].sample.low_res_targets[torch.from_numpy(groups[i])] for i in members]).to(device)
        first_coords = np.concatenate([firsts[i][0][groups[i]] for i in members])
        first_labels = np.concatenate([firsts[i][1][groups[i]] for i in members])
        clicks = np.zeros((len(owner), 0, 2), np.float32)
        click_labels = np.zeros((len(owner), 0), np.float32)
        previous = None
        for round_index in range(rounds + 1):
            if round_index:
                new = [
                    correction_clicks(
                        input_frame_masks(
                            previous[torch.from_numpy(owner == i).to(device)], draws[i].sample.input_size
                        ),
                        draws[i].sample.input_masks[groups[i]],
                        draws[i].rng,
                    )
                    for i in members
                ]
                clicks = np.concatenate([clicks, np.concatenate([c for c, _ in new])], 1)
                click_labels = np.concatenate([click_labels, np.concatenate([lab for _, lab in new])], 1)
            coords, labels = assemble_prompts(first_coords, first_labels, clicks, click_labels, is_box)
            multimask = round_index == 0 and not is_box
            loss, previous, iou = decode_group(sam, scene_embeddings, coords, labels, previous, targets, multimask)
            losses.append(loss)
            if round_index == 0:
                first_iou.append(iou)
            if round_index == rounds and rounds:
                last_iou.append(iou)
    total = torch.stack(losses).mean()
    total.backward()
    return {
        "loss": float(total.detach()),
        "iou_first": float(torch.cat(first_iou).mean()),
        "iou_last": float(torch.cat(last_iou).mean()) if last_iou else float("nan"),
    }
