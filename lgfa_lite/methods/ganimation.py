"""GANimation (Pumarola et al. 2018): AU-conditioned expression editing with attention masks.

The generator sees the face with the target AU vector tiled over it and predicts a colour
image C and an attention mask A; the output keeps input pixels where A = 1:

    I_out = A * I_in + (1 - A) * C

AU set: the 15 SynthFaces AUs replace OpenFace's 17. Shared: AU01 02 04 05 06 07 09 12 15 20 25
26 45. Not in SynthFaces: AU10 (upper-lip raiser), AU14 (dimpler), AU17 (chin raiser), AU23
(lip tightener). Only in SynthFaces: AU18 (lip pucker) and AU46 (wink, left eye). Intensities
are in [0, 1] (OpenFace's 0..5 divided by 5); `openface_to_synthfaces` converts.

    pipe = load()                                          # GANimationPipeline: the generator
    image, attention, colour = pipe(face, PRESETS["smiling"])   # faces (B, 3, H, W) in [0, 1]
    frames = pipe.animate(face, interpolate_aus(source, target, 16))   # one face -> (T, 3, H, W)
    pipe, history = train(GANimationConfig(minutes=100))   # writes weights/ganimation-synthfaces-64
    python -m lgfa_lite.methods.ganimation train --minutes 100 --opts device cuda batch 32

Target AUs: one (n_aus,) vector for every face or (B, n_aus). Data parallel: `torchrun
--nproc_per_node 2 -m lgfa_lite.methods.ganimation train ...`.

The recipe (critic, losses, paired targets) is `lgfa_lite.train.ganimation`, imported only by
`train`; the lite recipe adds SynthFaces' paired ground truth to the original's losses
(`LOSS_WEIGHTS`; the original, unpaired: `ORIGINAL_RECIPE`). Measured runs: docs/experiments/ganimation.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from lgfa_lite import hub
from lgfa_lite.config import TrainConfig
from lgfa_lite.hub import register_model
from lgfa_lite.synthface import AU_NAMES, EXPRESSIONS, N_AUS, au_vector
from lgfa_lite.synthface.world import get_world

WEIGHTS = "ganimation-synthfaces-64"
# fmt: off
OPENFACE_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
                "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]
# fmt: on
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


# ----------------------------------------------------------------------------- the generator


class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x):
        return x + self.main(x)


def check_edit_inputs(images: torch.Tensor, aus: torch.Tensor, n_aus: int):
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            f"images must be a (B, 3, H, W) tensor in [0, 1], got "
            f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}"
        )
    if images.shape[-1] % 4 or images.shape[-2] % 4:
        raise ValueError(f"image height and width must be multiples of 4, got {tuple(images.shape[-2:])}")
    if not torch.is_tensor(aus) or aus.shape != (images.shape[0], n_aus):
        raise ValueError(
            f"AUs must be ({images.shape[0]}, {n_aus}), got "
            f"{tuple(aus.shape) if torch.is_tensor(aus) else type(aus).__name__}"
        )
    if not torch.isfinite(aus).all():
        raise ValueError("AU intensities must be finite numbers")


@register_model("ganimation-generator")
class Generator(nn.Module):
    """conv7 -> 2x (stride-2 conv) -> residual blocks -> 2x (upsample + conv) -> colour (tanh)
    and attention (sigmoid) heads; instance norm, as the original. Resolution-free.

    The original upsamples with 4x4 stride-2 transposed convs; at 64 px in a CPU budget they left
    a checkerboard over the whole colour image C (and so over the edit), so this uses nearest
    upsampling followed by a 3x3 conv (Odena et al. 2016)."""

    def __init__(
        self, n_aus: int = N_AUS, conv_dim: int = 64, repeat_num: int = 6, edge_kernel: int = 7, world: str = "v1"
    ):
        super().__init__()
        self.world = get_world(world).name  # the SynthFaces world whose faces (and framing) it learnt
        self.config = {
            "n_aus": int(n_aus),
            "conv_dim": int(conv_dim),
            "repeat_num": int(repeat_num),
            "edge_kernel": int(edge_kernel),
            "world": self.world,
        }
        self.n_aus = int(n_aus)
        d, k = conv_dim, int(edge_kernel)  # k: the full-resolution convs (7 in the original; 3 is ~2x faster on CPU)
        layers = [
            nn.Conv2d(3 + n_aus, d, k, 1, k // 2, bias=False),
            nn.InstanceNorm2d(d, affine=True),
            nn.ReLU(inplace=True),
        ]
        for _ in range(2):
            layers += [
                nn.Conv2d(d, d * 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(d * 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            d *= 2
        layers += [ResidualBlock(d) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(d, d // 2, 3, 1, 1, bias=False),
                nn.InstanceNorm2d(d // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
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


# ----------------------------------------------------------------------------- editing helpers


def mask_saturated(mask_mean: float, low: float = 0.02, high: float = 0.98) -> str | None:
    """The failure users report most: A stuck at all ones (no edit) or all zeros (input ignored)."""
    if mask_mean >= high:
        return f"attention mask saturated at {mask_mean:.3f} (all ones): the generator has stopped editing"
    if mask_mean <= low:
        return f"attention mask collapsed to {mask_mean:.3f} (all zeros): the output ignores the input face"
    return None


def interpolate_aus(source: torch.Tensor, target: torch.Tensor, frames: int) -> torch.Tensor:
    """(n_aus,) source and target -> (frames, n_aus), eased (smoothstep) from source to target."""
    if not 2 <= int(frames) <= 512:
        raise ValueError(f"frames must be in [2, 512], got {frames}")
    u = torch.linspace(0, 1, int(frames))[:, None]
    u = u * u * (3 - 2 * u)
    return source.reshape(1, -1) * (1 - u) + target.reshape(1, -1) * u


@torch.no_grad()
def aus_from_video(au_regressor: nn.Module, frames: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Driving video frames (T, 3, H, W) -> AU trajectory (T, n_aus) read by the AU regressor."""
    return torch.cat([au_regressor(chunk) for chunk in frames.split(batch)])


# ----------------------------------------------------------------------------- config

# The original's weights (lambda_D_cond 4000 is its MSE sum over 17 AUs / batch; 160 is the
# per-AU mean-squared form used by its public re-implementations and by this module).
ORIGINAL_LOSS_WEIGHTS = {
    "gp": 10.0,
    "au": 160.0,
    "cycle": 10.0,
    "saturation": 0.1,
    "smoothness": 1e-5,
    "paired": 0.0,
    "paired_mask": 0.0,
    "paired_focus": 0.0,
}
# The lite recipe (SynthFaces has pairs): `paired` is the L1 to the same face rendered with the target
# AUs, the pixels that pair changes weighted 1 + `paired_focus` times; `paired_mask` pulls the
# attention mask towards where the pair differs; `paired_perceptual` is the lite perceptual distance
# to the pair (sharper edits than L1 alone). The AU weight drops to 10: at 160 the generator
# paints what its AU judge reads (docs/experiments/ganimation.md). The original's terms all stay.
LOSS_WEIGHTS = {
    **ORIGINAL_LOSS_WEIGHTS,
    "au": 10.0,
    "paired": 100.0,
    "paired_mask": 10.0,
    "paired_focus": 10.0,
    "paired_perceptual": 100.0,
}
# The original recipe, for `--opts` or `GANimationConfig(**ORIGINAL_RECIPE)`: unpaired, 5 critic steps per G step.
ORIGINAL_RECIPE = {"n_critic": 5, "lr": 1e-4, "loss_weights": dict(ORIGINAL_LOSS_WEIGHTS)}


@dataclasses.dataclass
class GANimationConfig(TrainConfig):
    """The training recipe's settings (`train`; `--opts KEY VAL` on the command line)."""

    steps: int = 8000
    batch: int = 16
    lr: float = 2e-4  # the original: 1e-4
    betas: tuple = (0.5, 0.999)
    n_critic: int = 1  # critic updates per generator update (the original: 5)
    decay_start: float = 0.5  # the lr decays linearly to 0 over the run after this fraction (the original: half)
    resolution: int = 64
    conv_dim: int = 16
    repeat_num: int = 4
    edge_kernel: int = 3
    critic_dim: int = 32
    target_noise: float = 0.1  # target AUs = another face's AUs + U(-0.1, 0.1)
    loss_weights: dict = dataclasses.field(default_factory=lambda: dict(LOSS_WEIGHTS))
    train_size: int = 16384
    synthfaces: str = "v2"  # the SynthFaces world of the training faces and their paired targets
    critic_warmup: int = 0  # critic-only steps before the generator's first update
    out_dir: str = ""  # default weights/ganimation-synthfaces-64
    work_dir: str = str(Path.home() / ".cache" / "lgfa_lite" / "train" / "ganimation-64")


# ----------------------------------------------------------------------------- the pipeline


class Edit(NamedTuple):
    image: torch.Tensor  # the edited faces, (B, 3, H, W) in [0, 1]
    attention: torch.Tensor  # A, (B, 1, H, W): 1 = kept from the input
    colour: torch.Tensor  # C, (B, 3, H, W) in [0, 1]


class GANimationPipeline:
    """Faces + target AUs -> edited faces (`__call__`), or one face + an AU sequence -> frames (`animate`)."""

    def __init__(self, generator: Generator):
        self.generator = generator.eval()
        self.world = generator.world  # faces should come framed as this SynthFaces world frames them

    def to(self, device) -> "GANimationPipeline":
        self.generator.to(device)
        return self

    @torch.no_grad()
    def __call__(self, face: torch.Tensor, aus) -> Edit:
        """Faces (B, 3, H, W) in [0, 1] (H, W multiples of 4), target AUs (n_aus,) for all or (B, n_aus)."""
        aus = torch.as_tensor(aus, dtype=torch.float32)
        if aus.dim() == 1:
            aus = aus[None].expand(face.shape[0], -1)
        return Edit(*self.generator(face, aus))

    @torch.no_grad()
    def animate(self, face: torch.Tensor, au_sequence: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """One face (1, 3, H, W) and AU vectors (T, n_aus) -> frames (T, 3, H, W), one edit per frame."""
        if not torch.is_tensor(face) or face.dim() != 4 or face.shape[0] != 1:
            raise ValueError(
                f"animate takes one face (1, 3, H, W), got "
                f"{tuple(face.shape) if torch.is_tensor(face) else type(face).__name__}"
            )
        if au_sequence.dim() != 2 or len(au_sequence) == 0:
            raise ValueError(f"the AU sequence must be (T >= 1, n_aus), got {tuple(au_sequence.shape)}")
        au_sequence = au_sequence.float().clamp(0, 1)
        G = self.generator
        return torch.cat([G(face.expand(len(chunk), -1, -1, -1), chunk)[0] for chunk in au_sequence.split(batch)])


def load(name: str = WEIGHTS) -> GANimationPipeline:
    """The generator checkpoint `name` (weights/, a folder or a Hub repo) in its pipeline."""
    return GANimationPipeline(hub.load(name))


def train(config: GANimationConfig, *, data: dict | None = None) -> tuple[GANimationPipeline, list[dict]]:
    """Train the generator and its critic (resumable; rank 0 writes the generator) -> (pipeline,
    history). By default the data is `config.train_size` SynthFaces training faces; tests and
    notebooks may pass fewer (`standard_faces`)."""
    from lgfa_lite.train import ganimation as recipe

    return recipe.train(config, data=data)


def main(argv=None):
    from lgfa_lite.train.loop import method_cli

    train(
        method_cli(
            "lgfa_lite.methods.ganimation",
            "Train the lite GANimation generator on SynthFaces.",
            GANimationConfig(),
            argv,
        )
    )


if __name__ == "__main__":
    main()
