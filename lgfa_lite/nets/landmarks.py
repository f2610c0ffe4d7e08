"""68-point landmarks with face_alignment's FAN (the class of 2DFAN4), in two profiles.

Lite: `LandmarkNet(num_modules=1, input_size=64, width=64)`: one hourglass a quarter as wide,
built from face_alignment's own ConvBlock/HourGlass and run by FAN's own forward, trained here
on SynthFaces heatmaps (`weights/fan-synthfaces-64`). Full: `num_modules=4, input_size=256,
width=256` is exactly face_alignment's `FAN` (2DFAN4); its
weights come from face_alignment's TorchScript file via `convert_face_alignment` (run once,
knowingly, by the user; the app itself only ever reads safetensors).

Coordinates are continuous pixels of the input image: pixel k spans [k, k+1] (the SynthFaces
convention); heatmap cell j is centred on (j + 0.5) * stride.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from face_alignment.models import FAN
from face_alignment.models.fan import ConvBlock, HourGlass
from torch import nn

from lgfa_lite.hub import register_model

from .blocks import check_images, resize


@register_model("fan-landmarks")
class LandmarkNet(nn.Module):
    def __init__(self, num_modules: int = 1, input_size: int = 64, width: int = 256):
        super().__init__()
        if input_size % 16 or width % 16:
            raise ValueError(f"input_size and width must be multiples of 16, got {input_size}, {width}")
        self.config = {"num_modules": int(num_modules), "input_size": int(input_size), "width": int(width)}
        self.input_size, self.stride = int(input_size), 4  # FAN: 2 stride-2 layers before the hourglass
        self.fan = FAN(int(num_modules)) if width == 256 else NarrowFAN(int(num_modules), int(width))

    def heatmaps(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> differentiable heatmaps (B, 68, input_size/4, input_size/4)
        of the last hourglass."""
        return self.fan(resize(check_images(images), self.input_size))[-1]

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of the base and the first hourglass (for perceptual distances)."""
        f = self.fan
        x = F.relu(f.bn1(f.conv1(resize(check_images(images), self.input_size))), True)
        x = F.avg_pool2d(f.conv2(x), 2, stride=2)
        a = f.conv3(x)
        b = f.conv4(a)
        return [a, b, f.m0(b)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> landmarks (B, 68, 2) in pixels of the given images."""
        pts = decode_heatmaps(self.heatmaps(images)) * self.stride
        return pts * pts.new_tensor([images.shape[-1] / self.input_size, images.shape[-2] / self.input_size])


class NarrowFAN(FAN):
    """face_alignment's FAN with `width` features instead of 256 (same layer names, same
    forward). On a 2-core CPU the 256-wide hourglass trains at a few images per second."""

    def __init__(self, num_modules: int = 1, width: int = 64):
        nn.Module.__init__(self)
        self.num_modules, w = num_modules, width
        self.conv1 = nn.Conv2d(3, w // 4, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(w // 4)
        self.conv2 = ConvBlock(w // 4, w // 2)
        self.conv3 = ConvBlock(w // 2, w // 2)
        self.conv4 = ConvBlock(w // 2, w)
        for i in range(num_modules):
            self.add_module(f"m{i}", HourGlass(1, 4, w))
            self.add_module(f"top_m_{i}", ConvBlock(w, w))
            self.add_module(f"conv_last{i}", nn.Conv2d(w, w, 1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(w))
            self.add_module(f"l{i}", nn.Conv2d(w, 68, 1))
            if i < num_modules - 1:
                self.add_module(f"bl{i}", nn.Conv2d(w, w, 1))
                self.add_module(f"al{i}", nn.Conv2d(68, w, 1))


def inter_ocular(landmarks: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) -> (B,) distance between the outer eye corners (iBUG 36 and 45): the NME unit."""
    return (landmarks[:, 36] - landmarks[:, 45]).norm(dim=-1)


def decode_heatmaps(hm: torch.Tensor, window: int = 5) -> torch.Tensor:
    """Sub-pixel peaks (B, K, 2) in heatmap cells (x, y): the weighted mean of the positive
    heatmap in a window around the arg-max (differentiable in the heatmap values)."""
    B, K, h, w = hm.shape
    flat = hm.reshape(B, K, -1)
    idx = flat.argmax(-1)
    cy, cx = (idx // w), (idx % w)
    r = window // 2
    off = torch.arange(-r, r + 1, device=hm.device)
    ys = (cy[..., None] + off).clamp(0, h - 1)  # (B, K, win)
    xs = (cx[..., None] + off).clamp(0, w - 1)
    lin = (ys[..., :, None] * w + xs[..., None, :]).reshape(B, K, -1)
    vals = torch.gather(flat, 2, lin).clamp(min=0) + 1e-8
    px = xs[..., None, :].expand(-1, -1, len(off), -1).reshape(B, K, -1).float() + 0.5
    py = ys[..., :, None].expand(-1, -1, -1, len(off)).reshape(B, K, -1).float() + 0.5
    total = vals.sum(-1)
    return torch.stack([(vals * px).sum(-1) / total, (vals * py).sum(-1) / total], -1)


def target_heatmaps(points: torch.Tensor, size: int, stride: int, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian heatmaps (B, K, size, size) peaking at `points` (B, K, 2) given in input pixels."""
    centres = torch.arange(size, dtype=points.dtype, device=points.device) + 0.5
    p = points / stride
    gx = torch.exp(-((centres - p[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, K, size)
    gy = torch.exp(-((centres - p[..., 1:2]) ** 2) / (2 * sigma**2))
    return gy[..., :, None] * gx[..., None, :]


def soft_argmax(hm: torch.Tensor, beta: float = 10.0) -> torch.Tensor:
    """Differentiable global expectation of softmax(beta * hm): (B, K, 2) in heatmap cells."""
    B, K, h, w = hm.shape
    prob = F.softmax(hm.reshape(B, K, -1) * beta, -1).view(B, K, h, w)
    xs = torch.arange(w, dtype=hm.dtype, device=hm.device) + 0.5
    ys = torch.arange(h, dtype=hm.dtype, device=hm.device) + 0.5
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)


def convert_face_alignment(path, out_folder, num_modules: int = 4, input_size: int = 256) -> Path:
    """Convert face_alignment's 2DFAN4 TorchScript file (e.g. ``2DFAN4-cd938726ad.zip`` from its
    model zoo) into a `LandmarkNet` checkpoint folder (safetensors). Run once, on a file you
    downloaded yourself: TorchScript archives are code, so only load files you trust."""
    from lgfa_lite import hub

    scripted = torch.jit.load(str(path), map_location="cpu")
    net = LandmarkNet(num_modules=num_modules, input_size=input_size)
    net.fan.load_state_dict(scripted.state_dict(), strict=True)
    return hub.save(
        net,
        out_folder,
        card={
            "description": f"face_alignment 2DFAN{num_modules}, converted from {Path(path).name}.",
            "tags": ["full-profile"],
            "task": "face-landmarks",
        },
    )
