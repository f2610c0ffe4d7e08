"""Temporal smoothing of per-frame signals (landmarks, pose, expression parameters).

`one_euro` is the One-Euro filter (Casiez et al. 2012): a low-pass filter whose cut-off rises
with the signal's speed, so slow jitter is removed while fast motion keeps little lag. GDPW's
demo smooths the fitted expression, pose and camera of a driving video with it (min_cutoff 0.5,
beta 0, as the original).
"""

from __future__ import annotations

import math

import torch


def _alpha(cutoff: torch.Tensor | float, fps: float) -> torch.Tensor | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


def one_euro(
    signal: torch.Tensor, fps: float = 25.0, min_cutoff: float = 0.5, beta: float = 0.0, d_cutoff: float = 1.0
) -> torch.Tensor:
    """Filter a sequence (T, ...) along its first axis; every other entry is filtered on its own.
    Frame 0 is returned unchanged. Cut-offs in Hz, `fps` the frame rate."""
    x = torch.as_tensor(signal, dtype=torch.float32)
    if x.dim() == 0 or len(x) == 0:
        raise ValueError("one_euro needs a sequence with at least one frame")
    if not (fps > 0 and min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
        raise ValueError(
            f"one_euro needs fps, min_cutoff, d_cutoff > 0 and beta >= 0 (got {fps}, {min_cutoff}, {d_cutoff}, {beta})"
        )
    out = [x[0]]
    speed = torch.zeros_like(x[0])
    a_d = _alpha(d_cutoff, fps)
    for t in range(1, len(x)):
        raw_speed = (x[t] - out[-1]) * fps
        speed = a_d * raw_speed + (1 - a_d) * speed
        a = _alpha(min_cutoff + beta * speed.abs(), fps)
        out.append(a * x[t] + (1 - a) * out[-1])
    return torch.stack(out)
