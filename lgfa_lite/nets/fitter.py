"""3D fitter: image -> SynthFaces morphable-model parameters (shape, AUs, jaw, pose, camera).

Lite profile: `FaceFitter`, a small ResNet regressor trained here on SynthFaces renders with
both a parameter loss and a landmark reprojection loss through the (differentiable) model.
Full profile: `fit_landmarks` fits the same morphable model to 2D landmarks by optimization
(e.g. FAN landmarks of a real photo); it also refines the regressor's guess.
Appearance (colours, light, background) is not estimated: it is returned neutral.
"""

from __future__ import annotations

import torch
from torch import nn

from lgfa_lite.hub import register_model
from lgfa_lite.synthface import N_AUS, FaceParams
from lgfa_lite.synthface import head as H
from lgfa_lite.synthface.params import N_APPEARANCE, N_SHAPE
from lgfa_lite.synthface.world import get_world

from .blocks import ConvEncoder, check_images, resize

# Output scales: raw network outputs are ~N(0, 1); these map them to parameter units.
JAW_SCALE = (8.0, 2.0, 2.0)
POSE_SCALE = (15.0, 10.0, 8.0)
CAMERA_SCALE = (0.05, 0.04, 0.04)
N_OUT = N_SHAPE + N_AUS + 3 + 3 + 3


def landmarks_2d(params: FaceParams, resolution: int, world=None) -> torch.Tensor:
    """Differentiable 68 landmarks (B, 68, 2) in pixels of a `resolution` image of the SynthFaces
    `world` (its framing and expression sizes; None = the default world)."""
    return H.projected_face(params, get_world(world), resolution)[2][..., :2]


def params_from_raw(raw: torch.Tensor) -> FaceParams:
    """(B, N_OUT) unconstrained -> FaceParams (appearance zero = neutral)."""
    s = torch.split(raw, [N_SHAPE, N_AUS, 3, 3, 3], dim=1)
    camera = s[4] * s[4].new_tensor(CAMERA_SCALE) + s[4].new_tensor([1.0, 0.0, 0.0])
    return FaceParams(
        shape=s[0],
        appearance=raw.new_zeros(raw.shape[0], N_APPEARANCE),
        aus=torch.sigmoid(s[1]),
        jaw=s[2] * s[2].new_tensor(JAW_SCALE),
        pose=s[3] * s[3].new_tensor(POSE_SCALE),
        camera=camera,
    )


def raw_from_params(p: FaceParams) -> torch.Tensor:
    """Inverse of `params_from_raw` (AUs through a clamped logit)."""
    aus = p.aus.clamp(0.02, 0.98)
    cam = (p.camera - p.camera.new_tensor([1.0, 0.0, 0.0])) / p.camera.new_tensor(CAMERA_SCALE)
    return torch.cat(
        [
            p.shape,
            torch.log(aus / (1 - aus)),
            p.jaw / p.jaw.new_tensor(JAW_SCALE),
            p.pose / p.pose.new_tensor(POSE_SCALE),
            cam,
        ],
        1,
    )


@register_model("face-fitter")
class FaceFitter(nn.Module):
    def __init__(self, input_size: int = 64, channels=(32, 64, 128, 256), world: str = "v1"):
        super().__init__()
        self.world = get_world(world).name  # the SynthFaces world its parameters are meant for
        self.config = {"input_size": int(input_size), "channels": list(channels), "world": self.world}
        self.input_size = int(input_size)
        self.encoder = ConvEncoder(tuple(channels))
        self.head = nn.Linear(channels[-1], N_OUT)

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(resize(check_images(images), self.input_size)))

    def forward(self, images: torch.Tensor) -> FaceParams:
        """(B, 3, H, W) in [0, 1] -> FaceParams (camera relative to that image's frame)."""
        return params_from_raw(self.raw(images))


def fit_landmarks(
    target: torch.Tensor,
    resolution: int,
    *,
    visibility: torch.Tensor | None = None,
    init: FaceParams | None = None,
    steps: int = 150,
    lr: float = 0.05,
    prior: float = 1e-3,
    world=None,
) -> FaceParams:
    """Fit the morphable model to 2D landmarks (B, 68, 2) in pixels of a `resolution` image.

    Minimises the mean squared landmark error in units of the image size (visible points only)
    plus a small Gaussian prior on the normalised parameters; Adam on the raw parameters.
    """
    if target.dim() != 3 or target.shape[1:] != (68, 2):
        raise ValueError(f"target landmarks must be (B, 68, 2), got {tuple(target.shape)}")
    target = target.detach().float()
    B = target.shape[0]
    weight = torch.ones(B, 68) if visibility is None else visibility.float().clamp(0, 1)
    start = init if init is not None else FaceParams.neutral(B)
    raw = raw_from_params(start).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([raw], lr=lr)
    for _ in range(int(steps)):
        pts = landmarks_2d(params_from_raw(raw), resolution, world)
        err = ((pts - target) / resolution).pow(2).sum(-1)
        loss = (err * weight).sum() / weight.sum().clamp(min=1) + prior * raw.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    fitted = params_from_raw(raw.detach())
    if init is not None:  # keep what landmarks cannot tell (colours, light, background)
        fitted.appearance = init.appearance.detach().clone()
    return fitted
