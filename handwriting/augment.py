"""Seeded training distortions of a normalized line (float32 H x W, ink 1, paper 0).

Every function takes an explicit ``np.random.Generator``; the height of the line never changes,
so augmentation can follow the shared preprocessing without touching it.
"""

from __future__ import annotations

import cv2
import numpy as np


def affine(
    line: np.ndarray,
    rng: np.random.Generator,
    rotate: float = 1.5,
    shear: float = 0.3,
    stretch: tuple[float, float] = (0.8, 1.2),
) -> np.ndarray:
    """Small rotation, slant and horizontal stretch; output keeps the input height."""
    h, w = line.shape
    sx = rng.uniform(*stretch)
    sh = rng.uniform(-shear, shear)
    a = np.deg2rad(rng.uniform(-rotate, rotate))
    m = np.array([[sx * np.cos(a), -np.sin(a) + sh, 0.0], [np.sin(a), np.cos(a), 0.0]], np.float32)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float32) @ m.T
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    m[0, 2], m[1, 2] = -x0, -y0
    out = cv2.warpAffine(
        line,
        m,
        (int(np.ceil(x1 - x0)) + 1, int(np.ceil(y1 - y0)) + 1),
        flags=cv2.INTER_LINEAR,
        borderValue=0,
    )
    return cv2.resize(out, (max(4, out.shape[1]), h), interpolation=cv2.INTER_AREA)


def elastic(
    line: np.ndarray, rng: np.random.Generator, alpha: float = 1.5, grid: int = 12
) -> np.ndarray:
    """Smooth random displacement field (coarse grid noise, upsampled), ``alpha`` pixels."""
    h, w = line.shape
    gh, gw = max(2, h // grid), max(2, w // grid)
    dx = cv2.resize(
        rng.normal(0, alpha, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    dy = cv2.resize(
        rng.normal(0, alpha, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(line, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)


def stroke(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thinner or thicker strokes (grayscale erosion / dilation with a 2x2 or 3x3 kernel)."""
    k = np.ones((int(rng.integers(2, 4)),) * 2, np.uint8)
    return cv2.dilate(line, k) if rng.random() < 0.5 else cv2.erode(line, k)


def blur(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(line, (0, 0), rng.uniform(0.3, 1.0))


def noise(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return line + rng.normal(0, rng.uniform(0.02, 0.08), line.shape).astype(np.float32)


def contrast(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fainter ink and a slightly grey background."""
    return line * rng.uniform(0.6, 1.0) + rng.uniform(0.0, 0.1)


def augment(line: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Apply each distortion with probability ``p``; returns float32 in [0, 1], same height."""
    out = line.astype(np.float32, copy=True)
    if rng.random() < p:
        out = affine(out, rng)
    if rng.random() < p:
        out = elastic(out, rng)
    if rng.random() < p * 0.6:
        out = stroke(out, rng)
    if rng.random() < p * 0.6:
        out = blur(out, rng)
    if rng.random() < p * 0.6:
        out = contrast(out, rng)
    if rng.random() < p * 0.6:
        out = noise(out, rng)
    return np.clip(out, 0, 1).astype(np.float32)
