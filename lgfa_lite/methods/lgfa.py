"""LGFA: language-guided face animation -- a still face + a sentence -> a video.

As researchmm/language-guided-animation computes it:
  z0      = t + v.detach() ("fused": CLIP text + image embeddings), or t without an image
  z_t     = z_{t-1} + r * lrelu(fc2(a)),  h_t = h_{t-1} + r * lrelu(fc3(a)),
            a = cat(lrelu(fc1(z_{t-1})), h_{t-1}),  h_0 = 0.01 * randn (the only noise)
  r       = 0.8 / T (training); 0.8 / T * schedule_factor(t) at inference (`SCHEDULES`)
  m_t     = z_t - z0 (motion codes), w_t = w_inv + img_ws + txt_ws_t, decoded by a frozen
            StyleGAN2 with fixed noise.
Differences from the original: txt_ws_t = text_mapper(m_t) - text_mapper(0), so frame 0 is the
inversion exactly; the 1st-order term the original computes but never adds is not computed.

    pipe = load()                                 # LGFAPipeline: the animator + its frozen nets
    video = pipe(face, "The person nods.")        # (1, 3, H, W) in [0, 1] -> (T, 3, S, S) in [0, 1]
    pipe, history = train(LGFAConfig(minutes=20)) # writes weights/lgfa-synthfaces-64
    python -m lgfa_lite.methods.lgfa train --minutes 20 --opts loss_weights.clip 2.0 schedule linear

`pipe(face, prompt, frames=16, seed=0, schedule="linear")`: face None animates a random face; `seed`
draws h0 (and that face). The training recipe (losses, options) is `lgfa_lite.train.lgfa`, imported
only by `train`. How it works, the recipe and limits: docs/lgfa.md; measured trials:
docs/experiments/lgfa.md.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite import hub
from lgfa_lite.config import TrainConfig
from lgfa_lite.hub import register_model
from lgfa_lite.nets import lite_weights
from lgfa_lite.nets.stylegan2 import EqualLinear, PixelNorm
from lgfa_lite.synthface.motions import LGFA_WORDS, MOTIONS

WEIGHTS = "lgfa-synthfaces-64"
SCHEDULES = ("linear", "sqrt", "exp", "const")
TEMPLATE = "The person is {}."
# The 28 LGFA words SynthFaces can show, then its motion vocabulary.
PROMPTS = [TEMPLATE.format(w) for w, shown in LGFA_WORDS.items() if shown] + [
    f"The person {m.verb}." for m in MOTIONS.values()
]
LOSS_WEIGHTS = {
    "smoothness": 1.0,
    "loop": 1.0,
    "latent": 1.0,
    "perceptual": 1.0,
    "clip": 0.5,
    "identity": 0.0,
    "clip_apex": 0.0,
    "head_pairs": 0.0,
    "expression_pairs": 0.0,
    "identity_steps": 0.0,
    "colour": 0.0,
}


def schedule_factor(schedule: str, t: int, frames: int) -> float:
    """Step-size factor at frame t (1..T-1) of an inference schedule (`SCHEDULES`): linear = (T-t)/T
    as the original; sqrt, exp (exp(-2t/T)) and const are the others."""
    u = (frames - t) / frames
    if schedule == "linear":
        return u
    if schedule == "sqrt":
        return math.sqrt(u)
    if schedule == "exp":
        return math.exp(-2 * t / frames)
    if schedule == "const":
        return 1.0
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


class RecurrentLatentGenerator(nn.Module):
    """The residual MLP recurrence over CLIP-space codes."""

    def __init__(self, z_dim: int, hidden: int = 384):
        super().__init__()
        self.hidden = hidden
        self.fc1 = nn.Linear(z_dim, hidden)
        self.fc2 = nn.Linear(2 * hidden, z_dim)
        self.fc3 = nn.Linear(2 * hidden, hidden)

    def forward(self, z0: torch.Tensor, frames: int, h0: torch.Tensor, steps: list[float]) -> torch.Tensor:
        """z0 (B, z_dim), h0 (B, hidden), steps: r for t = 1..T-1 -> motion codes (B, T, z_dim)."""
        z, h, codes = z0, h0, [torch.zeros_like(z0)]
        for r in steps[: frames - 1]:
            a = torch.cat([F.leaky_relu(self.fc1(z), 0.2), h], 1)
            z, h = z + r * F.leaky_relu(self.fc2(a), 0.2), h + r * F.leaky_relu(self.fc3(a), 0.2)
            codes.append(z - z0)
        return torch.stack(codes, 1)


class LatentMapper(nn.Module):
    """PixelNorm + 3 equalized linear layers -> W+ offsets (B, n_latent, style_dim)."""

    def __init__(self, in_dim: int, n_latent: int, style_dim: int, hidden: int = 512, norm_eps: float = 1e-8):
        super().__init__()
        self.n_latent, self.style_dim = n_latent, style_dim
        self.net = nn.Sequential(
            PixelNorm(norm_eps),
            EqualLinear(in_dim, hidden, activation=True),
            EqualLinear(hidden, hidden, activation=True),
            EqualLinear(hidden, n_latent * style_dim),
        )

    def forward(self, x):
        return self.net(x).view(-1, self.n_latent, self.style_dim)


@register_model("lgfa-animator")
class LGFA(nn.Module):
    """The trainable part of LGFA: recurrence + image and text mappers (CLIP, the generator
    and the encoder are separate, frozen checkpoints named in the config)."""

    def __init__(
        self,
        embed_dim: int = 128,
        n_latent: int = 10,
        style_dim: int = 128,
        hidden: int = 384,
        mapper_hidden: int = 512,
        clip: str = "clip-synthfaces2-64",
        generator: str = "stylegan2-synthfaces2-64",
        encoder: str = "encoder-synthfaces2-64",
        clip_config: dict | None = None,
        motion_norm_eps: float = 1e-8,
    ):
        """clip_config: the constructor arguments of a CLIP fine-tuned with the animator (`clip_lr`),
        which then lives in this checkpoint and replaces the named `clip`; None = the named CLIP, frozen.
        motion_norm_eps: the eps of the text mapper's PixelNorm (1e-8 = the original, see `LGFAConfig`)."""
        super().__init__()
        if not motion_norm_eps > 0:  # 0 or less: a zero motion code divides by zero (NaN frames)
            raise ValueError(f"motion_norm_eps must be > 0, got {motion_norm_eps}")
        self.config = {
            "embed_dim": embed_dim,
            "n_latent": n_latent,
            "style_dim": style_dim,
            "hidden": hidden,
            "mapper_hidden": mapper_hidden,
            "clip": clip,
            "generator": generator,
            "encoder": encoder,
            "clip_config": clip_config,
            "motion_norm_eps": motion_norm_eps,
        }
        self.rnn = RecurrentLatentGenerator(embed_dim, hidden)
        self.image_mapper = LatentMapper(embed_dim, n_latent, style_dim, mapper_hidden)
        self.text_mapper = LatentMapper(embed_dim, n_latent, style_dim, mapper_hidden, motion_norm_eps)
        self.clip = None
        if clip_config is not None:
            from lgfa_lite.nets.clip import TextImageModel

            self.clip = TextImageModel(**clip_config)

    def train(self, mode: bool = True) -> "LGFA":
        super().train(mode)
        if self.clip is not None:  # its image tower's BatchNorm keeps its statistics: a fixed judge
            self.clip.eval()
        return self

    def h0(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return 0.01 * torch.randn(batch, self.rnn.hidden, generator=generator)

    def forward(
        self,
        w_inv: torch.Tensor,
        text_emb: torch.Tensor,
        image_emb: torch.Tensor | None = None,
        frames: int = 16,
        h0: torch.Tensor | None = None,
        schedule: str | None = None,
    ) -> dict:
        """w_inv (B, L, D) inversions, text_emb / image_emb (B, E) unit CLIP embeddings ->
        {"ws": (B, T, L, D) frame latents, "txt_ws": (B, T, L, D), "img_ws": (B, L, D)}.
        schedule: None = training (r = 0.8 / T), else an inference schedule (`SCHEDULES`)."""
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        b = w_inv.shape[0]
        z0 = text_emb if image_emb is None else text_emb + image_emb.detach()
        r = 0.8 / frames
        steps = [r if schedule is None else r * schedule_factor(schedule, t, frames) for t in range(1, frames)]
        motion = self.rnn(z0, frames, self.h0(b).to(z0) if h0 is None else h0, steps)  # (B, T, E)
        txt = self.text_mapper(motion.flatten(0, 1)).view(b, frames, *w_inv.shape[1:])
        txt = txt - self.text_mapper(torch.zeros_like(z0[:1]))[:, None]  # zero motion -> zero offset
        img = self.image_mapper(image_emb) if image_emb is not None else torch.zeros_like(w_inv)
        return {"ws": w_inv[:, None] + img[:, None] + txt, "txt_ws": txt, "img_ws": img}


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass
class LGFAConfig(TrainConfig):
    """The training recipe's settings (`train`; `--opts KEY VAL` on the command line)."""

    steps: int = 5000
    batch: int = 8
    lr: float = 1e-3
    betas: tuple = (0.0, 0.999)
    frames: int = 4  # per training clip (16 at inference)
    schedule: str = ""  # "" = the original's constant r = 0.8 / T; a `SCHEDULES` name trains on that inference schedule
    hidden: int = 384
    loss_weights: dict = dataclasses.field(default_factory=lambda: dict(LOSS_WEIGHTS))
    train_faces: int = 2048  # SynthFaces training faces whose inversions the model animates
    pair_faces: int = 256  # training faces whose true motions `loss_weights.head_pairs` / `expression_pairs` use
    # The original fine-tunes its CLIP at 1e-5; 0 keeps the lite CLIP frozen. > 0: a copy of its text tower,
    # which feeds the recurrence, trains at this lr and is saved in the animator's checkpoint (the
    # contrastive term keeps judging with the named CLIP).
    clip_lr: float = 0.0
    # The text mapper's PixelNorm eps. The original's 1e-8 discards a motion code's size (any small
    # m_1 becomes a unit vector), so frame 0 -> 1 jumps; ~1 (codes grow from ~0.08 to 3-7 RMS over
    # 16 frames) keeps the first steps small.
    motion_norm_eps: float = 1e-8
    init: str = ""  # an LGFA checkpoint (name or folder) to start from (a fine-tuning stage); a work_dir state wins
    clip: str = "clip-synthfaces2-64"  # SynthFaces v2's nets, as the shipped animator's
    generator: str = "stylegan2-synthfaces2-64"
    encoder: str = "encoder-synthfaces2-64"
    out_dir: str = ""
    work_dir: str = str(Path.home() / ".cache" / "lgfa_lite" / "train" / "lgfa-64")


@dataclasses.dataclass
class Frozen:
    """The frozen networks LGFA works with."""

    clip: nn.Module
    generator: nn.Module
    encoder: nn.Module
    perceptual: nn.Module | None = None
    identity: nn.Module | None = None

    @staticmethod
    def load(
        clip: str | nn.Module, generator: str, encoder: str, perceptual: bool = True, identity: bool = False
    ) -> "Frozen":
        """Checkpoint names (`clip` may also be a loaded CLIP: an animator's fine-tuned one)."""
        from lgfa_lite.nets.perceptual import PerceptualDistance

        G = hub.load(generator)
        nets = Frozen(
            hub.load(clip) if isinstance(clip, str) else clip,
            G,
            hub.load(encoder),
            PerceptualDistance("lite") if perceptual else None,
            hub.load(lite_weights("identity-synthfaces-64", G.world)) if identity else None,  # of G's world
        )
        for net in (nets.clip, nets.generator, nets.encoder, nets.perceptual, nets.identity):
            if net is not None:
                net.eval().requires_grad_(False)
        return nets

    def to(self, device) -> "Frozen":
        for net in (self.clip, self.generator, self.encoder, self.perceptual, self.identity):
            if net is not None:
                net.to(device)
        return self

    def decode(self, ws: torch.Tensor) -> torch.Tensor:
        """W+ (N, L, D) -> images in [0, 1], fixed noise."""
        return (self.generator.synthesis(ws).clamp(-1, 1) + 1) / 2


# ----------------------------------------------------------------------------- the pipeline


class LGFAPipeline:
    """A face + a sentence -> a video: the animator and the frozen nets it runs with (`load`, `train`)."""

    def __init__(self, model: LGFA, nets: Frozen):
        self.model, self.nets = model.eval(), nets

    @property
    def world(self) -> str:
        """The SynthFaces world its generator learnt: photos are cropped, faces sampled for it."""
        return self.nets.generator.world

    def to(self, device) -> "LGFAPipeline":
        self.model.to(device)
        self.nets.to(device)
        return self

    @torch.no_grad()
    def __call__(
        self,
        face: torch.Tensor | None,
        prompt: str,
        frames: int = 16,
        seed: int = 0,
        schedule: str = "linear",
        *,
        w_inv: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """A face (1, 3, H, W) in [0, 1] (or its W+ `w_inv`; or neither: a random face) + a sentence ->
        frames (T, 3, S, S) in [0, 1]. `seed` draws h0 (and the face when there is none); `schedule`
        (`SCHEDULES`) scales the step over the frames."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty: describe a motion, e.g. 'The person is smiling.'")
        if not 1 <= int(frames) <= 256:
            raise ValueError(f"frames must be between 1 and 256, got {frames}")
        model, nets = self.model, self.nets
        g = torch.Generator().manual_seed(int(seed))
        G = nets.generator
        v = None
        if face is not None:
            w_inv = nets.encoder(face)
            v = nets.clip.encode_image(face)
        elif w_inv is None:
            from lgfa_lite.nets.stylegan2 import sample_z

            w_inv = G.to_wplus(G.mapping(sample_z(1, generator=g)))
        t = nets.clip.encode_text([prompt])
        out = model(w_inv, t, v, int(frames), model.h0(1, g), schedule)
        return nets.decode(out["ws"][0])


def load(name: str = WEIGHTS) -> LGFAPipeline:
    """The animator checkpoint `name` (weights/, a folder or a Hub repo) with the frozen nets its config names."""
    model = hub.load(name).eval()
    c = model.config
    clip = model.clip if model.clip is not None else c["clip"]  # a fine-tuned CLIP comes with the animator
    return LGFAPipeline(model, Frozen.load(clip, c["generator"], c["encoder"], perceptual=False))


def train(
    config: LGFAConfig, *, nets: Frozen | None = None, data: dict | None = None
) -> tuple[LGFAPipeline, list[dict]]:
    """Train the animator (resumable; rank 0 writes the checkpoint) -> (pipeline, history). By default
    the frozen nets are the config's checkpoints and the data its SynthFaces faces; tests and notebooks
    may pass tiny `nets` and `data` (`lgfa_lite.train.lgfa.training_faces`)."""
    from lgfa_lite.train import lgfa as recipe

    return recipe.train(config, nets=nets, data=data)


def main(argv=None):
    from lgfa_lite.train.loop import method_cli

    train(method_cli("lgfa_lite.methods.lgfa", "Train the lite LGFA animator on SynthFaces.", LGFAConfig(), argv))


if __name__ == "__main__":
    main()
