"""SynthFaces worlds: how large expressions are drawn and how a face is framed.

A `World` is data: per-AU gains for the three places an AU acts (mesh displacement, eyelid
openings, texture marks such as frown lines and smile folds), how much a smile opens the lips,
and the framing. `V1` is the original world (camera framing, expressions as first modelled).
`V2` makes expressions legible to 64 px models: it frames every face by `align_crop` of its
landmarks (brows to chin fill the frame, about 0.29 of the width between the eye centres) and
draws each AU a few times larger (stylised, not realistic).

`align_crop` is the one definition of the crop, a function of 68 iBUG landmarks, so a real photo
(detected face -> landmarks -> the same crop) gets the framing the lite nets were trained on.
Unlike FFHQ's crop it is axis-aligned: it keeps head roll in the picture (LGFA's "tilts").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .params import AU_NAMES, N_AUS

# Crop: half width = max(EYE_FACTOR * eye distance, MOUTH_FACTOR * eye-to-mouth distance),
# centred MOUTH_SHIFT of the way from the eye midpoint to the mouth midpoint (FFHQ: 2.0, 1.8, 0.1).
EYE_FACTOR, MOUTH_FACTOR, MOUTH_SHIFT = 1.75, 1.575, 0.1


@dataclass(frozen=True)
class World:
    name: str
    geometry_gain: tuple[float, ...]  # per AU: scales its mesh displacement (and its jaw opening)
    lid_gain: tuple[float, ...]  # per AU: scales its effect on the eyelid openings
    texture_gain: tuple[float, ...]  # per AU: scales its marks in the texture (lines, folds)
    smile_opens_lips: float = 0.0  # degrees of jaw opening per unit of AU12 (teeth show in a smile)
    wink_adds: tuple[tuple[str, float], ...] = ()  # a wink (AU46) also moves the winking side as
    # these AUs do, e.g. (("AU06", 3.0),): the cheek rises (subject's left side only)
    pucker_thickens: float = 0.0  # lip height grows by this fraction per unit of AU18 (pouting lips)
    pucker_darkens: float = 0.0  # and the lip colour darkens by this fraction (pressed, pushed-out lips)
    eye_scale: float = 1.0  # eye width and openings, iris and pupil
    brow_scale: float = 1.0  # brow thickness
    lip_scale: float = 1.0  # lip height
    framing: str = "camera"  # "camera": the fixed orthographic camera; "landmarks": align_crop
    # the image's half width over align_crop's, for frontal faces (v1's camera shows more around
    # the face): what `image_crop` uses to frame a real photo as this world frames its renders
    crop_zoom: float = 1.0

    def gain(self, kind: str, device=None) -> torch.Tensor:
        return torch.tensor(getattr(self, f"{kind}_gain"), dtype=torch.float32, device=device)


def _gains(default: float = 1.0, **per_au: float) -> tuple[float, ...]:
    out = [default] * N_AUS
    for name, value in per_au.items():
        out[AU_NAMES.index(name)] = float(value)
    return tuple(out)


V1 = World("v1", _gains(), _gains(), _gains(), crop_zoom=1.36)  # measured on 64 frontal test faces
V2 = World(
    "v2",
    geometry_gain=_gains(3.0, AU04=2.6, AU06=3.5, AU09=4.0, AU12=2.2, AU15=3.2, AU18=4.0, AU20=2.4, AU25=1.6, AU26=1.0),
    lid_gain=_gains(1.0, AU05=2.8, AU06=1.6, AU07=2.6),
    texture_gain=_gains(1.0, AU04=1.8, AU06=1.5, AU09=3.0, AU12=1.4),
    smile_opens_lips=4.0,
    wink_adds=(("AU06", 3.0), ("AU04", 1.5)),
    pucker_thickens=0.3,
    pucker_darkens=0.5,
    eye_scale=1.3,
    brow_scale=1.3,
    lip_scale=1.4,
    framing="landmarks",
)
WORLDS = {"v1": V1, "v2": V2}
DEFAULT_WORLD = V2  # the world new renders, datasets and trainings use; a checkpoint records its own


def get_world(world: World | str | None) -> World:
    """A World, its name ('v1', 'v2') or None (the default world, v2). Code serving a checkpoint
    passes the checkpoint's world (e.g. `Generator.world`): v1 checkpoints keep seeing v1 faces."""
    if world is None:
        return DEFAULT_WORLD
    if isinstance(world, World):
        return world
    if world not in WORLDS:
        raise ValueError(f"unknown SynthFaces world {world!r}; one of {sorted(WORLDS)}")
    return WORLDS[world]


def image_crop(landmarks: torch.Tensor, world: World | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The square (centre (B, 2), half width (B,)) that frames a face with these landmarks as the
    `world` frames its renders: `align_crop` widened by the world's `crop_zoom`."""
    centre, half = align_crop(landmarks)
    return centre, half * get_world(world).crop_zoom


def align_crop(landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """68 iBUG landmarks (B, 68, 2) -> the square crop (centre (B, 2), half width (B,)) in the
    landmarks' units. Eye centres = means of points 36-41 and 42-47, mouth = mean of corners 48, 54."""
    lm = landmarks.float()
    eye_a, eye_b = lm[:, 36:42].mean(1), lm[:, 42:48].mean(1)
    eyes = (eye_a + eye_b) / 2
    mouth = (lm[:, 48] + lm[:, 54]) / 2
    to_mouth = mouth - eyes
    half = torch.maximum(EYE_FACTOR * (eye_b - eye_a).norm(dim=1), MOUTH_FACTOR * to_mouth.norm(dim=1))
    return eyes + MOUTH_SHIFT * to_mouth, half
