"""The GDPW training recipe (`lgfa_lite.methods.gdpw.train` runs it).

Pairs: two renders of one training identity (its shape, colours, light and background) with
independent expression, jaw, pose and camera -- the SynthFaces stand-in for two frames of one
VoxCeleb clip, with the exact driving frame as ground truth. The guidance comes from the true
parameters. Augmentation: horizontal flip (images and guidance maps together) and colour jitter
(the same for both frames of a pair).

Losses (`loss_weights`, the original's): L1 x10, perceptual pyramid x10 (the lite perceptual
distance at 64 and 32 px), feature matching x10 and LSGAN x1 from a PatchGAN on (image, driving
guidance), and a warp loss x10 -- here L1 between the source warped by each level's flow and the
driving frame at that level's size (the lite perceptual trunks read 64 px faces only).
Adam lr 2e-4, betas (0.9, 0.999). The generator goes to `out_dir` (default weights/gdpw-synthfaces-64).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite import hub
from lgfa_lite.methods.gdpw import (
    WEIGHTS,
    GDPWConfig,
    GDPWGenerator,
    GDPWPipeline,
    Guidance,
    driving_geometry,
    rasterize_pair,
    warp,
)
from lgfa_lite.nets.perceptual import PerceptualDistance
from lgfa_lite.synthface import FaceParams, identities, render
from lgfa_lite.train.loop import TrainLoop


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4 strided 4x4 conv blocks and a 1-channel realness map; returns every block's
    features for feature matching (the last entry is the map)."""

    def __init__(self, in_channels: int = 6, channels=(32, 64, 128, 256)):
        super().__init__()
        layers, cin = [], in_channels
        for i, c in enumerate(channels):
            norm = nn.InstanceNorm2d(c) if i > 0 else nn.Identity()
            layers.append(nn.Sequential(nn.Conv2d(cin, c, 4, 2, 1), norm, nn.LeakyReLU(0.2)))
            cin = c
        layers.append(nn.Conv2d(cin, 1, 3, 1, 1))
        self.layers = nn.ModuleList(layers)

    def forward(self, image, guide):
        h, feats = torch.cat([image * 2 - 1, guide], 1), []
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
        return feats


def sample_pairs(batch: int, g: torch.Generator, resolution: int, world=None, split: str = "train"):
    """(source params, driving params, source image, driving image) for `batch` identities of `split`."""
    pool = _pool(split)
    ids = [pool[i] for i in torch.randint(len(pool), (batch,), generator=g).tolist()]
    source = FaceParams.sample(batch, generator=g, identities=ids)
    driving = driving_geometry(source, FaceParams.sample(batch, generator=g))
    images = render(FaceParams.cat([source, driving]), resolution, world=world).image
    return source, driving, images[:batch], images[batch:]


@functools.lru_cache(maxsize=None)
def _pool(split: str) -> list[int]:
    return identities(split, 4096 if split == "train" else 512)


def augment(g: torch.Generator, strength: float, guidance: Guidance, *images):
    """Flip half the batches (images and guidance maps together) and jitter colours per pair."""
    if torch.rand((), generator=g) < 0.5:
        images = [im.flip(-1) for im in images]
        for k in ("mask", "mask_source"):
            guidance[k] = guidance[k].flip(-1)
        flow = guidance["flow"].flip(-1)
        guidance["flow"] = torch.cat([-flow[:, :1], flow[:, 1:]], 1)
        guidance["flip"] = True
    B = images[0].shape[0]
    gain = 1 + strength * (torch.rand(B, 1, 1, 1, generator=g) * 2 - 1)
    shift = strength * 0.5 * (torch.rand(B, 3, 1, 1, generator=g) * 2 - 1)
    return [(im * gain + shift).clamp(0, 1) for im in images]


def lsgan_d(real_out, fake_out):
    return ((real_out - 1) ** 2).mean() + (fake_out**2).mean()


def feature_matching(real_feats, fake_feats):
    return sum((f - r.detach()).abs().mean() for r, f in zip(real_feats[:-1], fake_feats[:-1])) / (len(real_feats) - 1)


def warp_loss(source, target, flows):
    """L1 between the source warped by each level's flow and the target at that level's size."""
    total = 0.0
    for flow in flows:
        s = flow.shape[-1]
        src, tgt = F.adaptive_avg_pool2d(source, s), F.adaptive_avg_pool2d(target, s)
        total = total + (warp(src, flow) - tgt).abs().mean()
    return total / len(flows)


def perceptual_pyramid(perceptual, fake, real):
    half = [
        F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear", align_corners=False) for x in (fake, real)
    ]
    return (perceptual(fake, real).mean() + perceptual(*half).mean()) / 2


def disc_guide(guidance: Guidance) -> torch.Tensor:
    return torch.cat([guidance["mask"], guidance["flow"] * 8.0], 1)


def train(config: GDPWConfig) -> tuple[GDPWPipeline, list[dict]]:
    c, w = config, {**config.loss_weights}
    torch.manual_seed(c.seed)
    G = GDPWGenerator(c.resolution, c.guidance, c.channels, c.code_dim, world=c.synthfaces)
    D = PatchDiscriminator(3 + 3, c.critic_channels)
    opt_g = torch.optim.Adam(G.parameters(), c.lr, betas=tuple(c.betas))
    opt_d = torch.optim.Adam(D.parameters(), c.lr, betas=tuple(c.betas))
    perceptual = PerceptualDistance("lite") if w.get("perceptual", 0) > 0 else None
    loop = TrainLoop(c, {"G": G, "D": D}, {"G": opt_g, "D": opt_d})
    for _ in loop:
        source, driving, src_img, drv_img = sample_pairs(c.batch, loop.generator, c.resolution, c.synthfaces)
        guidance = rasterize_pair(source, driving, c.resolution, c.synthfaces)
        src_img, drv_img = augment(loop.generator, c.colour_jitter, guidance, src_img, drv_img)
        fake, flows = G(src_img, guidance)
        guide = disc_guide(guidance)
        logs = {"l1": (fake - drv_img).abs().mean()}
        loss = w["l1"] * logs["l1"]
        if perceptual is not None:
            logs["perceptual"] = perceptual_pyramid(perceptual, fake, drv_img)
            loss = loss + w["perceptual"] * logs["perceptual"]
        if w.get("warp", 0) > 0:
            logs["warp"] = warp_loss(src_img, drv_img, flows)
            loss = loss + w["warp"] * logs["warp"]
        if w.get("gan", 0) > 0 or w.get("feature_matching", 0) > 0:
            D.requires_grad_(False)
            fake_feats, real_feats = D(fake, guide), D(drv_img, guide)
            D.requires_grad_(True)
            logs["g_gan"] = ((fake_feats[-1] - 1) ** 2).mean()
            logs["feature_matching"] = feature_matching(real_feats, fake_feats)
            loss = loss + w["gan"] * logs["g_gan"] + w["feature_matching"] * logs["feature_matching"]
        loop.step(opt_g, loss, G, clip=None)
        if w.get("gan", 0) > 0:
            d_loss = lsgan_d(D(drv_img, guide)[-1], D(fake.detach(), guide)[-1])
            loop.step(opt_d, d_loss, D, clip=None)
            logs["d"] = d_loss
        loop.log(**logs)
    G.eval()
    if loop.is_main:
        last = loop.history[-1] if loop.history else {}
        hub.save(
            G,
            c.out_dir or hub.default_weights_dir() / WEIGHTS,
            dtype=torch.float16,  # the reenactment metrics read the same in fp16; half the size
            card={
                "name": WEIGHTS,
                "description": f"GDPW generator (lite profile, {c.resolution} px, guidance `{c.guidance}`): "
                "geometry-driven progressive warping on the SynthFaces morphable model. Stored in fp16.",
                "metrics": {"train_minutes": round(loop.minutes, 1)},
                "training": (
                    f"`python -m lgfa_lite.methods.gdpw train` ({loop.state.step} steps, batch {c.batch}, "
                    f"{loop.minutes:.1f} min on {loop.hardware}) on SynthFaces pairs (world {c.synthfaces}); "
                    f"loss weights {w}; last logged: "
                    + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "minutes"))
                ),
                "tags": ["gdpw", "face-reenactment"],
                "dataset": "synthfaces",
            },
        )
    return GDPWPipeline(G, c.synthfaces), loop.history
