"""SAM's mask decoder split into a per-image stage and a per-prompt stage, computing the same function.

Why: of the ~3.6 GFLOP a prompt costs in the official decoder, most is spent on the 4096 image
tokens, and part of it does not depend on the prompt. With N = 4096 image tokens, C = 256 channels,
H = 8 heads, c = C / 2 attention channels and T prompt tokens (T = 7 for one point):

- Image stage (once per image, or per prompt with a mask input): the dense prompt embedding, the
  image tokens X0 and, for the first two-way block, the token->image keys and values and the
  image->token queries. None depends on the points.
- Prompt stage: everything else, rearranged so that no [N, C] x [C, c] projection of the image
  tokens is recomputed per prompt:
  * attention from T tokens to the image: project the queries back to C channels per head
    (q_h W_k,h) and score them against the image tokens directly; the key bias adds the same
    value to every score of a row, so softmax drops it. Values likewise: (P X) W_v^T + b_v,
    because attention rows sum to one. 2 x [H*T, C] x [C, N] instead of 2 x [N, C] x [C, c].
  * attention from the image to T tokens: the update of every image token is a mix of H*T
    vectors, (A [N, H*T]) @ (U [H*T, C]) with U_h = v_h W_o,h^T, instead of [N, c] x [c, C].
  * the transposed convolutions of the upscaling (kernel = stride = 2) as channels-last MatMuls;
    the LayerNorm of the first one runs over the last axis.
All rearrangements are exact up to float rounding; tests check them against ``MaskDecoder``.
Shapes: image tokens [M, N, C] with M = 1 (shared by all prompts) or M = B (one per prompt).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_edge.export.modeling.sam import Sam
from sam_edge.export.modeling.two_way_transformer import Attention

# float32's smallest normal number. An attention weight below it is subnormal: exp() of a score more
# than ~87 below its row's maximum. Trained weights give many of them (seeded random ones almost
# none), and an x86 core takes a microcode assist for each product with a subnormal operand unless
# the engine flushes them: the bundled model's prompt stage ran 2.7x slower on onnxruntime (60 vs
# 22 ms), almost all of it in the two products with the weights. Flushed to zero here, inside the
# graph, so every engine and thread is spared; a flushed weight's share of any output is < 1e-34.
SMALLEST_NORMAL = torch.finfo(torch.float32).tiny


def _attention_weights(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis with subnormal weights flushed to zero (same shape and dtype)."""
    weights = torch.softmax(scores, dim=-1)
    return torch.where(weights < SMALLEST_NORMAL, torch.zeros((), dtype=weights.dtype), weights)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, N, h*d] -> [B, h, N, d]."""
    batch, tokens, channels = x.shape
    return x.reshape(batch, tokens, heads, channels // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """[B, h, N, d] -> [B, N, h*d]."""
    batch, heads, tokens, dim = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * dim)


def _per_head(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Linear weight [h*d, C] (C -> h*d) -> [h, d, C]."""
    return weight.reshape(heads, weight.shape[0] // heads, weight.shape[1])


class DecoderImageStage(nn.Module):
    """Per-image part: (embeddings [1, C, s, s], mask_input [M, 1, 4s, 4s], has_mask_input [M]) ->
    image_tokens [M, N, C], image_pe [1, N, C], attn_keys [M, h, d, N], attn_values [M, h, N, d],
    attn_queries [M, N, c] (c = h * d)."""

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.sam = sam

    def forward(self, image_embeddings, mask_input, has_mask_input):
        return image_stage(
            self.sam.prompt_encoder, self.sam.mask_decoder.transformer, image_embeddings, mask_input, has_mask_input
        )


def image_stage(prompt_encoder, transformer, image_embeddings, mask_input, has_mask_input) -> tuple[torch.Tensor, ...]:
    """The prompt-independent tensors of SAM's (and SAM 2's) two-way transformer; see DecoderImageStage."""
    dense = prompt_encoder.embed_mask(mask_input, has_mask_input)
    tokens = (image_embeddings + dense).flatten(2).transpose(1, 2)
    pe = prompt_encoder.dense_positional_encoding().flatten(2).transpose(1, 2)
    block = transformer.layers[0]
    heads = block.cross_attn_token_to_image.num_heads
    # Head-major (keys already transposed) so the prompt stage multiplies them without a copy.
    keys = _heads(block.cross_attn_token_to_image.k_proj(tokens + pe), heads).transpose(-1, -2)
    values = _heads(block.cross_attn_token_to_image.v_proj(tokens), heads)
    queries = block.cross_attn_image_to_token.q_proj(tokens + pe)
    return tokens, pe, keys, values, queries


class DecoderPromptStage(nn.Module):
    """Per-prompt part: image-stage outputs + point_coords [B, n, 2] (input frame), point_labels [B, n]
    -> (iou_predictions [B, 4], low_res_masks [B, 4, 4s, 4s]), as ``Sam.decode``."""

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.sam = sam
        check_split_layout(sam.mask_decoder.transformer)

    def forward(self, image_tokens, image_pe, attn_keys, attn_values, attn_queries, point_coords, point_labels):
        decoder = self.sam.mask_decoder
        sparse = self.sam.prompt_encoder.embed_points(point_coords, point_labels)
        output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        prompt = torch.cat((output_tokens.unsqueeze(0).expand(sparse.shape[0], -1, -1), sparse), dim=1)
        queries, keys = prompt_stage(
            decoder.transformer, prompt, image_tokens, image_pe, attn_keys, attn_values, attn_queries
        )
        masks = upscale_and_project(decoder, keys, queries[:, 1 : 1 + decoder.num_mask_tokens])
        return decoder.iou_prediction_head(queries[:, 0]), masks


def check_split_layout(transformer) -> None:
    """The split assumes SAM's transformer layout: only the first block skips the query PE."""
    if not transformer.layers[0].skip_first_layer_pe or any(b.skip_first_layer_pe for b in transformer.layers[1:]):
        raise ValueError("the split decoder expects SAM's layout: only the first block skips the query PE")


def prompt_stage(transformer, prompt, image_tokens, image_pe, attn_keys, attn_values, attn_queries):
    """The two-way transformer on ``prompt`` tokens [B, T, C] given the image stage's tensors
    -> (output tokens [B, T, C] after the final attention and norm, image tokens [B, N, C])."""
    first = transformer.layers[0]
    queries = first.norm1(first.self_attn(q=prompt, k=prompt, v=prompt))
    attended = _tokens_to_projected_image(first.cross_attn_token_to_image, queries + prompt, attn_keys, attn_values)
    queries = first.norm2(queries + attended)
    queries = first.norm3(queries + first.mlp(queries))
    attention = first.cross_attn_image_to_token
    token_keys, token_values = _token_keys_values(attention, queries, prompt)
    logits = attn_queries @ _block_diagonal(token_keys)  # [B, N, h*T]
    keys = first.norm4(image_tokens + _image_to_tokens(attention, logits, token_values))

    for block in transformer.layers[1:]:
        keys_pe = keys + image_pe
        q = queries + prompt
        queries = block.norm1(queries + block.self_attn(q=q, k=q, v=queries))
        queries = block.norm2(
            queries + _tokens_to_image(block.cross_attn_token_to_image, queries + prompt, keys_pe, keys)
        )
        queries = block.norm3(queries + block.mlp(queries))
        attention = block.cross_attn_image_to_token
        token_keys, token_values = _token_keys_values(attention, queries, prompt)
        logits = _image_query_logits(attention, keys_pe, token_keys)
        keys = block.norm4(keys + _image_to_tokens(attention, logits, token_values))

    final = _tokens_to_image(transformer.final_attn_token_to_image, queries + prompt, keys + image_pe, keys)
    return transformer.norm_final_attn(queries + final), keys


def _tokens_to_projected_image(attention: Attention, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor):
    """Token->image attention with precomputed keys [M, h, d, N] and values [M, h, N, d]: -> [B, T, C]."""
    q = _heads(attention.q_proj(q), attention.num_heads)
    weights = _attention_weights((q / math.sqrt(q.shape[-1])) @ keys)
    return attention.out_proj(_merge(weights @ values))


def _tokens_to_image(attention: Attention, q: torch.Tensor, keys_pe: torch.Tensor, keys: torch.Tensor):
    """Token->image attention scored against the image tokens themselves (keys_pe, keys [B, N, C])."""
    heads = attention.num_heads
    q = _heads(attention.q_proj(q), heads)  # [B, h, T, d]
    batch, _, tokens, head_dim = q.shape
    q_image = ((q / math.sqrt(head_dim)) @ _per_head(attention.k_proj.weight, heads)).reshape(batch, heads * tokens, -1)
    scores = q_image @ keys_pe.transpose(1, 2)  # [B, h*T, N]; + q.b_k is constant per row: softmax drops it
    weights = _attention_weights(scores)
    mixed = (weights @ keys).reshape(batch, heads, tokens, -1)  # [B, h, T, C]
    values = mixed @ _per_head(attention.v_proj.weight, heads).transpose(-1, -2)  # [B, h, T, d]
    values = values + attention.v_proj.bias.reshape(heads, 1, head_dim)
    return attention.out_proj(_merge(values))


def _token_keys_values(attention: Attention, queries: torch.Tensor, prompt: torch.Tensor):
    """Image->token attention's token side: keys (with the prompt PE, pre-scaled by 1/sqrt(d)) and
    values, [B, h, T, d] each."""
    heads = attention.num_heads
    keys = _heads(attention.k_proj(queries + prompt), heads)
    return keys / math.sqrt(keys.shape[-1]), _heads(attention.v_proj(queries), heads)


def _block_diagonal(token_keys: torch.Tensor) -> torch.Tensor:
    """[B, h, T, d] -> [B, h*d, h*T] with head i's keys (transposed) in block (i, i), zeros elsewhere.

    Lets [N, h*d] image queries score all heads in one MatMul whose output is already [N, h*T].
    """
    batch, heads, tokens, head_dim = token_keys.shape
    eye = torch.eye(heads, dtype=token_keys.dtype).reshape(1, heads, 1, heads, 1)
    return (token_keys.transpose(-1, -2).unsqueeze(3) * eye).reshape(batch, heads * head_dim, heads * tokens)


def _image_query_logits(attention: Attention, keys_pe: torch.Tensor, token_keys: torch.Tensor) -> torch.Tensor:
    """q_proj(keys_pe) . token_keys per head without projecting the image: [B, N, C] -> logits [B, N, h*T]."""
    heads = attention.num_heads
    batch, _, tokens, _ = token_keys.shape
    k_image = token_keys @ _per_head(attention.q_proj.weight, heads)  # [B, h, T, C]
    bias = token_keys @ attention.q_proj.bias.reshape(heads, -1, 1)  # [B, h, T, 1]
    k_image = k_image.reshape(batch, heads * tokens, -1).transpose(1, 2)  # [B, C, h*T]
    return keys_pe @ k_image + bias.reshape(batch, 1, heads * tokens)


def _image_to_tokens(attention: Attention, logits: torch.Tensor, token_values: torch.Tensor) -> torch.Tensor:
    """Image->token attention update of every image token: logits [B, N, h*T] (scaled),
    token values [B, h, T, d] -> [B, N, C], out_proj bias included."""
    heads, head_dim = attention.num_heads, token_values.shape[-1]
    batch, image_tokens, _ = logits.shape
    weights = _attention_weights(logits.reshape(batch, image_tokens, heads, -1)).reshape(batch, image_tokens, -1)
    out_weight = attention.out_proj.weight  # [C, h*d]
    mixes = token_values @ out_weight.reshape(out_weight.shape[0], heads, head_dim).permute(1, 2, 0)  # [B, h, T, C]
    # Each head's weights sum to 1, so adding bias / h to every mix adds the bias once per image token.
    mixes = mixes + attention.out_proj.bias / heads
    return weights @ mixes.reshape(mixes.shape[0], -1, mixes.shape[-1])


def upscale_and_project(decoder, keys: torch.Tensor, mask_tokens: torch.Tensor, skips=None) -> torch.Tensor:
    """Image tokens [B, N, C] (N = s*s) + mask tokens [B, K, C] -> mask logits [B, K, 4s, 4s].

    ``skips`` (SAM 2): the high-res features in the channels-last layouts of the two products,
    [1, N, 4, C/4] added before the norm and [1, 16 N, C/8] before the last GELU (sam2_split_decoder.py).
    """
    first, norm, _, second, _ = decoder.output_upscaling
    batch, tokens, _ = keys.shape
    side = math.isqrt(tokens)
    # ConvTranspose2d(kernel 2, stride 2) = per-pixel MatMul to (dy, dx, channel), channels last.
    # 2-D operands: a Gemm with the bias fused instead of a batched MatMul and a separate Add.
    up = F.linear(
        keys.reshape(batch * tokens, -1), first.weight.permute(2, 3, 1, 0).flatten(0, 2), first.bias.repeat(4)
    )
    up = up.reshape(batch, tokens, 4, -1)  # [B, N, (dy, dx), C/4]
    if skips is not None:
        up = up + skips[1]
    up = F.gelu(F.layer_norm(up, (first.out_channels,), norm.weight, norm.bias, norm.eps))
    up = F.linear(
        up.reshape(batch * tokens * 4, -1), second.weight.permute(2, 3, 1, 0).flatten(0, 2), second.bias.repeat(4)
    )
    up = up.reshape(batch, tokens * 16, -1)  # [B, N*16, C/8]
    up = F.gelu(up if skips is None else up + skips[0])
    hyper = torch.stack([mlp(mask_tokens[:, i]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1)
    masks = hyper @ up.transpose(1, 2)  # [B, K, N*16]: (mask; y, x, dy1, dx1, dy2, dx2)
    # Depth-to-space as two 4-D transposes (one 7-D transpose runs ~10x slower in onnxruntime):
    # (y, x, dy1, rest) -> (y, dy1, x, rest), then (y dy1, x dx1, dy2, dx2) -> (y dy1, dy2, x dx1, dx2).
    rows = batch * masks.shape[1] * side
    masks = masks.reshape(rows, side, 2, 8).transpose(1, 2)
    masks = masks.reshape(rows * 2, side * 2, 2, 2).transpose(1, 2)
    return masks.reshape(batch, -1, 4 * side, 4 * side)
