"""Temporal smoothing of tracked signals (landmark tracks of a driving video, per-frame codes).

`one_euro` is the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012): an exponential
low-pass whose cut-off frequency rises with the signal's speed, so a still signal is smoothed
hard (detector jitter goes) and a fast one lags little (motions keep their timing). Every
element of a frame (each landmark coordinate) is filtered on its own.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _alpha(cutoff, rate: float):
    """Smoothing factor of an exponential low-pass with `cutoff` Hz sampled at `rate` Hz."""
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


def one_euro(x, fps: float = 25.0, min_cutoff: float = 1.0, beta: float = 0.2, d_cutoff: float = 1.0):
    """Filter a sequence x (T, ...) along its first axis; returns the same type and shape.

    min_cutoff (Hz): the cut-off when the signal is still (lower = smoother, more lag).
    beta: how much the cut-off grows with speed (|dx/dt| in x's units per second; higher = less
    lag on fast moves). d_cutoff (Hz): the low-pass on the speed estimate. Frame 0 is kept.
    """
    if not fps > 0 or not min_cutoff > 0 or not d_cutoff > 0 or not beta >= 0:
        raise ValueError(
            f"one_euro needs fps, min_cutoff, d_cutoff > 0 and beta >= 0; got {fps}, {min_cutoff}, {d_cutoff}, {beta}"
        )
    is_numpy = isinstance(x, np.ndarray)
    t = torch.as_tensor(x, dtype=torch.float64)
    if t.dim() == 0 or len(t) == 0:
        raise ValueError(f"one_euro filters a sequence (T, ...), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError("one_euro: the sequence contains NaN or infinite values")
    out = torch.empty_like(t)
    out[0] = prev = t[0]
    speed = torch.zeros_like(t[0])
    a_d = _alpha(d_cutoff, fps)
    for i in range(1, len(t)):
        speed = speed + a_d * ((t[i] - prev) * fps - speed)
        a = _alpha(min_cutoff + beta * speed.abs(), fps)
        prev = prev + a * (t[i] - prev)
        out[i] = prev
    if is_numpy:
        return out.numpy().astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
    return out.to(x.dtype if torch.is_tensor(x) and x.is_floating_point() else torch.float32)
