"""Low-res mask logits -> the original image frame (or a display size), at a few flops per pixel.

SAM's postprocess_masks is bilinear 256 -> 1024, crop to the resized image, bilinear -> original
size. ``transforms.mask_upscale_matrices`` composes that into one [H, 256] and one [W, 256] matrix.
Each of their rows has at most 3-4 consecutive non-zeros, so multiplying by them densely does ~60x
more work than needed (about 1 GFLOP per 1500x1000 mask). Here both maps are cut into blocks of
output lines, and each block is a small dense matmul against the few input lines it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.image_io import DEFAULT_MAX_PIXELS
from sam_edge.runtime.transforms import mask_upscale_matrices

# Output lines per block: small enough that a block reads ~10 input lines, large enough that the
# per-block Python overhead (~80 numpy calls per 1500x1000 image) stays far below the arithmetic.
BLOCK_LINES = 32
# Masks resampled together: as many as keep their [L, W] float32 intermediate within this, so it is
# still in cache when the row pass reads it back. 64 x 3 masks of 1500 x 1000 in one pass took
# 4.0 ms per mask (a 295 MB intermediate), in passes of 5 masks 1.1 ms (2-core Intel SPR).
GROUP_BYTES = 8 << 20


@dataclass(frozen=True)
class _Block:
    """Output lines [start, stop) read input lines [first, last) with weights [stop - start, last - first].

    ``transposed`` is the same weights as a contiguous [last - first, stop - start] array: the column
    pass multiplies from the right, and a transposed view there made the whole upscale ~2x slower.
    """

    start: int
    stop: int
    first: int
    last: int
    weights: np.ndarray
    transposed: np.ndarray


def _blocks(matrix: np.ndarray, lines: int = BLOCK_LINES) -> list[_Block]:
    """Split a banded [out, in] resampling matrix into row blocks with their input column span."""
    blocks = []
    for start in range(0, matrix.shape[0], lines):
        rows = matrix[start : start + lines]
        used = np.flatnonzero(rows.any(axis=0))
        first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        weights = np.ascontiguousarray(rows[:, first:last])
        blocks.append(_Block(start, start + rows.shape[0], first, last, weights, np.ascontiguousarray(weights.T)))
    return blocks


def _reach(matrix: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(inputs read, first[in], stop[in]): the output lines [first, stop) whose weight on input ``in`` is non-zero.

    Inputs read form a prefix [0, inputs read) of the low-res axis (the padded part is never read).
    """
    used = matrix != 0
    read = int(np.flatnonzero(used.any(axis=0))[-1]) + 1
    first = used[:, :read].argmax(axis=0)
    stop = matrix.shape[0] - used[::-1, :read].argmax(axis=0)
    return read, first.astype(np.int64), stop.astype(np.int64)


def _check_output_pixels(output_size: tuple[int, int], original_size: tuple[int, int]) -> None:
    """A requested frame may be as large as the image or DEFAULT_MAX_PIXELS, whichever is larger.

    Beyond that (e.g. mask_size=(10**9, 10**9)) the resampling maps alone would take gigabytes.
    """
    limit = max(int(original_size[0]) * int(original_size[1]), DEFAULT_MAX_PIXELS)
    pixels = int(output_size[0]) * int(output_size[1])
    if pixels > limit:
        raise InvalidInputError(
            f"mask size {int(output_size[0])}x{int(output_size[1])} is {pixels:,} pixels, above the limit of {limit:,} "
            f"(the image's or {DEFAULT_MAX_PIXELS:,} pixels, whichever is larger); ask for a smaller mask_size"
        )


class MaskUpscaler:
    """Resamples [..., 256, 256] low-res logits to [..., H, W] for one image's geometry.

    ``original_size`` (H, W) and ``input_size`` (h, w, the image resized to a longest side of
    ``image_size``) fix the crop; ``output_size`` (default ``original_size``) is the frame of the
    result, e.g. a display size: the crop is then resampled straight to it.
    """

    def __init__(
        self,
        original_size: tuple[int, int],
        input_size: tuple[int, int],
        image_size: int = 1024,
        low_res_size: int = 256,
        output_size: tuple[int, int] | None = None,
    ) -> None:
        output_size = tuple(output_size) if output_size is not None else tuple(original_size)
        if len(output_size) != 2 or min(output_size) < 1:
            raise InvalidInputError(f"output size must be (height, width) with both >= 1; got {output_size}")
        _check_output_pixels(output_size, original_size)
        rows, cols = mask_upscale_matrices(output_size, input_size, image_size, low_res_size)
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.low_res_size = low_res_size
        self._row_blocks = _blocks(rows)
        self._col_blocks = _blocks(cols)
        self._row_reach = _reach(rows)
        self._col_reach = _reach(cols)

    def logits(self, low_res: np.ndarray) -> np.ndarray:
        """float32 [..., L, L] -> float32 [..., H, W] logits (threshold at 0.0 for masks)."""

        def rows(across: np.ndarray, out: np.ndarray) -> None:
            for block in self._row_blocks:
                np.matmul(block.weights, across[:, block.first : block.last], out=out[:, block.start : block.stop])

        return self._in_groups(low_res, np.float32, rows)

    def masks(self, low_res: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """bool [..., H, W]: the upscaled logits above ``threshold`` (SAM's mask_threshold is 0.0).

        Thresholds block by block, so the full float32 logits are never held in memory.
        """

        def rows(across: np.ndarray, out: np.ndarray) -> None:
            for block in self._row_blocks:
                np.greater(
                    block.weights @ across[:, block.first : block.last], threshold, out=out[:, block.start : block.stop]
                )

        return self._in_groups(low_res, np.bool_, rows)

    def _in_groups(self, low_res: np.ndarray, dtype, rows: Callable[[np.ndarray, np.ndarray], None]) -> np.ndarray:
        """[..., L, L] -> [..., H, W] of ``dtype``: the column pass, then ``rows(across [g, L, W], out [g, H, W])``,
        on groups of g masks whose intermediate fits GROUP_BYTES."""
        low_res = self._checked(low_res)
        flat = low_res.reshape((-1,) + low_res.shape[-2:])
        out = np.empty((flat.shape[0],) + self.output_size, dtype=dtype)
        group = max(1, GROUP_BYTES // (self.low_res_size * self.output_size[1] * 4))
        for start in range(0, flat.shape[0], group):
            rows(self._columns(flat[start : start + group]), out[start : start + group])
        return out.reshape(low_res.shape[:-2] + self.output_size)

    def cost(self, masks: int) -> tuple[float, float]:
        """(FLOPs, bytes) of ``masks()`` on ``masks`` low-res masks: the blocks' matmuls, and the traffic of
        reading the low-res logits, writing and re-reading the [L, W] intermediate and writing the bool
        masks. The benchmark's roofline uses it as the floor of the upscaling step."""
        size, rows_read, (height, width) = self.low_res_size, self._row_reach[0], self.output_size
        column_macs = sum((b.stop - b.start) * (b.last - b.first) for b in self._col_blocks) * rows_read
        row_macs = sum((b.stop - b.start) * (b.last - b.first) for b in self._row_blocks) * width
        flops = 2.0 * masks * (column_macs + row_macs)
        moved = masks * (size * size * 4 + 2 * rows_read * width * 4 + height * width)
        return flops, float(moved)

    def outer_windows(self, low_res: np.ndarray, threshold: float) -> np.ndarray:
        """int64 [M, 4] (y0, y1, x0, x1), half-open in the output frame: outside its window every
        upscaled logit of mask m is <= ``threshold``; an all-below mask gets an empty window (0, 0, 0, 0).

        Exact, from the low-res logits alone: each output value is a convex combination (non-negative
        weights) of the low-res values it reads, so it exceeds ``threshold`` only if one of them does.
        ``low_res`` float32 [M, L, L].
        """
        (rows_read, row_first, row_last), (cols_read, col_first, col_last) = self._row_reach, self._col_reach
        above = np.asarray(low_res)[:, :rows_read, :cols_read] > threshold
        windows = np.zeros((above.shape[0], 4), dtype=np.int64)
        for axis, (first, last), offset in ((2, (row_first, row_last), 0), (1, (col_first, col_last), 2)):
            hit = above.any(axis=axis)
            found = hit.any(axis=1)
            low, high = hit.argmax(axis=1), hit.shape[1] - 1 - hit[:, ::-1].argmax(axis=1)
            windows[found, offset] = first[low[found]]
            windows[found, offset + 1] = last[high[found]]
        windows[~(windows[:, 1] > windows[:, 0]) | ~(windows[:, 3] > windows[:, 2])] = 0
        return windows

    def window_inputs(self, window) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1): the low-res rows [r0, r1) and columns [c0, c1) that ``window_logits`` reads
        for ``window`` (y0, y1, x0, x1); (0, 0, 0, 0) for an empty window."""
        y0, y1, x0, x1 = (int(v) for v in window)
        if y1 <= y0 or x1 <= x0:
            return (0, 0, 0, 0)
        row_blocks, col_blocks = self._blocks_meeting(y0, y1, x0, x1)
        return (
            min(b.first for b in row_blocks),
            max(b.last for b in row_blocks),
            min(b.first for b in col_blocks),
            max(b.last for b in col_blocks),
        )

    def window_logits(self, low_res: np.ndarray, window, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """float32 [y1 - y0, x1 - x0]: ``logits(low_res)[y0:y1, x0:x1]`` of one mask, computing only
        the row and column blocks that meet the window (``window`` = (y0, y1, x0, x1), half-open).

        ``low_res`` is the [L, L] logits, or the part of them from low-res row / column ``origin`` on
        that holds ``window_inputs(window)``; the values are the same bit for bit.
        """
        y0, y1, x0, x1 = (int(v) for v in window)
        if y1 <= y0 or x1 <= x0:
            return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), dtype=np.float32)
        row_blocks, col_blocks = self._blocks_meeting(y0, y1, x0, x1)
        first, last = min(b.first for b in row_blocks), max(b.last for b in row_blocks)
        left, right = col_blocks[0].start, col_blocks[-1].stop
        rows = low_res[first - origin[0] : last - origin[0]]
        across = np.empty((last - first, right - left), dtype=np.float32)
        for block in col_blocks:
            np.matmul(
                rows[:, block.first - origin[1] : block.last - origin[1]],
                block.transposed,
                out=across[:, block.start - left : block.stop - left],
            )
        top = row_blocks[0].start
        out = np.empty((row_blocks[-1].stop - top, right - left), dtype=np.float32)
        for block in row_blocks:
            np.matmul(
                block.weights,
                across[block.first - first : block.last - first],
                out=out[block.start - top : block.stop - top],
            )
        return out[y0 - top : y1 - top, x0 - left : x1 - left]

    def _blocks_meeting(self, y0: int, y1: int, x0: int, x1: int) -> tuple[list[_Block], list[_Block]]:
        return (
            self._row_blocks[y0 // BLOCK_LINES : (y1 - 1) // BLOCK_LINES + 1],
            self._col_blocks[x0 // BLOCK_LINES : (x1 - 1) // BLOCK_LINES + 1],
        )

    def _checked(self, low_res) -> np.ndarray:
        low_res = np.asarray(low_res, dtype=np.float32)
        size = self.low_res_size
        if low_res.ndim < 2 or low_res.shape[-2:] != (size, size):
            raise InvalidInputError(f"low-res masks must have shape [..., {size}, {size}]; got {low_res.shape}")
        return low_res

    def _columns(self, low_res: np.ndarray) -> np.ndarray:
        """First pass: [g, L, L] -> [g, R, W] (the smaller intermediate: W work on L rows, not H), for
        the R low-res rows the row pass reads: the padding below the image's crop (a third of the rows
        of a landscape photo) is never resampled."""
        rows_read = self._row_reach[0]
        low_res = low_res[..., :rows_read, :]
        across = np.empty(low_res.shape[:-2] + (rows_read, self.output_size[1]), dtype=np.float32)
        for block in self._col_blocks:
            np.matmul(
                low_res[..., block.first : block.last], block.transposed, out=across[..., block.start : block.stop]
            )
        return across
