"""The GANimation training recipe (`lgfa_lite.methods.ganimation.train` runs it).

The critic has a PatchGAN head (WGAN-GP) and an AU-regression head. The target AUs of an
edit are another training face's AUs (+ U(-0.1, 0.1) noise). The original trains unpaired
(CelebA has no pairs); SynthFaces has the same face, pose and light rendered with the target
AUs, and `loss_weights.paired` (L1 to that render), `.paired_perceptual` (the lite perceptual
distance to it, on the v1 landmark and identity nets' features) and `.paired_mask`
(the attention mask towards where the pair differs, `pair_mask`) use it; all 0 = the original recipe.
Losses (`loss_weights`): WGAN-GP, AU regression, cycle, attention saturation and smoothness; the lr
decays linearly over the run after `decay_start`; `critic_warmup` critic-only steps come first.
Under `torchrun` every rank draws its own batches (`TrainLoop`). The generator goes to `out_dir`
(default weights/ganimation-synthfaces-64) with its model card.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite import hub
from lgfa_lite.methods.ganimation import (
    LOSS_WEIGHTS,
    WEIGHTS,
    GANimationConfig,
    GANimationPipeline,
    Generator,
    mask_saturated,
)
from lgfa_lite.synthface import N_AUS
from lgfa_lite.train.loop import TrainLoop, linear_decay_lr

log = logging.getLogger(__name__)


class Critic(nn.Module):
    """Strided 4x4 convs (leaky ReLU 0.01); PatchGAN realness map and AU regression heads."""

    def __init__(self, image_size: int = 64, n_aus: int = N_AUS, conv_dim: int = 64, depth: int = 4):
        super().__init__()
        layers, d = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)], conv_dim
        for _ in range(1, depth):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            d *= 2
        self.main = nn.Sequential(*layers)
        self.patch = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.au = nn.Conv2d(d, n_aus, image_size // 2**depth, bias=False)

    def forward(self, images: torch.Tensor):
        h = self.main(images * 2 - 1)
        return self.patch(h), self.au(h).flatten(1)


# ----------------------------------------------------------------------------- losses


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out, _ = critic(mix)
    (grad,) = torch.autograd.grad(out.sum(), mix, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def attention_losses(attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Saturation (mean A, penalised: without it A saturates to 1, i.e. no edit) and smoothness
    (total variation of A)."""
    tv = (attention[..., 1:, :] - attention[..., :-1, :]).pow(2).mean() + (
        attention[..., :, 1:] - attention[..., :, :-1]
    ).pow(2).mean()
    return attention.mean(), tv


def critic_loss(G: Generator, D: Critic, real, real_aus, target_aus, w=LOSS_WEIGHTS):
    with torch.no_grad():
        fake = G(real, target_aus)[0]
    real_score, real_au = D(real)
    fake_score, _ = D(fake)
    wgan = fake_score.mean() - real_score.mean()
    au = F.mse_loss(real_au, real_aus)
    gp = gradient_penalty(D, real, fake)
    logs = {"d_wgan": wgan, "d_au": au, "gp": gp}
    return wgan + w["au"] * au + w["gp"] * gp, {k: v.detach() for k, v in logs.items()}


def pair_mask(real: torch.Tensor, truth: torch.Tensor, threshold: float = 0.04) -> torch.Tensor:
    """Where an edit should keep the input (1) and where it should paint (0): pixels whose
    largest channel change from the input to its paired ground truth is under `threshold`,
    the painted region grown by one pixel (a 3x3 max) so the mask covers the edit's edges."""
    changed = ((truth - real).abs().amax(1, keepdim=True) > threshold).float()
    return 1 - F.max_pool2d(changed, 3, stride=1, padding=1)


def paired_loss(fake, att, real, truth, focus: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 of the edit to its paired ground truth, and L1 of the attention mask to `pair_mask`:
    both 0 for a perfect edit whose mask keeps exactly what did not change. `focus` weighs the
    pixels the pair changes (1 + focus) over those it keeps (1): an edit covers ~5% of a face, so
    without it copying the input is most of the L1's optimum."""
    keep = pair_mask(real, truth)
    return ((fake - truth).abs() * (1 + focus * (1 - keep))).mean(), (att - keep).abs().mean()


def generator_loss(G: Generator, D: Critic, real, real_aus, target_aus, w=LOSS_WEIGHTS, truth=None, perceptual=None):
    fake, att, _ = G(real, target_aus)
    fake_score, fake_au = D(fake)
    back, att_back, _ = G(fake, real_aus)
    sat1, tv1 = attention_losses(att)
    sat2, tv2 = attention_losses(att_back)
    adv = -fake_score.mean()
    au = F.mse_loss(fake_au, target_aus)
    cycle = (back - real).abs().mean()
    loss = adv + w["au"] * au + w["cycle"] * cycle + w["saturation"] * (sat1 + sat2) + w["smoothness"] * (tv1 + tv2)
    logs = {"g_adv": adv, "g_au": au, "cycle": cycle, "mask_mean": att.mean()}
    if truth is not None:  # the paired terms (SynthFaces)
        logs["paired"], logs["paired_mask"] = paired_loss(fake, att, real, truth, w.get("paired_focus", 0.0))
        loss = loss + w.get("paired", 0.0) * logs["paired"] + w.get("paired_mask", 0.0) * logs["paired_mask"]
        if perceptual is not None:  # an L1 optimum is a blurred colour image; features ask for edges
            logs["paired_perceptual"] = perceptual(fake, truth).mean()
            loss = loss + w.get("paired_perceptual", 0.0) * logs["paired_perceptual"]
    return loss, {k: v.detach() for k, v in logs.items()}


# ----------------------------------------------------------------------------- training


@torch.no_grad()
def paired_truth(data: dict, idx: torch.Tensor, target_aus: torch.Tensor, resolution: int, world=None):
    """The faces `idx` of a SynthFaces dataset dict rendered again with `target_aus` (same identity,
    pose, light, jaw and camera): the ground truth of the edit."""
    from lgfa_lite.synthface import FaceParams, render

    p = FaceParams.from_data(data, idx.cpu()).replace(aus=target_aus.cpu().float())
    return render(p, resolution, world=world).image.to(target_aus.device)


def train(config: GANimationConfig, *, data: dict | None = None) -> tuple[GANimationPipeline, list[dict]]:
    """Train G and the critic on `config` (resumable); rank 0 writes G as a Hub folder -> (pipeline,
    history); `lgfa_lite.methods.ganimation.train` calls it. `data`: `standard_faces` (default: the config's)."""
    from lgfa_lite.synthface.dataset import standard_faces

    c = config
    torch.manual_seed(c.seed)
    data = data if data is not None else standard_faces("train", c.train_size, c.resolution, world=c.synthfaces)
    paired = any(c.loss_weights.get(k, 0.0) > 0 for k in ("paired", "paired_mask", "paired_perceptual"))
    G = Generator(N_AUS, c.conv_dim, c.repeat_num, c.edge_kernel, world=c.synthfaces)
    D = Critic(c.resolution, N_AUS, c.critic_dim)
    opt_g = torch.optim.Adam(G.parameters(), c.lr, betas=tuple(c.betas))
    opt_d = torch.optim.Adam(D.parameters(), c.lr, betas=tuple(c.betas))
    loop = TrainLoop(c, {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, device_ready=True)
    perceptual = None
    if c.loss_weights.get("paired_perceptual", 0.0) > 0:
        from lgfa_lite.nets.perceptual import PerceptualDistance

        perceptual = PerceptualDistance().to(loop.device)
    n = len(data["image"])
    # the uint8 faces fit on any GPU (16k at 64 px: 200 MB); indices and noise are drawn on the CPU
    # generator either way, so a run's batches do not depend on the device
    images, aus = data["image"].to(loop.device), data["aus"].to(loop.device).float()
    saturated_logs = 0
    for step in loop:
        lr = linear_decay_lr(c.lr, loop.progress, c.decay_start)
        loop.set_lr(opt_g, lr)
        loop.set_lr(opt_d, lr)
        idx = torch.randint(n, (c.batch,), generator=loop.generator).to(loop.device)
        real, real_aus = images[idx].float() / 255, aus[idx]
        other = aus[torch.randint(n, (c.batch,), generator=loop.generator).to(loop.device)]
        noise = (torch.rand(other.shape, generator=loop.generator).to(loop.device) * 2 - 1) * c.target_noise
        target = (other + noise).clamp(0, 1)
        d_loss, d_logs = critic_loss(G, D, real, real_aus, target, c.loss_weights)
        loop.step(opt_d, d_loss, D, clip=None)
        loop.log(**d_logs)
        if step >= c.critic_warmup and step % c.n_critic == 0:
            truth = paired_truth(data, idx, target, c.resolution, c.synthfaces) if paired else None
            g_loss, g_logs = generator_loss(G, D, real, real_aus, target, c.loss_weights, truth, perceptual)
            loop.step(opt_g, g_loss, G, clip=None)
            loop.log(**g_logs)
            problem = mask_saturated(float(g_logs["mask_mean"]))
            saturated_logs = saturated_logs + 1 if problem else 0
            if problem and saturated_logs in (50, 500) and loop.is_main:  # persistent, not one odd batch
                log.warning("step %d: %s", step, problem)
    if loop.is_main:
        out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / WEIGHTS
        last = loop.history[-1] if loop.history else {}
        hub.save(
            G.eval(),
            out_dir,
            dtype=torch.float16,
            card={
                "name": WEIGHTS,
                "description": "GANimation generator (AU-conditioned, attention + colour heads), lite profile.",
                "task": "image-to-image",
                "tags": [] if c.synthfaces == "v1" else [f"synthfaces-{c.synthfaces}"],
                "metrics": {
                    "train_minutes": loop.minutes,
                    **{k: v for k, v in last.items() if k in ("mask_mean", "cycle")},
                },
                "training": (
                    f"`python -m lgfa_lite.methods.ganimation train` ({loop.state.step} steps, batch {c.batch}, "
                    f"{loop.world} process(es), {loop.minutes:.1f} min on {loop.hardware}), "
                    f"{'paired' if paired else 'unpaired'} (loss weights {c.loss_weights}), on {n} "
                    f"SynthFaces training renders at {c.resolution} px with their ground-truth AUs."
                ),
            },
        )
    return GANimationPipeline(G), loop.history
