"""SYNTHETIC skin-lesion images and masks ("synthlesion"): a seeded generator for demos and tests.

These are not dermoscopy images and nothing trained on them says anything about ISIC
2017. They exist so the whole segmentation pipeline (training, DAG attack, defenses,
Tables 4-6, overlays) runs offline. Each image has:

- skin: a random skin tone with smooth, low-frequency shading and fine grain;
- a lesion: an irregular blob (a radius with random Fourier harmonics, stretched and
  rotated) with darker brown colour, internal mottling and a soft border; the mask is the
  blob itself;
- hair-like strokes: 0-3 thin dark curves (quadratic Bezier) over skin and lesion,
  which are not part of the mask;
- sensor noise.

Images are float32 in [0, 1], `(N, S, S, 3)`; masks uint8 in {0, 1}, `(N, S, S)`.
The same `seed` always gives the same images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["generate", "load", "DEFAULT_SIZES"]

# Split sizes of the "synthlesion" data set used by the zoo and `keras-rbf reproduce`.
DEFAULT_SIZES = {"train": 1024, "validation": 128, "test": 64}
# Distinct seeds per split, so no test image is a training image.
_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def _smooth_noise(rng: np.random.RandomState, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std noise with correlation length ~ `scale` pixels."""
    field = ndimage.gaussian_filter(rng.randn(size, size), sigma=scale, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-8)


def _lesion_mask(rng: np.random.RandomState, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Soft alpha `(S, S)` in [0, 1] of an irregular blob and its binary mask (alpha > 0.5)."""
    coords = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    cy, cx = rng.uniform(-0.3, 0.3, size=2)
    angle = rng.uniform(0, np.pi)
    stretch = rng.uniform(0.7, 1.3)
    dy, dx = yy - cy, xx - cx
    # Rotate then stretch, so blobs are elongated in random directions.
    u = (np.cos(angle) * dx + np.sin(angle) * dy) * stretch
    v = (-np.sin(angle) * dx + np.cos(angle) * dy) / stretch
    rho = np.hypot(u, v)
    theta = np.arctan2(v, u)
    radius = rng.uniform(0.3, 0.6) * np.ones_like(rho)
    scale = radius[0, 0]
    for k in range(2, 7):
        # Draw order (normal, then uniform) is part of the seeded data set: keep it.
        amplitude = scale * rng.normal(0, 0.18 / k)
        radius = radius + amplitude * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    softness = rng.uniform(0.01, 0.04)
    alpha = 1.0 / (1.0 + np.exp(-(radius - rho) / softness))
    return alpha, (alpha > 0.5).astype("uint8")


def _hair(rng: np.random.RandomState, size: int) -> np.ndarray:
    """Darkening map `(S, S)` in [0, 1] of 0-3 thin curved strokes."""
    canvas = np.zeros((size, size))
    for _ in range(rng.randint(0, 4)):
        p0, p1, p2 = rng.uniform(-0.1, 1.1, size=(3, 2)) * size
        t = np.linspace(0, 1, 4 * size)[:, None]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        ij = np.round(pts).astype(int)
        keep = np.all((ij >= 0) & (ij < size), axis=1)
        canvas[ij[keep, 0], ij[keep, 1]] = rng.uniform(0.5, 0.9)
    return np.clip(ndimage.gaussian_filter(canvas, 0.5) * 2.5, 0, 1)


def _one(rng: np.random.RandomState, size: int) -> tuple[np.ndarray, np.ndarray]:
    skin = np.array([0.86, 0.66, 0.55]) * rng.uniform(0.75, 1.1) + rng.normal(0, 0.03, 3)
    lesion = np.array([0.45, 0.28, 0.18]) * rng.uniform(0.6, 1.4) + rng.normal(0, 0.04, 3)
    # Low-contrast lesions make the task non-trivial: blend lesion colour toward skin.
    lesion = skin + (lesion - skin) * rng.uniform(0.35, 1.0)
    shading = 1.0 + 0.06 * _smooth_noise(rng, size, size / 6)
    grain = 0.02 * _smooth_noise(rng, size, 1.0)
    mottling = 1.0 + 0.12 * _smooth_noise(rng, size, size / 16)
    alpha, mask = _lesion_mask(rng, size)
    img = (1 - alpha)[..., None] * skin + alpha[..., None] * lesion * mottling[..., None]
    img = img * shading[..., None] + grain[..., None]
    hair = _hair(rng, size)[..., None]
    img = img * (1 - hair) + hair * np.array([0.12, 0.08, 0.06])
    img = img + rng.normal(0, 0.015, img.shape)
    return np.clip(img, 0, 1).astype("float32"), mask


def generate(num: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generates `num` SYNTHETIC lesion images and their masks.

    Args:
        num: number of images (>= 1).
        size: side of the square images, pixels (>= 8).
        seed: random seed; equal seeds give equal outputs.

    Returns:
        `(images, masks)`: float32 `(num, size, size, 3)` in [0, 1] and uint8
        `(num, size, size)` in {0, 1}.
    """
    if not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num must be a positive integer, got {num!r}")
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    rng = np.random.RandomState(seed)
    pairs = [_one(rng, int(size)) for _ in range(int(num))]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def load(
    splits: tuple[str, ...] = ("train", "validation", "test"),
    size: int = 64,
    sizes: dict[str, int] | None = None,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The SYNTHETIC "synthlesion" data set: fixed, seeded splits.

    Args:
        splits: which splits to return ("train", "validation", "test").
        size: image side in pixels.
        sizes: images per split; defaults to `DEFAULT_SIZES`.
        seed: base seed; split `s` uses `1000 * seed + index(s)`.

    Returns:
        `{split: (images, masks)}` with the arrays of `generate`.
    """
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    unknown = [s for s in splits if s not in _SPLIT_SEEDS]
    if unknown:
        raise ValueError(f"unknown synthlesion splits {unknown}; known: {sorted(_SPLIT_SEEDS)}")
    return {s: generate(sizes[s], size=size, seed=1000 * seed + _SPLIT_SEEDS[s]) for s in splits}
