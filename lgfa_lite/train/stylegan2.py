"""The lite StyleGAN2 recipe: a 64 px generator taught by the SynthFaces renderer, and its encoder.

Why a teacher: an adversarial-only StyleGAN2 needs GPU-days to converge. SynthFaces knows what
every face should look like, so the generator learns from paired renders and an adversarial
loss, when enabled, only sharpens:

  z        = the SynthFaces parameter vector (identity shape + appearance, AUs, jaw, pose,
             camera), scaled to roughly unit variance (`params_to_z`): 64 numbers;
  G(z)     = an ordinary StyleGAN2 (mapping -> W -> modulated synthesis, noise inputs);
  loss     = L1(G(z), render(params)) [+ L1 of every coarser skip output, multiscale_weight]
             [+ lite perceptual distance] [+ adv_weight * non-saturating GAN loss, lazy R1]
             [+ au_pair_weight * L1(G(z') - G(z), render(z') - render(z)), z' = z with one AU moved],
             EMA of G.

`synthfaces` picks the world the teacher renders ('v1', 'v2'). Measured runs and what each
change gave: docs/experiments/stylegan2.md.

Every step renders a fresh random batch, so there is no dataset to overfit; the methods get a
real StyleGAN2 W / W+ space, organised by identity, expression and pose because z is.

The encoder (e4e-style, `nets/encoder.py`) maps an image to W+ = w_avg + offsets; it is
trained on renders whose true w is known (w = G.mapping(z)), with latent, pixel, perceptual
and identity losses and e4e's delta regulariser.

    python -m lgfa_lite.train.stylegan2 generator --minutes 60
    python -m lgfa_lite.train.stylegan2 encoder --minutes 20
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from lgfa_lite import hub
from lgfa_lite.nets import lite_weights
from lgfa_lite.nets.blocks import to_unit
from lgfa_lite.nets.encoder import ENCODER_WEIGHTS, LatentEncoder
from lgfa_lite.nets.stylegan2 import GENERATOR_WEIGHTS, Z_DIM, Discriminator, Generator, params_to_z, sample_z
from lgfa_lite.synthface import FaceParams
from lgfa_lite.synthface.render import render
from lgfa_lite.train.loop import TrainConfig, TrainLoop, cli_parser, config_from_cli, cosine_lr, init_minutes

log = logging.getLogger(__name__)
WORK_ROOT = Path.home() / ".cache" / "lgfa_lite" / "train"


def teacher_batch(batch: int, generator: torch.Generator, resolution: int = 64, world: str | None = None):
    """(z, images in [-1, 1], landmarks (B, 68, 2) in pixels) for `batch` fresh random faces of
    the SynthFaces `world` ('v1', 'v2'; None = the default world)."""
    return _taught(FaceParams.sample(batch, generator=generator), resolution, world)


def _taught(p: FaceParams, resolution: int, world: str | None):
    """(z, render in [-1, 1], landmarks) of faces `p`: what G is taught for them."""
    with torch.no_grad():
        out = render(p, resolution, world=world)
    return params_to_z(p), out.image * 2 - 1, out.landmarks


def au_pair_batch(batch: int, generator: torch.Generator, resolution: int = 64, world: str | None = None):
    """`teacher_batch` made of batch // 2 pairs: the second half repeats the first with one random
    AU per face moved across its range (below 0.5 -> U(0.7, 1), else -> U(0, 0.3)), so that
    G(z') - G(z) can be taught the render's change and nothing else (`au_pair_weight`)."""
    half = batch // 2
    p = FaceParams.sample(half, generator=generator)
    q = p.clone()
    which = torch.randint(q.aus.shape[1], (half,), generator=generator)
    rows = torch.arange(half)
    old = q.aus[rows, which]
    up = 0.7 + 0.3 * torch.rand(half, generator=generator)
    down = 0.3 * torch.rand(half, generator=generator)
    q.aus[rows, which] = torch.where(old < 0.5, up, down)
    return _taught(FaceParams.cat([p, q]), resolution, world)


def feature_weights(landmarks: torch.Tensor, size: int, weight: float, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, size, size): 1 + weight near the inner-face landmarks (brows,
    eyes, nose, mouth). Eyes and mouth are a few pixels at 64 px, so a plain L1 learns skin,
    hair and background first and the features that carry expression last."""
    pts = landmarks[:, 17:]  # the jawline (0-16) is the face's outline: L1 already sees it
    yx = torch.arange(size, dtype=pts.dtype, device=pts.device) + 0.5
    dx = (yx[None, None, :] - pts[..., :1]).pow(2)  # (B, 51, W)
    dy = (yx[None, None, :] - pts[..., 1:]).pow(2)  # (B, 51, H)
    blobs = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma**2)).amax(1)
    return 1 + weight * blobs[:, None]


# ----------------------------------------------------------------------------- generator


@dataclasses.dataclass
class GeneratorConfig(TrainConfig):
    steps: int = 3000
    batch: int = 32
    lr: float = 5e-3  # 2.5x StyleGAN2's: regression to renders tolerates it and gets there sooner
    betas: tuple = (0.9, 0.99)  # StyleGAN2: (0, 0.99); momentum fits the renders faster (docstring)
    size: int = 64
    synthfaces: str = "v2"  # the SynthFaces world the teacher renders ('v1', 'v2'); G records it
    style_dim: int = 128
    n_mlp: int = 4
    lr_mlp: float = 1.0  # mapping-network lr multiplier (StyleGAN2: 0.01; the teacher makes a faster one safe)
    channels: dict = dataclasses.field(default_factory=lambda: {"4": 128, "8": 128, "16": 64, "32": 32, "64": 16})
    l1_weight: float = 1.0
    # The lite perceptual distance to the render (`nets/perceptual.py`). The shipped v2 generator added
    # 5.0 for its last 75 minutes (from step 21,314): AUs readable 4 -> 7, eye/mouth landmarks under the
    # neutral baseline (docs/experiments/stylegan2.md); a step cost about the same (1.3-1.7 s on one
    # thread, batch 32). Off by default: the L1 phase from scratch has not been tried with it.
    perceptual_weight: float = 0.0
    adv_weight: float = 0.02  # > 0 adds the discriminator (non-saturating loss, lazy R1); 0.05 measured worse
    # The discriminator joins after this many steps: the L1 teacher lays out the faces at 2.25x
    # the speed (one thread: 2.25 vs 1.0 steps/s), then the adversarial loss draws the details.
    # 17,012: where the shipped generator's L1-only first run ended (`--minutes 127` on one core).
    adv_after: int = 17012
    multiscale_weight: float = 1.0  # L1 of the coarser skip outputs against downsampled renders
    feature_weight: float = 4.0  # extra L1 weight near eyes, brows, nose and mouth (`feature_weights`)
    # > 0: half of each batch repeats the other half with one AU moved (`au_pair_batch`), and the
    # change G(z') - G(z) is taught the render's change (L1, feature-weighted). The plain L1 is
    # dominated by identity detail G cannot match; in the difference that error cancels, leaving
    # the few pixels a brow or lip-corner AU moves. Noise maps are shared within a pair.
    au_pair_weight: float = 0.0
    r1_gamma: float = 0.1
    r1_every: int = 16  # lazy R1, as StyleGAN2
    pl_weight: float = 0.0  # path-length regulariser (StyleGAN2: 2); off in the lite recipe
    pl_every: int = 4
    ema_kimg: float = 2.0  # EMA half-life in thousands of images
    sample_every: int = 250
    # A generator checkpoint (name or folder) that G and G_ema start from, the discriminator fresh:
    # a new stage after a shipped generator when its training state is gone. A work_dir state wins.
    init: str = ""
    out_dir: str = ""
    work_dir: str = str(WORK_ROOT / "stylegan2-64")


def _losses_perceptual(weight: float):
    if weight <= 0:
        return None
    from lgfa_lite.nets.perceptual import PerceptualDistance

    return PerceptualDistance("lite")


def nonsaturating_g(fake_logits):
    return F.softplus(-fake_logits).mean()


def nonsaturating_d(real_logits, fake_logits):
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(D, real):
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def path_length_penalty(G, z, mean_path, decay=0.01):
    """StyleGAN2's path-length regulariser: |J^T y| should be constant over w."""
    w = G.to_wplus(G.mapping(z))
    images = G.synthesis(w, noise="random")
    y = torch.randn_like(images) / (images.shape[2] * images.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((images * y).sum(), w, create_graph=True)
    lengths = grad.pow(2).sum(2).mean(1).sqrt()
    mean_path = mean_path + decay * (lengths.mean().detach() - mean_path)
    return (lengths - mean_path).pow(2).mean(), mean_path


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, beta: float):
    for e, m in zip(ema.parameters(), model.parameters()):
        e.lerp_(m, 1 - beta)
    for e, m in zip(ema.buffers(), model.buffers()):
        e.copy_(m)


def _start_from(net: torch.nn.Module, init: str) -> None:
    """Copy a checkpoint's weights into `net`, which must have its architecture (and world), or
    for a generator the same one with more channels at some resolutions (`widen_into`)."""
    start = hub.load(init)
    if start.config == net.config:
        net.load_state_dict(start.state_dict())
    elif isinstance(net, Generator) and _wider(net.config, start.config):
        widen_into(net, start)
    else:
        raise ValueError(f"init {init!r} was built as {start.config}, this run builds {net.config}")


def _wider(config: dict, than: dict) -> bool:
    """Whether a generator config is `than` with at least as many channels at every resolution."""
    ch, other = config["channels"], than["channels"]
    if {**config, "channels": None} != {**than, "channels": None} or ch.keys() != other.keys():
        return False
    return all(ch[r] >= other[r] for r in ch)


@torch.no_grad()
def widen_into(wide: Generator, narrow: Generator) -> None:
    """Copy `narrow` into `wide`, a generator with more channels at some resolutions, so that it
    draws the same images: every tensor's old part is copied; the new channels keep their fresh
    initialisation, except the weights of old output channels on new input channels, which start
    at zero. New channels then reach nothing until training moves those weights (demodulation
    sums their zeros: the old channels' scales are unchanged), and their own filters are random,
    so they are not dead. A convolution's weights are stored / sqrt(fan-in) (equalized learning
    rate), so the copied ones are scaled by sqrt(new fan-in / old)."""
    old = narrow.state_dict()
    for name, t in wide.state_dict().items():
        o = old[name]
        if name.endswith("conv.weight") and o.shape != t.shape:  # (1, out, in, k, k)
            t[:, : o.shape[1], o.shape[2] :] = 0
            o = o * (t.shape[2] / o.shape[2]) ** 0.5
        t[tuple(slice(0, n) for n in o.shape)] = o


def train_generator(config: GeneratorConfig) -> tuple[Generator, list[dict]]:
    """Train the lite generator (resumable); rank 0 writes G_ema as a Hub folder."""
    c = config
    if c.au_pair_weight > 0 and c.batch % 2:
        raise ValueError(f"au_pair_weight needs an even batch (pairs of faces), got batch {c.batch}")
    torch.manual_seed(c.seed)
    G = Generator(c.size, c.style_dim, c.n_mlp, c.channels, c.lr_mlp, Z_DIM, normalize_z=False, world=c.synthfaces)
    if c.init:
        _start_from(G, c.init)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    modules = {"G": G, "G_ema": G_ema}
    opt_g = torch.optim.Adam(G.parameters(), c.lr, betas=tuple(c.betas))
    optimizers = {"G": opt_g}
    D = opt_d = None
    if c.adv_weight > 0:
        D = Discriminator(c.size, c.channels)
        # lazy-regularisation correction of Adam's hyper-parameters (StyleGAN2 appendix B)
        ratio = c.r1_every / (c.r1_every + 1)
        opt_d = torch.optim.Adam(D.parameters(), c.lr * ratio, betas=tuple(b**ratio for b in c.betas))
        modules["D"], optimizers["D"] = D, opt_d
    perceptual = _losses_perceptual(c.perceptual_weight)
    loop = TrainLoop(c, modules, optimizers, device_ready=True)  # renders on the CPU, steps on loop.device
    G_ema.eval()
    beta = 0.5 ** (c.batch * loop.world / max(1.0, c.ema_kimg * 1000))
    mean_path = torch.zeros((), device=loop.device)
    fixed_z = sample_z(16, seed=12345).to(loop.device)
    pairs, half = c.au_pair_weight > 0, c.batch // 2
    batch_fn = au_pair_batch if pairs else teacher_batch
    for step in loop:
        lr = cosine_lr(c.lr, loop.progress, warmup=0.02)
        loop.set_lr(opt_g, lr)
        z, real, landmarks = (t.to(loop.device) for t in batch_fn(c.batch, loop.generator, c.size, c.synthfaces))
        noise = "random"
        if pairs:  # one noise draw per pair: the difference shows the AU alone
            noise = [n.repeat(2, 1, 1, 1) for n in G.make_noise(loop.generator, half)]
        skips = G.synthesis(G.to_wplus(G.mapping(z)), noise=noise, return_skips=True)
        fake = skips[-1]
        error = (fake - real).abs()
        logs = {"l1": error.mean()}
        weights = feature_weights(landmarks, c.size, c.feature_weight) if c.feature_weight > 0 else None
        if weights is not None:
            error = error * weights
        loss = c.l1_weight * error.mean()
        if pairs:
            change = ((fake[half:] - fake[:half]) - (real[half:] - real[:half])).abs()
            if weights is not None:
                change = change * torch.maximum(weights[:half], weights[half:])
            logs["au_pair"] = change.mean()
            loss = loss + c.au_pair_weight * logs["au_pair"]
        if c.multiscale_weight > 0:  # every resolution's RGB against the downsampled render
            coarse = [(s - F.adaptive_avg_pool2d(real, s.shape[-1])).abs().mean() for s in skips[:-1]]
            logs["l1_coarse"] = sum(coarse) / len(coarse)
            loss = loss + c.multiscale_weight * logs["l1_coarse"]
        if perceptual is not None:
            p = perceptual(to_unit(fake), to_unit(real)).mean()
            loss = loss + c.perceptual_weight * p
            logs["perceptual"] = p
        adversarial = D is not None and step > c.adv_after
        if adversarial:
            D.requires_grad_(False)
            adv = nonsaturating_g(D(fake))
            D.requires_grad_(True)
            loss = loss + c.adv_weight * adv
            logs["g_adv"] = adv
        loop.step(opt_g, loss, G, clip=None)
        if c.pl_weight > 0 and step % c.pl_every == 0:
            pl, mean_path = path_length_penalty(G, z[: max(1, c.batch // 2)], mean_path)
            loop.step(opt_g, c.pl_weight * c.pl_every * pl, G, clip=None)
            logs["path_length"] = pl
        update_ema(G_ema, G, beta)
        if adversarial:
            loop.set_lr(opt_d, lr * c.r1_every / (c.r1_every + 1))
            d_loss = nonsaturating_d(D(real), D(fake.detach()))
            loop.step(opt_d, d_loss, D, clip=None)
            logs["d"] = d_loss
            if step % c.r1_every == 0:
                r1 = r1_penalty(D, real)
                loop.step(opt_d, c.r1_gamma / 2 * c.r1_every * r1, D, clip=None)
                logs["r1"] = r1
        loop.log(**logs)
        if loop.is_main and c.work_dir and step % c.sample_every == 0:
            save_grid(
                G_ema, fixed_z, Path(c.work_dir).with_name(Path(c.work_dir).name + "-samples") / f"{step:06d}.png"
            )
    if loop.is_main:
        name = lite_weights(GENERATOR_WEIGHTS, c.synthfaces)  # stylegan2-synthfaces2-64 for v2
        out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / name
        before = init_minutes(c.init)  # a stage's card counts its start's minutes
        hub.save(
            G_ema.eval(),
            out_dir,
            dtype=torch.float16,
            card={
                "name": name,
                "description": (
                    "StyleGAN2 generator (64 px, lite profile). z is the scaled SynthFaces parameter "
                    "vector (`lgfa_lite.train.stylegan2.params_to_z` / `sample_z`)."
                ),
                "task": "unconditional-image-generation",
                "metrics": {"train_minutes": round(before + loop.minutes, 1)},
                "tags": [f"synthfaces-{c.synthfaces}"],
                "training": (
                    f"`python -m lgfa_lite.train.stylegan2 generator` ({loop.state.step} steps, batch {c.batch}, "
                    f"{loop.world} process(es), {loop.minutes:.1f} min on {loop.hardware}): L1 to the SynthFaces "
                    f"({c.synthfaces}) "
                    f"render of z's parameters (x{c.feature_weight} more near the facial features, + "
                    f"{c.multiscale_weight} x coarse-skip L1), + {c.perceptual_weight} x lite perceptual "
                    f"distance, + {c.au_pair_weight} x one-AU pair-change L1, + {c.adv_weight} x non-saturating "
                    f"GAN loss after step {c.adv_after} (lazy R1 gamma "
                    f"{c.r1_gamma}); "
                    f"Adam lr {c.lr}, betas {tuple(c.betas)}; EMA half-life {c.ema_kimg} kimg."
                    + (f" A stage started from `{c.init}` ({before:.1f} min before it)." if c.init else "")
                ),
            },
        )
    return G_ema, loop.history


@torch.no_grad()
def save_grid(G: Generator, z: torch.Tensor, path: Path):
    import imageio.v3 as iio

    images = to_unit(G(z)).cpu()
    n = images.shape[0]
    cols = int(n**0.5)
    grid = images[: cols * (n // cols)].view(n // cols, cols, 3, *images.shape[2:])
    grid = grid.permute(0, 3, 1, 4, 2).reshape(grid.shape[0] * images.shape[2], cols * images.shape[3], 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (grid * 255 + 0.5).to(torch.uint8).numpy())


# ----------------------------------------------------------------------------- encoder


@dataclasses.dataclass
class EncoderConfig(TrainConfig):
    steps: int = 2000
    batch: int = 32
    lr: float = 1e-3
    generator: str = lite_weights(GENERATOR_WEIGHTS, "v2")  # the default world's; its encoder is named after it
    latent_weight: float = 1.0  # MSE to the true W (renders of known z)
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0
    identity_weight: float = 0.0
    delta_weight: float = 2e-4  # e4e's delta regulariser
    image_every: int = 2  # image losses (through G) every k steps; the others skip G
    init: str = ""  # an encoder checkpoint (name or folder) to start from; a work_dir state wins
    out_dir: str = ""
    work_dir: str = str(WORK_ROOT / "encoder-64")


def train_encoder(config: EncoderConfig, G: Generator | None = None) -> tuple[LatentEncoder, list[dict]]:
    """Train the e4e-style encoder for a frozen generator (resumable); rank 0 writes it."""
    c = config
    torch.manual_seed(c.seed)
    G = (G or hub.load(c.generator)).eval().requires_grad_(False)
    E = LatentEncoder(G.n_latent, G.style_dim, G.size)
    if c.init:
        _start_from(E, c.init)
    E.w_avg.copy_(G.w_avg)
    opt = torch.optim.Adam(E.parameters(), c.lr)
    perceptual = _losses_perceptual(c.perceptual_weight)
    identity_net = lite_weights("identity-synthfaces-64", G.world)
    identity = hub.load(identity_net).eval().requires_grad_(False) if c.identity_weight > 0 else None
    loop = TrainLoop(c, {"E": E}, {"E": opt})
    for step in loop:
        loop.set_lr(opt, cosine_lr(c.lr, loop.progress))
        z, real, _ = teacher_batch(c.batch, loop.generator, G.size, G.world)
        with torch.no_grad():
            w_true = G.mapping(z)
        wplus, deltas = E(to_unit(real), return_deltas=True)
        logs = {"latent": (wplus - w_true[:, None]).pow(2).mean(), "delta": deltas.pow(2).sum(2).mean()}
        loss = c.latent_weight * logs["latent"] + c.delta_weight * logs["delta"]
        if step % c.image_every:  # latent-only step: no pass through the generator
            loop.step(opt, loss, E, clip=10.0)
            loop.log(**logs)
            continue
        fake = G.synthesis(wplus)
        logs["pixel"] = (fake - real).abs().mean()
        loss = loss + c.pixel_weight * logs["pixel"]
        if perceptual is not None:
            logs["perceptual"] = perceptual(to_unit(fake), to_unit(real)).mean()
            loss = loss + c.perceptual_weight * logs["perceptual"]
        if identity is not None:
            logs["identity"] = 1 - identity.similarity(to_unit(fake), to_unit(real)).mean()
            loss = loss + c.identity_weight * logs["identity"]
        loop.step(opt, loss, E, clip=10.0)
        loop.log(**logs)
    if loop.is_main:
        name = lite_weights(ENCODER_WEIGHTS, G.world)  # encoder-synthfaces2-64 for a v2 generator
        out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / name
        before = init_minutes(c.init)  # a stage's card counts its start's minutes
        hub.save(
            E.eval(),
            out_dir,
            dtype=torch.float16,
            card={
                "name": name,
                "description": f"e4e-style W+ encoder for `{c.generator}` (lite profile).",
                "task": "feature-extraction",
                "metrics": {"train_minutes": round(before + loop.minutes, 1)},
                "training": (
                    f"`python -m lgfa_lite.train.stylegan2 encoder` ({loop.state.step} steps, batch {c.batch}, "
                    f"{loop.minutes:.1f} min on {loop.hardware}) on fresh SynthFaces ({G.world}) renders with known w: "
                    f"latent MSE x{c.latent_weight} + pixel L1 x{c.pixel_weight} + perceptual x{c.perceptual_weight}"
                    f" + identity x{c.identity_weight} + delta regulariser x{c.delta_weight}."
                    + (f" A stage started from `{c.init}` ({before:.1f} min before it)." if c.init else "")
                ),
            },
        )
    return E.eval(), loop.history


# ----------------------------------------------------------------------------- CLI


def main(argv=None):
    ap = cli_parser("Train the lite StyleGAN2 generator or its encoder on SynthFaces.")
    ap.add_argument("what", choices=["generator", "encoder"])
    args = ap.parse_args(argv)
    if args.what == "generator":
        train_generator(config_from_cli(GeneratorConfig(), args))
    else:
        train_encoder(config_from_cli(EncoderConfig(), args))


if __name__ == "__main__":
    main()
