"""generate_scene: one seeded dead-leaves scene with a ground-truth mask per visible instance.

Stages: pick the image size -> paint a textured background -> scatter small distractor shapes (clutter,
never instances) -> paint objects back to front, each occluding what lies below, while a label map
records which object owns each pixel -> keep instances whose visible area is large enough -> global
Gaussian blur and sensor noise on the image only (masks stay crisp).

Everything random comes from one ``numpy.random.Generator`` seeded with the scene's seed, so a seed
fully determines the scene (for a given config and sam-edge version); there is no global state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from sam_edge.runtime.errors import InvalidInputError

from .config import DEFAULT_CONFIG, SHAPE_KINDS, TEXTURE_KINDS, SceneConfig
from .effects import add_noise, blur_planes
from .shapes import ShapeMask, draw_strokes, rasterize, shape_strokes
from .textures import grain_field, lowfreq_noise, random_color, shade, texture

# If a scene ends with no instance above the minimum (only with extreme configs), draw it again from the
# same random stream, which keeps the result a pure function of the seed.
_MAX_ATTEMPTS = 8
_BACKGROUND_TEXTURES = ("flat", "stripes", "linear_gradient", "radial_gradient", "checker", "noise")


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is ambiguous; compare fields with numpy
class Scene:
    """A generated image and its instance ground truth (image frame: H rows x W columns).

    image: uint8 [H, W, 3] RGB.
    instance_masks: bool [K, H, W], K >= 1: the visible (after occlusion) pixels of each kept instance,
        back-to-front paint order; masks are pairwise disjoint.
    kinds: K shape kinds (one of SHAPE_KINDS) aligned with instance_masks.
    painted_areas: int64 [K]: pixels of each instance's whole shape inside the image, before later
        objects covered parts of it (>= the visible area; larger means occluded).
    seed: the seed that made the scene.
    """

    image: np.ndarray
    instance_masks: np.ndarray
    kinds: tuple[str, ...]
    painted_areas: np.ndarray
    seed: int

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return self.image.shape[0], self.image.shape[1]

    @property
    def visible_areas(self) -> np.ndarray:
        """int64 [K]: visible pixels per instance."""
        return self.instance_masks.reshape(len(self.kinds), -1).sum(axis=1)

    def boxes(self) -> np.ndarray:
        """float32 [K, 4]: XYXY box of each visible mask in pixels (x1, y1 exclusive), image frame."""
        out = np.zeros((len(self.kinds), 4), np.float32)
        for k, mask in enumerate(self.instance_masks):
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            out[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
        return out

    def instance_map(self) -> np.ndarray:
        """int32 [H, W]: 0 where no kept instance is visible, k + 1 on instance k."""
        labels = np.zeros(self.size, np.int32)
        for k, mask in enumerate(self.instance_masks):
            labels[mask] = k + 1
        return labels


def generate_scene(seed: int, config: SceneConfig = DEFAULT_CONFIG) -> Scene:
    """Draw the scene for `seed` (int >= 0) under `config`; same seed and config -> identical scene."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"scene seed must be an int >= 0, got {seed!r}")
    if not isinstance(config, SceneConfig):
        raise InvalidInputError(f"config must be a SceneConfig, got {type(config).__name__}")
    rng = np.random.default_rng(int(seed))
    for _ in range(_MAX_ATTEMPTS):
        scene = _draw(rng, int(seed), config)
        if scene is not None:
            return scene
    raise InvalidInputError(
        f"SceneConfig gives no instance with visible area >= the minimum in {_MAX_ATTEMPTS} tries "
        f"(seed {seed}); raise object_size or lower min_visible_pixels / min_visible_fraction"
    )


def sample_image_size(rng: np.random.Generator, config: SceneConfig) -> tuple[int, int]:
    """(H, W): long side uniform in config.long_side, aspect W/H log-uniform in config.aspect_ratio."""
    long_side = int(rng.integers(config.long_side[0], config.long_side[1] + 1))
    aspect = float(np.exp(rng.uniform(np.log(config.aspect_ratio[0]), np.log(config.aspect_ratio[1]))))
    if aspect >= 1.0:
        return max(round(long_side / aspect), 1), long_side
    return long_side, max(round(long_side * aspect), 1)


def _draw(rng: np.random.Generator, seed: int, config: SceneConfig) -> Scene | None:
    """One attempt: returns None when no instance survives the visible-area minimum."""
    height, width = sample_image_size(rng, config)
    grain = grain_field(rng, height, width)
    canvas = _background(rng, grain)
    _scatter_distractors(rng, canvas, config)
    labels = np.zeros((height, width), np.int16)  # 0 = background, i + 1 = object i
    shapes, kinds = _paint_objects(rng, canvas, labels, grain, config)
    image = _finish(rng, canvas, config)

    visible = np.bincount(labels.ravel(), minlength=len(shapes) + 1)[1:]
    minimum = max(config.min_visible_pixels, config.min_visible_fraction * height * width)
    keep = [i for i in range(len(shapes)) if visible[i] >= minimum]
    if not keep:
        return None
    masks = np.zeros((len(keep), height, width), bool)
    for k, i in enumerate(keep):
        rows, cols = shapes[i].window()
        masks[k, rows, cols] = labels[rows, cols] == i + 1
    return Scene(
        image=image,
        instance_masks=masks,
        kinds=tuple(kinds[i] for i in keep),
        painted_areas=np.array([shapes[i].area for i in keep], np.int64),
        seed=seed,
    )


def _background(rng: np.random.Generator, grain: np.ndarray) -> np.ndarray:
    """float32 [3, H, W]: a large-scale texture blended with two-colour low-frequency blotches."""
    height, width = grain.shape
    short = min(height, width)
    kind = _BACKGROUND_TEXTURES[int(rng.integers(len(_BACKGROUND_TEXTURES)))]
    canvas = texture(rng, kind, height, width, scale=short * rng.uniform(0.3, 1.0), grain=grain)
    blotches = lowfreq_noise(rng, height, width, short * rng.uniform(0.05, 0.4))
    c3, c4 = random_color(rng), random_color(rng)
    alpha = np.float32(rng.uniform(0.15, 0.6))
    canvas *= np.float32(1.0) - alpha
    layer = np.empty_like(blotches)
    for k in range(3):  # canvas += alpha * (c3 + blotches * (c4 - c3)), one plane at a time
        np.multiply(blotches, alpha * (c4[k] - c3[k]), out=layer)
        layer += alpha * c3[k]
        canvas[k] += layer
    return canvas


def _scatter_distractors(rng: np.random.Generator, canvas: np.ndarray, config: SceneConfig) -> None:
    """Paint small flat-coloured clutter shapes of every kind onto the [3, H, W] background (in place).

    They are never instances. All are drawn as labels into one 'L' image and coloured in one pass, since
    the per-shape overhead of the object path would dominate for dozens of tiny shapes.
    """
    height, width = canvas.shape[1:]
    count = int(rng.integers(config.distractor_count[0], config.distractor_count[1] + 1))
    if count == 0:
        return
    ids = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(ids)
    thin_width = _thin_width_px(config, height, width)
    for i in range(count):
        kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
        diameter = _log_uniform(rng, config.distractor_size) * min(height, width)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        draw_strokes(draw, shape_strokes(rng, kind, cx, cy, diameter / 2, thin_width), i + 1)
    palette = np.stack([random_color(rng) for _ in range(count + 1)], axis=1)  # [3, count + 1]
    ids = np.asarray(ids)
    painted = ids > 0
    for k in range(3):
        np.copyto(canvas[k], np.take(palette[k], ids), where=painted)


def _paint_objects(
    rng: np.random.Generator, canvas: np.ndarray, labels: np.ndarray, grain: np.ndarray, config: SceneConfig
) -> tuple[list[ShapeMask], list[str]]:
    """Paint the objects back to front into canvas and labels (in place); returns each painted shape.

    canvas float32 [3, H, W]; labels int16 [H, W] (0 = background, i + 1 = object i); grain float32 [H, W].
    """
    height, width = labels.shape
    shape_p = config.shape_probabilities()
    texture_p = config.texture_probabilities()
    count = int(rng.integers(config.object_count[0], config.object_count[1] + 1))
    shapes, kinds = [], []
    for _ in range(count):
        kind = SHAPE_KINDS[int(rng.choice(len(SHAPE_KINDS), p=shape_p))]
        diameter = _log_uniform(rng, config.object_size) * min(height, width)
        shape = _place(rng, kind, diameter, width, height, config)
        if shape is None:
            continue  # fell entirely outside the image
        fill_kind = TEXTURE_KINDS[int(rng.choice(len(TEXTURE_KINDS), p=texture_p))]
        _fill(rng, canvas, shape, fill_kind, diameter, config.shading_probability, grain)
        rows, cols = shape.window()
        labels[rows, cols][shape.mask] = len(shapes) + 1  # later objects overwrite: occlusion
        shapes.append(shape)
        kinds.append(kind)
    return shapes, kinds


def _place(
    rng: np.random.Generator, kind: str, diameter: float, width: int, height: int, config: SceneConfig
) -> ShapeMask | None:
    """Rasterise a `kind` shape of ~`diameter` px centred anywhere in the image (or just beyond its edge)."""
    cx = rng.uniform(-0.05, 1.05) * width
    cy = rng.uniform(-0.05, 1.05) * height
    strokes = shape_strokes(rng, kind, cx, cy, diameter / 2, _thin_width_px(config, height, width))
    return rasterize(strokes, width, height)


def _fill(
    rng: np.random.Generator,
    canvas: np.ndarray,
    shape: ShapeMask,
    kind: str,
    scale: float,
    shading: float,
    grain: np.ndarray,
) -> None:
    """Texture the shape's bbox and copy it onto the [3, H, W] canvas where the mask is set (in place)."""
    h, w = shape.mask.shape
    rows, cols = shape.window()
    fill = texture(rng, kind, h, w, scale, grain=grain[rows, cols])
    if rng.random() < shading:
        fill = shade(rng, fill)
    np.copyto(canvas[:, rows, cols], fill, where=shape.mask)


def _finish(rng: np.random.Generator, canvas: np.ndarray, config: SceneConfig) -> np.ndarray:
    """uint8 [H, W, 3] from the float [3, H, W] canvas: Gaussian blur (optics), then sensor noise."""
    sigma = rng.uniform(*config.blur_sigma)
    if sigma >= 0.2:  # below this the blur changes no pixel by a visible amount
        blur_planes(canvas, sigma)
    noise_std = rng.uniform(*config.noise_std)
    if noise_std >= 0.5:
        add_noise(rng, canvas, noise_std)
    np.clip(canvas, 0, 255, out=canvas)
    image = np.empty(canvas.shape[1:] + (3,), np.uint8)
    for k in range(3):  # interleave plane by plane: far cheaper than a transposed copy
        image[:, :, k] = canvas[k]
    return image


def _thin_width_px(config: SceneConfig, height: int, width: int) -> tuple[float, float]:
    short = min(height, width)
    return config.thin_width[0] * short, config.thin_width[1] * short


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))
