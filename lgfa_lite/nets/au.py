"""Action-unit regressor: image -> AU intensities in [0, 1] for the SynthFaces AU set.

Lite profile: a small ResNet trained here on SynthFaces AU labels (`weights/au-synthfaces-64`).
Full profile: any AU model the user points at, wrapped to the same call (images in [0, 1] ->
(B, len(au_names)) in [0, 1]); `AURegressor` with a wider config is one such model.
"""

from __future__ import annotations

import torch
from torch import nn

from lgfa_lite.hub import register_model
from lgfa_lite.synthface import AU_NAMES

from .blocks import ConvEncoder, check_images, resize


@register_model("au-regressor")
class AURegressor(nn.Module):
    def __init__(self, input_size: int = 64, channels=(32, 64, 128, 256), au_names=tuple(AU_NAMES)):
        super().__init__()
        self.config = {"input_size": int(input_size), "channels": list(channels), "au_names": list(au_names)}
        self.input_size, self.au_names = int(input_size), list(au_names)
        self.encoder = ConvEncoder(tuple(channels))
        self.head = nn.Linear(channels[-1], len(au_names))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(resize(check_images(images), self.input_size)))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's feature map (for perceptual distances)."""
        return self.encoder(resize(check_images(images), self.input_size), features=True)[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, n_aus) in [0, 1]; differentiable (usable as a loss)."""
        return torch.sigmoid(self.logits(images))
