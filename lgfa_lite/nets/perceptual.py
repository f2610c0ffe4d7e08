"""Perceptual distance between images, in two profiles behind one call: d(x, y) -> (B,).

Full: `lpips.LPIPS(net="alex")` with its ImageNet-pretrained trunk (torchvision fetches the
AlexNet weights on first use; lpips ships its own linear-layer weights).
Lite (declared fallback): no ImageNet trunk exists offline, so the distance is LPIPS's
formula -- unit-normalised channels, squared difference, spatial mean, averaged over layers --
on the feature maps of the lite landmark net (geometry- and expression-sensitive) and
identity net (appearance-sensitive), both trained on SynthFaces. Logged once when built.
Any module with `features(images) -> list of maps` can serve as a trunk.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from .blocks import check_images

log = logging.getLogger(__name__)
LITE_TRUNKS = ("fan-synthfaces-64", "identity-synthfaces-64")
_announced = False


class PerceptualDistance(nn.Module):
    def __init__(self, profile: str = "lite", *, trunks: list[nn.Module] | None = None, weights_dir=None):
        super().__init__()
        if profile not in ("lite", "full"):
            raise ValueError(f"profile must be 'lite' or 'full', got {profile!r}")
        self.profile = profile
        if profile == "full":
            import lpips

            self.lpips = lpips.LPIPS(net="alex", verbose=False)
            self.trunks = nn.ModuleList()
        else:
            if trunks is None:
                from lgfa_lite import hub

                trunks = [hub.load(name, weights_dir=weights_dir) for name in LITE_TRUNKS]
            self.trunks = nn.ModuleList(trunks)
            global _announced
            if not _announced:
                log.warning(
                    "perceptual distance (lite profile): LPIPS-style distance on the features of the lite "
                    "landmark and identity nets; pretrained LPIPS needs the full profile"
                )
                _announced = True
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True):  # a loss network: always in eval mode (fixed BatchNorm statistics)
        return super().train(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_images(x, "x"), check_images(y, "y")
        if self.profile == "full":
            return self.lpips(x * 2 - 1, y * 2 - 1).flatten()
        total, layers = x.new_zeros(x.shape[0]), 0
        for trunk in self.trunks:
            for a, b in zip(trunk.features(x), trunk.features(y)):
                a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                total = total + (a - b).pow(2).sum(1).mean((1, 2))
                layers += 1
        return total / layers
