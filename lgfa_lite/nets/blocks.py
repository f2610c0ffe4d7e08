"""Small building blocks shared by the lite perception nets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_images(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Validate a (B, 3, H, W) float batch in [0, 1]; clear errors instead of shape tracebacks."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor (B, 3, H, W) in [0, 1], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{what} must have shape (B, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{what} must be floating point in [0, 1], got {images.dtype}")
    if min(images.shape[2:]) < 8:
        raise ValueError(f"{what} are too small: {tuple(images.shape[2:])}")
    return images


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Square-resize (differentiable, antialiased when shrinking); identity when already `size`."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=images.shape[-1] > size
    )


LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601: Y = 0.299 R + 0.587 G + 0.114 B
CB_SCALE, CR_SCALE = 0.564, 0.713  # Cb = 0.564 (B - Y), Cr = 0.713 (R - Y)


def luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, H, W) its brightness Y (ITU-R BT.601)."""
    wr, wg, wb = LUMA_WEIGHTS
    return wr * images[:, 0] + wg * images[:, 1] + wb * images[:, 2]


def chroma(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 2, H, W) its colour without its brightness: CbCr (ITU-R BT.601)."""
    y = luma(images)
    return torch.stack([CB_SCALE * (images[:, 2] - y), CR_SCALE * (images[:, 0] - y)], 1)


def from_luma_chroma(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """The inverse: Y (B, H, W) and CbCr (B, 2, H, W) -> RGB (B, 3, H, W)."""
    wr, wg, wb = LUMA_WEIGHTS
    r, b = y + cbcr[:, 1] / CR_SCALE, y + cbcr[:, 0] / CB_SCALE
    return torch.stack([r, (y - wr * r - wb * b) / wg, b], 1)


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class ConvEncoder(nn.Module):
    """A small ResNet: stride-2 stem, one stride-2 residual block per stage, global average
    pool. (A full-resolution stem was 10-40x slower to train here: its big activations make
    the CPU's memory traffic, not arithmetic, the bottleneck.) `features=True` also returns
    each stage's feature map (for perceptual use)."""

    def __init__(self, channels=(32, 64, 128, 256), in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, 2, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU()
        )
        self.stages = nn.ModuleList(ResidualBlock(a, b, 2) for a, b in zip(channels[:-1], channels[1:]))
        self.out_channels = channels[-1]

    def forward(self, x, features: bool = False):
        x = self.stem(x * 2 - 1)  # images in [0, 1] -> centred
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        pooled = x.mean((2, 3))
        return (pooled, maps) if features else pooled


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> images in [0, 1]."""
    return (images.clamp(-1, 1) + 1) / 2
