"""GANimation (Pumarola et al. 2018): AU-conditioned expression editing with attention masks.

The generator sees the face with the target AU vector tiled over it and predicts a colour
image C and an attention mask A; the output keeps input pixels where A = 1:

    I_out = A * I_in + (1 - A) * C

The critic has a PatchGAN head (WGAN-GP) and an AU-regression head. Training is unpaired: the
target AUs of an edit are another training face's AUs (+ U(-0.1, 0.1) noise), never the ground
truth of the same face with other AUs (SynthFaces has those pairs; they are for evaluation only).

AU set: the 15 SynthFaces AUs replace OpenFace's 17. Shared: AU01 02 04 05 06 07 09 12 15 20 25
26 45. Not in SynthFaces: AU10 (upper-lip raiser), AU14 (dimpler), AU17 (chin raiser), AU23
(lip tightener). Only in SynthFaces: AU18 (lip pucker) and AU46 (wink, left eye). Intensities
are in [0, 1] (OpenFace's 0..5 divided by 5); `openface_to_synthfaces` converts.

Train: `python -m lgfa_lite.methods.ganimation --minutes 40 [--opts KEY VAL ...]` (`--opts device
cuda` on a GPU), or data parallel with `torchrun --nproc_per_node 2 -m lgfa_lite.methods.ganimation ...`.

`edit` (one face or a batch + target AUs -> image, attention, colour), `animate` (one face + an AU
sequence -> frames), `load()` -> Generator. No checkpoint is shipped yet: the AU term gets fooled
(docs/ganimation.md; measured runs: docs/experiments/ganimation.md).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite import hub
from lgfa_lite.hub import register_model
from lgfa_lite.synthface import AU_NAMES, EXPRESSIONS, N_AUS, au_vector
from lgfa_lite.train.loop import TrainConfig, TrainLoop, cli_parser, config_from_cli, linear_decay_lr

log = logging.getLogger(__name__)

WEIGHTS = "ganimation-synthfaces-64"
OPENFACE_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
                "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]
# Preset target expressions for the Space: SynthFaces' expression prototypes plus neutral.
PRESETS = {"neutral": torch.zeros(N_AUS), **{name: au_vector(spec)[0] for name, spec in EXPRESSIONS.items()}}


def openface_to_synthfaces(aus17: torch.Tensor) -> torch.Tensor:
    """OpenFace AU intensities (B, 17) in [0, 1] -> the SynthFaces AU vector (B, 15); AUs that
    OpenFace does not read (AU18, AU46) are 0, OpenFace AUs SynthFaces lacks are dropped."""
    if aus17.dim() != 2 or aus17.shape[1] != len(OPENFACE_AUS):
        raise ValueError(f"OpenFace AUs must be (B, {len(OPENFACE_AUS)}), got {tuple(aus17.shape)}")
    out = aus17.new_zeros(aus17.shape[0], N_AUS)
    for j, name in enumerate(AU_NAMES):
        if name in OPENFACE_AUS:
            out[:, j] = aus17[:, OPENFACE_AUS.index(name)]
    return out


# ----------------------------------------------------------------------------- networks

class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.InstanceNorm2d(dim, affine=True), nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.InstanceNorm2d(dim, affine=True))

    def forward(self, x):
        return x + self.main(x)


def check_edit_inputs(images: torch.Tensor, aus: torch.Tensor, n_aus: int):
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (B, 3, H, W) tensor in [0, 1], got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    if images.shape[-1] % 4 or images.shape[-2] % 4:
        raise ValueError(f"image height and width must be multiples of 4, got {tuple(images.shape[-2:])}")
    if not torch.is_tensor(aus) or aus.shape != (images.shape[0], n_aus):
        raise ValueError(f"AUs must be ({images.shape[0]}, {n_aus}), got "
                         f"{tuple(aus.shape) if torch.is_tensor(aus) else type(aus).__name__}")
    if not torch.isfinite(aus).all():
        raise ValueError("AU intensities must be finite numbers")


@register_model("ganimation-generator")
class Generator(nn.Module):
    """conv7 -> 2x (stride-2 conv) -> residual blocks -> 2x (upsample + conv) -> colour (tanh)
    and attention (sigmoid) heads; instance norm, as the original. Resolution-free.

    The original upsamples with 4x4 stride-2 transposed convs; at 64 px in a CPU budget they left
    a checkerboard over the whole colour image C (and so over the edit), so this uses nearest
    upsampling followed by a 3x3 conv (Odena et al. 2016)."""

    def __init__(self, n_aus: int = N_AUS, conv_dim: int = 64, repeat_num: int = 6, edge_kernel: int = 7):
        super().__init__()
        self.config = {"n_aus": int(n_aus), "conv_dim": int(conv_dim), "repeat_num": int(repeat_num),
                       "edge_kernel": int(edge_kernel)}
        self.n_aus = int(n_aus)
        d, k = conv_dim, int(edge_kernel)  # k: the full-resolution convs (7 in the original; 3 is ~2x faster on CPU)
        layers = [nn.Conv2d(3 + n_aus, d, k, 1, k // 2, bias=False), nn.InstanceNorm2d(d, affine=True), nn.ReLU(inplace=True)]
        for _ in range(2):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(d * 2, affine=True),
                       nn.ReLU(inplace=True)]
            d *= 2
        layers += [ResidualBlock(d) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(d, d // 2, 3, 1, 1, bias=False),
                       nn.InstanceNorm2d(d // 2, affine=True), nn.ReLU(inplace=True)]
            d //= 2
        self.main = nn.Sequential(*layers)
        self.colour = nn.Conv2d(d, 3, k, 1, k // 2, bias=False)
        self.attention = nn.Conv2d(d, 1, k, 1, k // 2, bias=False)

    def forward(self, images: torch.Tensor, aus: torch.Tensor):
        """images (B, 3, H, W) in [0, 1] (H, W multiples of 4), target AUs (B, n_aus) in [0, 1]
        -> (edited images, attention A (B, 1, H, W), colour C), all in [0, 1]."""
        check_edit_inputs(images, aus, self.n_aus)
        x = images * 2 - 1
        cond = aus.clamp(0, 1)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        feat = self.main(torch.cat([x, cond], 1))
        colour = torch.tanh(self.colour(feat))
        attention = torch.sigmoid(self.attention(feat))
        out = attention * x + (1 - attention) * colour
        return (out + 1) / 2, attention, (colour + 1) / 2


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

# The original's weights (lambda_D_cond 4000 is its MSE sum over 17 AUs / batch; 160 is the
# per-AU mean-squared form used by its public re-implementations and by this module).
LOSS_WEIGHTS = {"gp": 10.0, "au": 160.0, "cycle": 10.0, "saturation": 0.1, "smoothness": 1e-5}


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out, _ = critic(mix)
    grad, = torch.autograd.grad(out.sum(), mix, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def attention_losses(attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Saturation (mean A, penalised: without it A saturates to 1, i.e. no edit) and smoothness
    (total variation of A)."""
    tv = ((attention[..., 1:, :] - attention[..., :-1, :]).pow(2).mean()
          + (attention[..., :, 1:] - attention[..., :, :-1]).pow(2).mean())
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


def generator_loss(G: Generator, D: Critic, real, real_aus, target_aus, w=LOSS_WEIGHTS):
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
    return loss, {k: v.detach() for k, v in logs.items()}


def mask_saturated(mask_mean: float, low: float = 0.02, high: float = 0.98) -> str | None:
    """The failure users report most: A stuck at all ones (no edit) or all zeros (input ignored)."""
    if mask_mean >= high:
        return f"attention mask saturated at {mask_mean:.3f} (all ones): the generator has stopped editing"
    if mask_mean <= low:
        return f"attention mask collapsed to {mask_mean:.3f} (all zeros): the output ignores the input face"
    return None


# ----------------------------------------------------------------------------- editing and animation

def interpolate_aus(source: torch.Tensor, target: torch.Tensor, frames: int) -> torch.Tensor:
    """(n_aus,) source and target -> (frames, n_aus), eased (smoothstep) from source to target."""
    if not 2 <= int(frames) <= 512:
        raise ValueError(f"frames must be in [2, 512], got {frames}")
    u = torch.linspace(0, 1, int(frames))[:, None]
    u = u * u * (3 - 2 * u)
    return source.reshape(1, -1) * (1 - u) + target.reshape(1, -1) * u


@torch.no_grad()
def edit(G: Generator, image: torch.Tensor, aus: torch.Tensor):
    """One face (1, 3, H, W) or a batch, target AUs (n_aus,) or (B, n_aus) -> (image, attention, colour)."""
    aus = torch.as_tensor(aus, dtype=torch.float32)
    if aus.dim() == 1:
        aus = aus[None].expand(image.shape[0], -1)
    return G(image, aus)


@torch.no_grad()
def animate(G: Generator, image: torch.Tensor, au_sequence: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """One face (1, 3, H, W) and AU vectors (T, n_aus) -> frames (T, 3, H, W), one edit per frame."""
    if not torch.is_tensor(image) or image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"animate takes one image (1, 3, H, W), got "
                         f"{tuple(image.shape) if torch.is_tensor(image) else type(image).__name__}")
    if au_sequence.dim() != 2 or len(au_sequence) == 0:
        raise ValueError(f"the AU sequence must be (T >= 1, n_aus), got {tuple(au_sequence.shape)}")
    au_sequence = au_sequence.float().clamp(0, 1)
    return torch.cat([G(image.expand(len(chunk), -1, -1, -1), chunk)[0] for chunk in au_sequence.split(batch)])


@torch.no_grad()
def aus_from_video(au_regressor: nn.Module, frames: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Driving video frames (T, 3, H, W) -> AU trajectory (T, n_aus) read by the AU regressor."""
    return torch.cat([au_regressor(chunk) for chunk in frames.split(batch)])


# ----------------------------------------------------------------------------- training

@dataclasses.dataclass
class GANimationConfig(TrainConfig):
    steps: int = 4000
    batch: int = 16
    lr: float = 1e-4
    betas: tuple = (0.5, 0.999)
    n_critic: int = 5  # critic updates per generator update
    decay_start: float = 0.5  # linear lr decay to 0 over the last half (the original's schedule)
    resolution: int = 64
    conv_dim: int = 16
    repeat_num: int = 4
    edge_kernel: int = 3
    critic_dim: int = 32
    target_noise: float = 0.1  # target AUs = another face's AUs + U(-0.1, 0.1)
    weights: dict = dataclasses.field(default_factory=lambda: dict(LOSS_WEIGHTS))
    train_size: int = 16384
    critic_warmup: int = 0  # critic-only steps before the generator's first update
    out_dir: str = ""  # default weights/ganimation-synthfaces-64
    work_dir: str = str(Path.home() / ".cache" / "lgfa_lite" / "train" / "ganimation-64")


def train(config: GANimationConfig, data: dict | None = None) -> tuple[Generator, list[dict]]:
    """Train G and the critic (resumable); rank 0 writes G as a Hub folder. Returns (G, history)."""
    from lgfa_lite.synthface.dataset import standard_faces

    c = config
    torch.manual_seed(c.seed)
    data = data if data is not None else standard_faces("train", c.train_size, c.resolution)
    G = Generator(N_AUS, c.conv_dim, c.repeat_num, c.edge_kernel)
    D = Critic(c.resolution, N_AUS, c.critic_dim)
    opt_g = torch.optim.Adam(G.parameters(), c.lr, betas=tuple(c.betas))
    opt_d = torch.optim.Adam(D.parameters(), c.lr, betas=tuple(c.betas))
    loop = TrainLoop(c, {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, device_ready=True)
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
        d_loss, d_logs = critic_loss(G, D, real, real_aus, target, c.weights)
        loop.step(opt_d, d_loss, D, clip=None)
        loop.log(**d_logs)
        if step >= c.critic_warmup and step % c.n_critic == 0:
            g_loss, g_logs = generator_loss(G, D, real, real_aus, target, c.weights)
            loop.step(opt_g, g_loss, G, clip=None)
            loop.log(**g_logs)
            problem = mask_saturated(float(g_logs["mask_mean"]))
            saturated_logs = saturated_logs + 1 if problem else 0
            if problem and saturated_logs in (50, 500) and loop.is_main:  # persistent, not one odd batch
                log.warning("step %d: %s", step, problem)
    if loop.is_main:
        out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / WEIGHTS
        last = loop.history[-1] if loop.history else {}
        hub.save(G.eval(), out_dir, dtype=torch.float16, card={
            "name": WEIGHTS, "description": "GANimation generator (AU-conditioned, attention + colour heads), lite profile.",
            "task": "image-to-image", "metrics": {"train_minutes": loop.minutes,
                                                  **{k: v for k, v in last.items() if k in ("mask_mean", "cycle")}},
            "training": (f"`python -m lgfa_lite.methods.ganimation` ({loop.state.step} steps, batch {c.batch}, "
                         f"{loop.world} process(es), {loop.minutes:.1f} min on {loop.hardware}), unpaired, on {n} "
                         f"SynthFaces training renders at {c.resolution} px with their ground-truth AUs."),
        })
    return G.eval(), loop.history


def load(name: str = WEIGHTS) -> Generator:
    return hub.load(name)


def main(argv=None):
    args = cli_parser("Train the lite GANimation generator on SynthFaces.").parse_args(argv)
    train(config_from_cli(GANimationConfig(), args))


if __name__ == "__main__":
    main()
