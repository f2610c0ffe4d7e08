"""e4e-style encoder: image -> W+ of a StyleGAN2 generator.

As e4e (Tov et al. 2021): the code is w_avg + one base offset shared by every layer + a
per-layer delta; training regularises the deltas towards zero so the codes stay near W,
where editing works. Lite backbone: the shared small ResNet; its last 4x4 feature map is
flattened (keeps where things are, which pooled features lose) and mapped by linear heads.
"""

from __future__ import annotations

import torch
from torch import nn

from lgfa_lite import hub
from lgfa_lite.hub import register_model

from .blocks import ConvEncoder, check_images, resize, to_unit

ENCODER_WEIGHTS = "encoder-synthfaces-64"  # the lite encoder for stylegan2-synthfaces-64


@register_model("w-plus-encoder")
class LatentEncoder(nn.Module):
    def __init__(
        self,
        n_latent: int = 10,
        style_dim: int = 128,
        input_size: int = 64,
        channels=(32, 64, 128, 256),
        hidden: int = 512,
    ):
        super().__init__()
        self.config = {
            "n_latent": n_latent,
            "style_dim": style_dim,
            "input_size": input_size,
            "channels": list(channels),
            "hidden": hidden,
        }
        self.n_latent, self.style_dim, self.input_size = n_latent, style_dim, input_size
        self.backbone = ConvEncoder(tuple(channels))
        side = input_size // 2 ** len(channels)
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * side * side, hidden), nn.LeakyReLU(0.2))
        self.to_base = nn.Linear(hidden, style_dim)
        self.to_deltas = nn.Linear(hidden, (n_latent - 1) * style_dim)
        nn.init.zeros_(self.to_deltas.weight)
        nn.init.zeros_(self.to_deltas.bias)
        self.register_buffer("w_avg", torch.zeros(style_dim))  # the generator's, set before training

    def forward(self, images: torch.Tensor, return_deltas: bool = False):
        """(B, 3, H, W) in [0, 1] -> W+ (B, n_latent, style_dim) [, deltas (B, n_latent - 1, style_dim)]."""
        x = resize(check_images(images), self.input_size)
        _, maps = self.backbone(x, features=True)
        h = self.trunk(maps[-1])
        base = self.w_avg + self.to_base(h)
        deltas = self.to_deltas(h).view(-1, self.n_latent - 1, self.style_dim)
        wplus = torch.cat([base[:, None], base[:, None] + deltas], 1)
        return (wplus, deltas) if return_deltas else wplus


def invert(
    G: nn.Module, encoder: LatentEncoder, images: torch.Tensor, refine_steps: int = 0, lr: float = 0.01, distance=None
) -> torch.Tensor:
    """Images in [0, 1] -> W+ codes: the encoder's guess, then optionally `refine_steps` of
    projector-style optimisation of W+ (L1 plus `distance(x, y) -> (B,)` if given; noise fixed)."""
    with torch.no_grad():
        wplus = encoder(images)
    if refine_steps <= 0:
        return wplus
    target = resize(images, G.size) * 2 - 1
    wplus = wplus.clone().requires_grad_(True)
    opt = torch.optim.Adam([wplus], lr=lr)
    with torch.enable_grad():
        for _ in range(refine_steps):
            out = G.synthesis(wplus)
            loss = (out - target).abs().mean()
            if distance is not None:
                loss = loss + distance(to_unit(out), images).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return wplus.detach()


def load_encoder(name: str = ENCODER_WEIGHTS) -> LatentEncoder:
    """The lite W+ encoder (a weights/ folder name, a local folder or a Hub repo id)."""
    return hub.load(name)
