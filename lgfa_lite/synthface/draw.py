"""Landmark overlays."""

from __future__ import annotations

import numpy as np

# iBUG 68 groups, each its own colour: jaw, brows, nose, eyes, lips.
_GROUPS = [
    (0, 17, (255, 200, 0)),
    (17, 27, (255, 90, 40)),
    (27, 36, (80, 160, 255)),
    (36, 48, (60, 230, 90)),
    (48, 68, (240, 60, 200)),
]


def draw_landmarks(image: np.ndarray, landmarks, visibility=None, radius: int | None = None) -> np.ndarray:
    """uint8 (H, W, 3) + (68, 2) pixel coordinates -> a copy with dots; hidden points hollow/grey."""
    img = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[..., :3]).copy()
    pts = np.asarray(landmarks, dtype=np.float64)
    vis = np.ones(len(pts), bool) if visibility is None else np.asarray(visibility, bool)
    H, W = img.shape[:2]
    r = radius if radius is not None else max(0, round(W / 200))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (xx**2 + yy**2) <= r * r + 0.5
    for lo, hi, colour in _GROUPS:
        for i in range(lo, min(hi, len(pts))):
            x, y = int(np.floor(pts[i, 0])), int(np.floor(pts[i, 1]))
            c = colour if vis[i] else (150, 150, 150)
            ys, xs = y + yy[disk], x + xx[disk]
            ok = (ys >= 0) & (ys < H) & (xs >= 0) & (xs < W)
            img[ys[ok], xs[ok]] = c
    return img
