"""AU-CLIP (Kevinfringe/AU-CLIP): an AU-increment latent mapper for StyleGAN2 expression editing.

A StyleCLIP-style mapper driven by an action-unit increment instead of text:

    Δau = au_target - au_source                (15 SynthFaces AUs, read by the AU regressor)
    ŵ   = w_src + α · mapper(Δau)              (α 0.2 in training, any value at inference)

The mapper has three MLPs, one per W+ layer group (`layer_groups`: coarse <= 8 px, medium 16-32 px,
fine >= 64 px; the original's 0-3 / 4-7 / 8-17 at 1024 px, 0-3 / 4-7 / 8-9 for the 64 px lite
generator); each maps Δau to one offset shared by its group's layers.

The magnitude fix: the original repeats Δau per W+ layer and normalises it with StyleGAN's PixelNorm
over the layer axis, i.e. over identical copies, so every element becomes its sign and the AU
*magnitude* never reaches the mapper. Here Δau goes in as it is (it is already in [-1, 1]) and the
offset is mapper(Δau) - mapper(0), so a zero increment is no edit. With `linear_magnitude` the
MLPs see only the direction and the offset is |Δau| · (mapper(Δau / |Δau|) - mapper(0)): scaling Δau
by k scales the W+ offset by exactly k. That is the recipe and the shipped mapper (it ranks edit
strengths best: docs/experiments/auclip.md). `sign_quirk=True` restores the original's
normalisation (for the benchmark's comparison; the trainer then turns `linear_magnitude` off).

    pipe = load()                                            # AUCLIPPipeline: mapper + frozen nets
    edit = pipe(face, target_aus)                            # faces (B, 3, H, W) in [0, 1]
    edit = pipe(w=wplus, target_aus=target, alpha=0.3)       # or from W+ codes
    edit = pipe.transfer(face, reference)                    # Δau from a reference face
    frames = pipe.animate(face, target_aus, frames=16, mode="delta")   # (T, 3, S, S)
    pipe, history = train(AUCLIPConfig(minutes=30))          # writes weights/auclip-synthfaces-64
    python -m lgfa_lite.methods.auclip train --minutes 30 --opts loss_weights.au 2.0

The recipe (losses, data) is `lgfa_lite.train.auclip`, imported only by `train`. Prompts follow the
original's prompt engineering (`prompts`) in two wordings: "original" and "lite" (the words the lite
CLIP was trained on, the default). How it works and its limits: docs/auclip.md.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from lgfa_lite import hub
from lgfa_lite.config import TrainConfig
from lgfa_lite.hub import register_model
from lgfa_lite.nets.stylegan2 import EqualLinear, PixelNorm
from lgfa_lite.synthface import AU_DESCRIPTIONS, AU_INDEX, AU_NAMES, N_AUS, expression_name, expression_sentence

WEIGHTS = "auclip-synthfaces-64"
TRAIN_ALPHA = 0.2  # the original's residual scale in training
MAX_ALPHA = 2.0  # |α| the pipeline accepts (10x the training scale)
GROUP_STARTS = {"coarse": 0, "medium": 4, "fine": 8}  # first W+ layer of each group (same at every size)
# The original's loss weights: CLIP 0.8, identity (ArcFace) 0.2, latent L2 0.5, AU L1 1.
LOSS_WEIGHTS = {"clip": 0.8, "identity": 0.2, "latent": 0.5, "au": 1.0}
# the frozen nets of the shipped mapper: SynthFaces v2's (v1's generator draws no brows, lids or smiles)
FROZEN = {"generator": "stylegan2-synthfaces2-64", "encoder": "encoder-synthfaces2-64", "au": "au-synthfaces2-64"}

# ----------------------------------------------------------------------------- prompts

ACTIVE = 0.3  # an AU intensity above this is "active" (the original thresholds GraphAU's output)
MOUTH_OPEN = ("AU25", "AU26")
# Lite wording: each AU as the expression words the lite CLIP knows (`caption_words`).
LITE_PHRASES = {
    "AU01": "raising eyebrows",
    "AU02": "raising eyebrows",
    "AU04": "frowning",
    "AU05": "surprised",
    "AU06": "smiling",
    "AU07": "angry",
    "AU09": "disgusted",
    "AU12": "smiling",
    "AU15": "sad",
    "AU18": "pouting",
    "AU20": "stretching lips",
    "AU25": "opening mouth",
    "AU26": "opening mouth",
    "AU45": "closing eyes",
    "AU46": "winking",
}
PROMPT_STYLES = ("lite", "original")


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def prompts(aus: torch.Tensor, style: str = "lite", top: int = 3) -> list[tuple[str, str]]:
    """Target AUs (B, n_aus) -> per face (emotion prompt, AU prompt), the original's prompt engineering:
    an emotion sentence, and "human face with {top-3 active AU phrases}" plus ", mouth closed, lips
    closed." when no mouth-open AU is active. The emotion is SynthFaces' nearest expression prototype
    (the original classified the target face with RMN). Style "lite" says both in the lite CLIP's
    words ("The person is smiling and opening mouth.", "... The person closes the mouth.")."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {style!r}")
    out = []
    for row in aus.detach().float().cpu():
        emotion = expression_name(row)
        order = [AU_NAMES[j] for j in row.argsort(descending=True).tolist() if row[j] > ACTIVE]
        mouth_open = any(row[AU_INDEX[a]] > ACTIVE for a in MOUTH_OPEN)
        if style == "original":
            phrases = [AU_DESCRIPTIONS[a] for a in order[:top]]
            au_prompt = "human face with " + (_join(phrases) if phrases else "a neutral expression")
            au_prompt += "." if mouth_open else ", mouth closed, lips closed."
            out.append((f"{'neutral' if emotion == 'making a face' else emotion} human face picture.", au_prompt))
            continue
        phrases = list(dict.fromkeys(LITE_PHRASES[a] for a in order))[:top]
        au_prompt = f"The person is {_join(phrases)}." if phrases else expression_sentence("neutral")
        if not mouth_open:
            au_prompt += " The person closes the mouth."
        out.append((expression_sentence(emotion), au_prompt))
    return out


# ----------------------------------------------------------------------------- the mapper


def layer_groups(n_latent: int) -> dict[str, range]:
    """W+ layers of the coarse (<= 8 px), medium (16-32 px) and fine (>= 64 px) groups. Layer k drives
    the same resolution at every generator size, so the original's 1024 px split (0-3, 4-7, 8-17)
    keeps its first two groups and the fine group is what is left (8-9 at 64 px; empty below)."""
    bounds = [min(s, n_latent) for s in GROUP_STARTS.values()] + [n_latent]
    return {name: range(bounds[i], bounds[i + 1]) for i, name in enumerate(GROUP_STARTS)}


@register_model("auclip-mapper")
class AUMapper(nn.Module):
    """Δau (B, n_aus) -> W+ offsets (B, n_latent, style_dim): one MLP per layer group (StyleCLIP's
    `LevelsMapper`: equalized-lr linear layers, lr_mul 0.01, leaky ReLU)."""

    def __init__(
        self,
        n_aus: int = N_AUS,
        n_latent: int = 10,
        style_dim: int = 128,
        hidden: int = 128,
        depth: int = 4,
        sign_quirk: bool = False,
        frozen: dict | None = None,
        linear_magnitude: bool = False,
    ):
        """frozen: the checkpoints ({"generator", "encoder", "au"}) the mapper edits with (`load`)."""
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if sign_quirk and linear_magnitude:
            raise ValueError("sign_quirk reduces Δau to its sign: it excludes linear_magnitude")
        self.config = {
            "n_aus": n_aus,
            "n_latent": n_latent,
            "style_dim": style_dim,
            "hidden": hidden,
            "depth": depth,
            "sign_quirk": sign_quirk,
            "frozen": {**FROZEN, **(frozen or {})},
            "linear_magnitude": linear_magnitude,
        }
        self.n_aus, self.n_latent, self.style_dim, self.sign_quirk = n_aus, n_latent, style_dim, sign_quirk
        self.linear_magnitude = linear_magnitude
        self.groups = {k: g for k, g in layer_groups(n_latent).items() if len(g)}
        self.norm = PixelNorm()

        def mlp():
            dims = [n_aus] + [hidden] * (depth - 1) + [style_dim]
            layers = [EqualLinear(a, b, lr_mul=0.01, activation=True) for a, b in zip(dims[:-2], dims[1:-1])]
            return nn.Sequential(*layers, EqualLinear(dims[-2], dims[-1], lr_mul=0.01))

        self.mappers = nn.ModuleDict({name: mlp() for name in self.groups})

    def group_input(self, delta: torch.Tensor, copies: int) -> torch.Tensor:
        """What a group's MLP sees: Δau, or with `sign_quirk` the original's PixelNorm over its
        `copies` identical per-layer copies (dim 1), which is Δau / |Δau| = sign(Δau) elementwise."""
        if not self.sign_quirk:
            return delta
        return self.norm(delta[:, None].expand(-1, copies, -1))[:, 0]

    def with_sign_quirk(self) -> "AUMapper":
        """The same weights behind the original's normalisation (Δau -> its sign, no linear
        magnitude): what the original's mapper would make of them (the benchmark's comparison)."""
        quirk = AUMapper(**{**self.config, "sign_quirk": True, "linear_magnitude": False})
        quirk.load_state_dict(self.state_dict())
        return quirk.train(self.training)

    def forward(self, delta: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(delta) or delta.dim() != 2 or delta.shape[1] != self.n_aus:
            got = tuple(delta.shape) if torch.is_tensor(delta) else type(delta).__name__
            raise ValueError(f"Δau must be a (B, {self.n_aus}) tensor, got {got}")
        size = delta.norm(dim=1, keepdim=True) if self.linear_magnitude else None
        if size is not None:
            delta = delta / size.clamp(min=1e-6)
        both = torch.cat([delta, torch.zeros_like(delta[:1])])  # the last row: zero increment
        parts = []
        for name, layers in self.groups.items():
            y = self.mappers[name](self.group_input(both, len(layers)))
            y = y[:-1] - y[-1:]  # zero Δau -> zero offset
            parts.append((y if size is None else size * y)[:, None].expand(-1, len(layers), -1))
        return torch.cat(parts, 1)


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass
class AUCLIPConfig(TrainConfig):
    """The training recipe's settings (`train`; `--opts KEY VAL` on the command line)."""

    steps: int = 50000  # the original's; the lite run stops at its minutes budget first
    batch: int = 8  # the original: 4
    lr: float = 0.5  # the original's (Ranger; Adam here), on lr_mul 0.01 layers
    alpha: float = TRAIN_ALPHA
    hidden: int = 128
    depth: int = 4
    sign_quirk: bool = False  # True: the original's PixelNorm over layer copies (Δau -> sign(Δau))
    linear_magnitude: bool = True  # the offset is |Δau| x the direction's offset (`AUMapper`); off with sign_quirk
    scale_min: float = 1.0  # training increments go k ~ U(scale_min, 1) of the way to the target; 1 = the original
    prompt_style: str = "lite"  # "original": the original's wording, words the lite CLIP never saw
    loss_weights: dict = dataclasses.field(default_factory=lambda: dict(LOSS_WEIGHTS))
    train_faces: int = 4096  # SynthFaces training faces whose inversions are the sources and targets
    generator: str = FROZEN["generator"]
    encoder: str = FROZEN["encoder"]
    au: str = FROZEN["au"]
    clip: str = "clip-synthfaces2-64"
    identity: str = "identity-synthfaces2-64"
    out_dir: str = ""  # default weights/auclip-synthfaces-64
    work_dir: str = str(Path.home() / ".cache" / "lgfa_lite" / "train" / "auclip-64")


# ----------------------------------------------------------------------------- the pipeline


@dataclasses.dataclass
class Frozen:
    """The frozen nets AU-CLIP edits with (and, in training, judges with)."""

    generator: nn.Module
    encoder: nn.Module
    au: nn.Module
    clip: nn.Module | None = None
    identity: nn.Module | None = None

    @staticmethod
    def load(generator: str, encoder: str, au: str, clip: str | None = None, identity: str | None = None) -> "Frozen":
        nets = Frozen(*(hub.load(n) if n else None for n in (generator, encoder, au, clip, identity)))
        for net in dataclasses.astuple(nets):
            if net is not None:
                net.eval().requires_grad_(False)
        return nets

    def decode(self, ws: torch.Tensor) -> torch.Tensor:
        """W+ (N, L, D) -> images in [0, 1], fixed noise."""
        return (self.generator.synthesis(ws).clamp(-1, 1) + 1) / 2


class Edit(NamedTuple):
    image: torch.Tensor  # the edited faces (B, 3, S, S) in [0, 1]
    reconstruction: torch.Tensor  # the source W+ decoded: what inversion kept of the face
    w: torch.Tensor  # the edited W+ codes (B, L, D)
    delta: torch.Tensor  # the AU increments used (B, n_aus)


def _check_aus(aus, batch: int, what: str = "target AUs") -> torch.Tensor:
    """(n_aus,) for every face or (B, n_aus), finite -> (B, n_aus) float."""
    try:
        aus = torch.as_tensor(aus, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{what} must be numbers, got {type(aus).__name__}") from None
    if aus.dim() == 1:
        aus = aus[None].expand(batch, -1)
    if aus.shape != (batch, N_AUS):
        raise ValueError(f"{what} must be ({N_AUS},) or ({batch}, {N_AUS}), got {tuple(aus.shape)}")
    if not torch.isfinite(aus).all():
        raise ValueError(f"{what} must be finite numbers")
    return aus


def check_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(a) or abs(a) > MAX_ALPHA:
        raise ValueError(f"alpha must be a finite number in [-{MAX_ALPHA:g}, {MAX_ALPHA:g}], got {alpha!r}")
    return a


class AUCLIPPipeline:
    """Faces or W+ codes + target AUs -> edits (`__call__`), expression transfer (`transfer`),
    animation (`animate`). Source AUs are read by the AU regressor from the input face (from the
    reconstruction when only a W+ code is given), as the original reads both with its detector."""

    def __init__(self, mapper: AUMapper, nets: Frozen, alpha: float = TRAIN_ALPHA):
        self.mapper, self.nets, self.alpha = mapper.eval(), nets, check_alpha(alpha)

    @property
    def world(self) -> str:
        """The SynthFaces world its generator learnt: photos are cropped, faces sampled for it."""
        return self.nets.generator.world

    def to(self, device) -> "AUCLIPPipeline":
        self.mapper.to(device)
        for net in dataclasses.astuple(self.nets):
            if net is not None:
                net.to(device)
        return self

    @torch.no_grad()
    def invert(self, face: torch.Tensor) -> torch.Tensor:
        """Faces (B, 3, H, W) in [0, 1] -> W+ (B, L, D) by the encoder."""
        return self.nets.encoder(face)

    @torch.no_grad()
    def read_aus(self, images: torch.Tensor) -> torch.Tensor:
        return self.nets.au(images)

    @torch.no_grad()
    def source(self, face=None, target_aus=None, *, w=None, delta=None):
        """-> (W+ codes, their reconstructions, Δau) of a face batch or its W+ codes `w`, with target
        AUs ((n_aus,) for all or (B, n_aus), in [0, 1]) or the increment `delta` itself."""
        if (face is None) == (w is None):
            raise ValueError("give either a face batch or its W+ codes `w`, not both or neither")
        if w is None:
            w = self.invert(face)
        elif not torch.is_tensor(w) or w.dim() != 3 or w.shape[1:] != (self.mapper.n_latent, self.mapper.style_dim):
            got = tuple(w.shape) if torch.is_tensor(w) else type(w).__name__
            raise ValueError(f"W+ codes must be (B, {self.mapper.n_latent}, {self.mapper.style_dim}), got {got}")
        if (target_aus is None) == (delta is None):
            raise ValueError("give either target AUs or an AU increment `delta`, not both or neither")
        recon = self.nets.decode(w)
        if delta is None:
            delta = _check_aus(target_aus, len(w)).clamp(0, 1) - self.read_aus(recon if face is None else face)
        return w, recon, _check_aus(delta, len(w), "the AU increment")

    @torch.no_grad()
    def __call__(self, face=None, target_aus=None, *, w=None, delta=None, alpha: float | None = None) -> Edit:
        """A face batch (B, 3, H, W) in [0, 1] (or its W+ codes `w`) and target AUs (or `delta`, see
        `source`) -> `Edit`; `alpha`: the residual scale (default the pipeline's)."""
        a = self.alpha if alpha is None else check_alpha(alpha)
        w, recon, delta = self.source(face, target_aus, w=w, delta=delta)
        edited = w + a * self.mapper(delta)
        return Edit(self.nets.decode(edited), recon, edited, delta)

    def transfer(self, face: torch.Tensor, reference: torch.Tensor, alpha: float | None = None) -> Edit:
        """Expression transfer: the reference faces' AUs (as the AU regressor reads them) on `face`."""
        reference = self.read_aus(reference)
        if len(reference) not in (1, len(face)):
            raise ValueError(f"give one reference face or one per face ({len(face)}), got {len(reference)}")
        return self(face, reference.expand(len(face), -1), alpha=alpha)

    @torch.no_grad()
    def animate(
        self, face=None, target_aus=None, frames: int = 16, mode: str = "delta", *, w=None, delta=None, alpha=None
    ) -> torch.Tensor:
        """One face (1, 3, H, W) (or its W+ `w`) -> frames (T, 3, S, S) from the reconstruction to the edit:
        frame k scales Δau by k / (T - 1) (mode "delta") or α (mode "alpha"): the original's two ways."""
        if mode not in ("delta", "alpha"):
            raise ValueError(f"mode must be 'delta' or 'alpha', got {mode!r}")
        if not 2 <= int(frames) <= 256:
            raise ValueError(f"frames must be between 2 and 256, got {frames}")
        a = self.alpha if alpha is None else check_alpha(alpha)
        w, _, delta = self.source(face, target_aus, w=w, delta=delta)
        if len(w) != 1:
            raise ValueError(f"animate takes one face (1, 3, H, W) or one W+ code, got a batch of {len(w)}")
        k = torch.linspace(0, 1, int(frames))
        offsets = self.mapper(delta * k[:, None]) if mode == "delta" else self.mapper(delta) * k[:, None, None]
        return self.nets.decode(w + a * offsets)


def load(name: str = WEIGHTS, alpha: float = TRAIN_ALPHA) -> AUCLIPPipeline:
    """The mapper checkpoint `name` (weights/, a folder or a Hub repo) with the frozen nets its config names."""
    mapper = hub.load(name)
    nets = mapper.config["frozen"]
    return AUCLIPPipeline(mapper, Frozen.load(nets["generator"], nets["encoder"], nets["au"]), alpha)


def train(config: AUCLIPConfig, *, nets: Frozen | None = None, data: dict | None = None):
    """Train the mapper (resumable) -> (pipeline, history); writes `config.out_dir` (default
    weights/auclip-synthfaces-64). `nets`, `data`: frozen nets and training latents
    (`lgfa_lite.train.auclip.training_latents`) for tests and notebooks."""
    from lgfa_lite.train import auclip as recipe

    return recipe.train(config, nets=nets, data=data)


def main(argv=None):
    from lgfa_lite.train.loop import method_cli

    train(method_cli("lgfa_lite.methods.auclip", "Train the lite AU-CLIP mapper on SynthFaces.", AUCLIPConfig(), argv))


if __name__ == "__main__":
    main()
