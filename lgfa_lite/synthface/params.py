"""SynthFaces parameters: identity shape, appearance, expression (AUs), jaw, head pose, camera.

Continuous identity/appearance factors have a standard-normal prior; AUs are intensities in
[0, 1]; angles are degrees. A FaceParams is a batch: every field is a tensor with batch first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

# FACS action units SynthFaces can show. AU46 (wink) closes the subject's left eye only.
# fmt: off
AU_NAMES = [
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU12",
    "AU15", "AU18", "AU20", "AU25", "AU26", "AU45", "AU46",
]
AU_DESCRIPTIONS = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU12": "lip corner puller", "AU15": "lip corner depressor",
    "AU18": "lip pucker", "AU20": "lip stretcher", "AU25": "lips part",
    "AU26": "jaw drop", "AU45": "blink (both eyes)", "AU46": "wink (left eye)",
}
# fmt: on
AU_INDEX = {name: i for i, name in enumerate(AU_NAMES)}
N_AUS = len(AU_NAMES)
N_SHAPE = 24
N_APPEARANCE = 16

# fmt: off
SHAPE_NAMES = [
    "head_width", "head_height", "head_depth", "jaw_width", "chin_length", "chin_protrusion",
    "cheekbones", "forehead_slope", "eye_separation", "eye_height", "eye_size", "eye_tilt",
    "brow_height", "brow_thickness", "brow_arch", "nose_length", "nose_width", "nose_protrusion",
    "mouth_width", "mouth_height", "upper_lip", "lower_lip", "lip_protrusion", "face_flatness",
]
APPEARANCE_NAMES = [
    "skin_tone", "skin_redness", "hair_darkness", "hair_warmth", "hair_length", "hair_volume",
    "hairline", "iris_hue", "iris_darkness", "light_azimuth", "light_elevation",
    "background_hue_a", "background_hue_b", "background_brightness", "background_angle",
    "lip_colour",
]
# fmt: on
# Appearance factors that belong to the person (kept across images of one identity);
# lighting and background change from photo to photo.
IDENTITY_APPEARANCE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 15]
SCENE_APPEARANCE = [9, 10, 11, 12, 13, 14]

# Largest absolute angles (degrees) the renderer is meant for; the UI and samplers clamp to them.
POSE_LIMITS = {"yaw": 45.0, "pitch": 30.0, "roll": 30.0, "jaw": 25.0}
JAW_DROP_DEG = 16.0  # how far AU26 (jaw drop) at intensity 1 opens the jaw, in degrees
CAMERA_DEFAULT = (1.0, 0.0, 0.0)  # scale multiplier, tx, ty (normalised image units)


@dataclass
class FaceParams:
    shape: torch.Tensor  # (B, 24) identity geometry, N(0, 1)
    appearance: torch.Tensor  # (B, 16) colours, hair, light, background, N(0, 1)
    aus: torch.Tensor  # (B, 15) AU intensities in [0, 1]
    jaw: torch.Tensor  # (B, 3) degrees: opening (pitch, + opens), yaw, roll
    pose: torch.Tensor  # (B, 3) degrees: yaw (+ = turns to own left), pitch (+ = up), roll (+ = ccw)
    camera: torch.Tensor  # (B, 3) scale multiplier, tx, ty

    @property
    def batch_size(self) -> int:
        return self.shape.shape[0]

    def __len__(self) -> int:
        return self.batch_size

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes) -> "FaceParams":
        """A copy with some fields replaced; values broadcast to the batch and become float."""
        out = self.tensors()
        for key, value in changes.items():
            if key not in out:
                raise KeyError(f"FaceParams has no field {key!r}")
            value = torch.as_tensor(value, dtype=torch.float32, device=out[key].device)
            out[key] = value.expand_as(out[key]).clone() if value.dim() < 2 else value
        return FaceParams(**out)

    def clone(self) -> "FaceParams":
        return FaceParams(**{k: v.clone() for k, v in self.tensors().items()})

    def to(self, device) -> "FaceParams":
        return FaceParams(**{k: v.to(device) for k, v in self.tensors().items()})

    def __getitem__(self, index) -> "FaceParams":
        if isinstance(index, int):
            index = slice(index, index + 1)
        return FaceParams(**{k: v[index] for k, v in self.tensors().items()})

    def repeat(self, n: int) -> "FaceParams":
        """Each face repeated n times (batch B -> B * n, faces kept together)."""
        return FaceParams(**{k: v.repeat_interleave(n, 0) for k, v in self.tensors().items()})

    @staticmethod
    def from_data(data: dict, index=slice(None)) -> "FaceParams":
        """The parameters stored beside the images of a SynthFaces dataset dict (rows `index`)."""
        return FaceParams(**{f.name: data[f.name][index].float() for f in fields(FaceParams)})

    @staticmethod
    def cat(items: list["FaceParams"]) -> "FaceParams":
        return FaceParams(**{f.name: torch.cat([getattr(p, f.name) for p in items]) for f in fields(FaceParams)})

    def clamped(self) -> "FaceParams":
        """Values pulled into the ranges the renderer is built for (bad input never crashes it)."""
        t = {k: torch.nan_to_num(v.float()) for k, v in self.tensors().items()}
        lim = POSE_LIMITS
        pose_lim = torch.tensor([lim["yaw"], lim["pitch"], lim["roll"]], device=t["pose"].device)
        jaw_lo = torch.tensor([-3.0, -10.0, -10.0], device=t["jaw"].device)
        jaw_hi = torch.tensor([lim["jaw"], 10.0, 10.0], device=t["jaw"].device)
        return FaceParams(
            shape=t["shape"].clamp(-3, 3),
            appearance=t["appearance"].clamp(-3, 3),
            aus=t["aus"].clamp(0, 1),
            jaw=torch.maximum(torch.minimum(t["jaw"], jaw_hi), jaw_lo),
            pose=torch.maximum(torch.minimum(t["pose"], pose_lim), -pose_lim),
            camera=torch.stack(
                [t["camera"][:, 0].clamp(0.5, 2.0), t["camera"][:, 1].clamp(-1, 1), t["camera"][:, 2].clamp(-1, 1)], 1
            ),
        )

    # ---- constructors -------------------------------------------------------------------
    @staticmethod
    def neutral(batch: int = 1) -> "FaceParams":
        """The mean face: average identity, neutral expression, frontal pose, default camera."""
        return FaceParams(
            shape=torch.zeros(batch, N_SHAPE),
            appearance=torch.zeros(batch, N_APPEARANCE),
            aus=torch.zeros(batch, N_AUS),
            jaw=torch.zeros(batch, 3),
            pose=torch.zeros(batch, 3),
            camera=torch.tensor(CAMERA_DEFAULT).repeat(batch, 1),
        )

    @staticmethod
    def identity(seed: int, batch: int = 1) -> "FaceParams":
        """The person `seed` (shape + personal appearance), neutral expression, frontal, studio scene."""
        g = torch.Generator().manual_seed(_identity_seed(seed))
        shape = torch.randn(1, N_SHAPE, generator=g)
        appearance = torch.randn(1, N_APPEARANCE, generator=g)
        appearance[:, SCENE_APPEARANCE] = 0.0
        p = FaceParams.neutral(1)
        p.shape, p.appearance = shape, appearance
        return p.repeat(batch)

    @staticmethod
    def sample(
        batch: int,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        identities: torch.Tensor | list[int] | None = None,
    ) -> "FaceParams":
        """Random faces: identity (from `identities` if given), scene, expression, pose, camera."""
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        g = generator
        if identities is None:
            shape = torch.randn(batch, N_SHAPE, generator=g)
            appearance = torch.randn(batch, N_APPEARANCE, generator=g)
        else:
            ids = FaceParams.cat([FaceParams.identity(int(i)) for i in identities])
            shape, appearance = ids.shape, ids.appearance.clone()
            appearance[:, SCENE_APPEARANCE] = torch.randn(batch, len(SCENE_APPEARANCE), generator=g)
        return FaceParams(
            shape=shape,
            appearance=appearance,
            aus=sample_aus(batch, g),
            jaw=_sample_jaw(batch, g),
            pose=_sample_pose(batch, g),
            camera=_sample_camera(batch, g),
        )


def _identity_seed(seed: int) -> int:
    # Decorrelate nearby ids from the per-image seeds used elsewhere.
    return (int(seed) * 2654435761 + 97) % (2**63 - 1)


# Expressions as AU prototypes: used by the sampler, captions and motions.
EXPRESSIONS = {
    "neutral": {},
    "smiling": {"AU06": 0.7, "AU12": 0.9, "AU25": 0.3},
    "surprised": {"AU01": 0.9, "AU02": 0.9, "AU05": 0.8, "AU25": 0.7, "AU26": 0.6},
    "angry": {"AU04": 0.9, "AU05": 0.4, "AU07": 0.7, "AU15": 0.3},
    "sad": {"AU01": 0.8, "AU04": 0.6, "AU15": 0.8},
    "disgusted": {"AU04": 0.4, "AU09": 0.9, "AU15": 0.5, "AU25": 0.2},
    "frowning": {"AU04": 0.9, "AU15": 0.4},
    "pouting": {"AU18": 0.9, "AU15": 0.2},
    "opening mouth": {"AU25": 0.9, "AU26": 0.9},
    "closing eyes": {"AU45": 1.0},
    "winking": {"AU46": 1.0, "AU06": 0.3, "AU12": 0.3},
    "raising eyebrows": {"AU01": 0.9, "AU02": 0.9},
    "stretching lips": {"AU20": 0.9},
}


def au_vector(spec: dict[str, float], batch: int = 1) -> torch.Tensor:
    """{"AU12": 0.9, ...} -> (batch, N_AUS) tensor."""
    v = torch.zeros(batch, N_AUS)
    for name, value in spec.items():
        v[:, AU_INDEX[name]] = float(value)
    return v


def sample_aus(batch: int, g: torch.Generator) -> torch.Tensor:
    """Half prototype expressions at random intensity with AU jitter, half sparse random AUs."""
    protos = torch.stack([au_vector(spec)[0] for spec in EXPRESSIONS.values()])
    which = torch.randint(len(protos), (batch,), generator=g)
    strength = torch.rand(batch, 1, generator=g) * 0.8 + 0.3
    proto = (protos[which] * strength).clamp(0, 1)
    proto = (proto + 0.1 * torch.randn(batch, N_AUS, generator=g) * (proto > 0)).clamp(0, 1)
    active = torch.rand(batch, N_AUS, generator=g) < 0.25
    sparse = torch.rand(batch, N_AUS, generator=g) * active
    use_proto = torch.rand(batch, 1, generator=g) < 0.5
    return torch.where(use_proto, proto, sparse)


def _sample_pose(batch, g):
    pose = torch.randn(batch, 3, generator=g) * torch.tensor([14.0, 8.0, 6.0])
    return pose.clamp(-torch.tensor([40.0, 25.0, 20.0]), torch.tensor([40.0, 25.0, 20.0]))


def _sample_jaw(batch, g):
    jaw = torch.zeros(batch, 3)
    on = (torch.rand(batch, generator=g) < 0.2).float()
    jaw[:, 0] = on * torch.rand(batch, generator=g) * 15.0
    jaw[:, 1:] = torch.randn(batch, 2, generator=g) * 1.5 * on[:, None]
    return jaw


def _sample_camera(batch, g):
    cam = torch.randn(batch, 3, generator=g) * torch.tensor([0.04, 0.03, 0.03])
    cam[:, 0] += 1.0
    return cam
