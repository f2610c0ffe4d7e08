"""Motion programs (smooth eased trajectories over expression and pose) and captions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .params import AU_INDEX, EXPRESSIONS, JAW_DROP_DEG, FaceParams, au_vector


@dataclass(frozen=True)
class Motion:
    name: str  # "turn left"
    verb: str  # third person: "turns left"
    gerund: str  # for "The person is {gerund}."
    aus: dict = field(default_factory=dict)  # AU -> added intensity at the apex
    pose: tuple = (0.0, 0.0, 0.0)  # added yaw, pitch, roll (degrees) at the apex
    jaw: float = 0.0  # added jaw opening (degrees) at the apex
    envelope: str = "hold"  # hold: ease in and stay; pulse: out and back; swing: there, through, back

    def weight(self, u: torch.Tensor) -> torch.Tensor:
        """Envelope in [-1, 1] at local time u in [0, 1]; 0 at u = 0."""
        u = u.clamp(0, 1)
        eased = u * u * (3 - 2 * u)
        if self.envelope == "hold":
            v = (u / 0.75).clamp(max=1)
            return v * v * (3 - 2 * v)
        if self.envelope == "pulse":
            return torch.sin(math.pi * eased)
        return torch.sin(2 * math.pi * eased)  # swing


def _m(name, verb, gerund, expression=None, **kw):
    return Motion(name, verb, gerund, aus=dict(EXPRESSIONS[expression]) if expression else kw.pop("aus", {}), **kw)


MOTIONS: dict[str, Motion] = {
    m.name: m
    for m in [
        _m("smile", "smiles", "smiling", "smiling"),
        _m("frown", "frowns", "frowning", "frowning"),
        _m("surprise", "looks surprised", "surprised", "surprised"),
        _m("open mouth", "opens the mouth", "opening mouth", "opening mouth"),
        _m("raise eyebrows", "raises the eyebrows", "raising eyebrows", "raising eyebrows"),
        _m("close eyes", "closes the eyes", "closing eyes", "closing eyes"),
        _m("wink", "winks", "winking", "winking", envelope="pulse"),
        _m("pout", "pouts", "pouting", "pouting"),
        _m("angry", "looks angry", "angry", "angry"),
        _m("sad", "looks sad", "sad", "sad"),
        _m("disgust", "looks disgusted", "disgusted", "disgusted"),
        _m("turn left", "turns left", "turning left", pose=(30.0, 0.0, 0.0)),
        _m("turn right", "turns right", "turning right", pose=(-30.0, 0.0, 0.0)),
        _m("look up", "looks up", "looking up", pose=(0.0, 18.0, 0.0)),
        _m("look down", "looks down", "looking down", pose=(0.0, -18.0, 0.0)),
        _m("nod", "nods", "nodding", pose=(0.0, -14.0, 0.0), envelope="pulse"),
        _m("shake head", "shakes the head", "shaking head", pose=(22.0, 0.0, 0.0), envelope="swing"),
        _m("tilt", "tilts the head", "tilting head", pose=(0.0, 0.0, 18.0)),
    ]
}


def motion_clip(params: FaceParams, motions: list[str] | str, frames: int = 16) -> tuple[FaceParams, str]:
    """One face (batch 1) + motion names -> (FaceParams with batch = frames, caption).

    Chained motions play one after another in equal parts of the clip; a finished "hold"
    motion stays at its apex while the next plays. Frame 0 is exactly the input face.
    """
    names = [motions] if isinstance(motions, str) else list(motions)
    unknown = [n for n in names if n not in MOTIONS]
    if unknown or not names:
        raise ValueError(f"unknown motion(s) {unknown or names}; choose from: {', '.join(MOTIONS)}")
    if not 2 <= int(frames) <= 512:
        raise ValueError(f"frames must be in [2, 512], got {frames}")
    if params.batch_size != 1:
        raise ValueError("motion_clip animates one face: pass params with batch size 1")
    T = int(frames)
    t = torch.linspace(0, 1, T)
    seq = params.repeat(T)
    aus, pose, jaw = seq.aus.clone(), seq.pose.clone(), seq.jaw.clone()
    for i, name in enumerate(names):
        m = MOTIONS[name]
        w = m.weight((t - i / len(names)) * len(names))[:, None]
        aus = aus + w * au_vector(m.aus)
        pose = pose + w * torch.tensor(m.pose)
        jaw[:, :1] = jaw[:, :1] + w * m.jaw
    seq = seq.replace(aus=aus.clamp(0, 1), pose=pose, jaw=jaw)
    return seq, clip_caption(names)


def clip_caption(names: list[str]) -> str:
    verbs = [MOTIONS[n].verb for n in names]
    return "The person " + ", then ".join(verbs) + "."


def template_caption(name: str) -> str:
    """The LGFA prompt template: "The person is {x}."."""
    return f"The person is {MOTIONS[name].gerund}."


# ---------------------------------------------------------------------------------------
# Captions of still images, from their parameters
# ---------------------------------------------------------------------------------------
_PROTOS = {k: au_vector(v)[0] for k, v in EXPRESSIONS.items() if v}


def visible_aus(aus: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
    """The AUs a face shows: `aus` (..., 15) with AU26 raised to the jaw parameter's opening
    (jaw (..., 3), degrees) in AU26's units. The jaw parameter opens the mouth as AU26 does, so a
    face whose AUs are neutral but whose jaw is open is named (and captioned) opening its mouth."""
    out = aus.clone()
    k = AU_INDEX["AU26"]
    out[..., k] = torch.maximum(aus[..., k], (jaw[..., 0] / JAW_DROP_DEG).clamp(0, 1).to(aus.dtype))
    return out


def expression_name(aus: torch.Tensor) -> str:
    """Nearest prototype expression (cosine) of one AU vector; "neutral" when weak."""
    if aus.norm() < 0.35:
        return "neutral"
    best, score = "neutral", 0.0
    for name, proto in _PROTOS.items():
        s = float(torch.dot(aus, proto) / (aus.norm() * proto.norm()))
        if s > score:
            best, score = name, s
    return best if score > 0.55 else "making a face"


def hair_word(appearance: torch.Tensor) -> str:
    dark, warm = float(appearance[2]), float(appearance[3])
    if dark > 0.0:
        return "dark"
    return "red" if warm > 0.6 else ("blond" if dark < -1.0 else "brown")


def expression_sentence(expr: str) -> str:
    """The first sentence of a still face's caption (and a zero-shot CLIP prompt)."""
    return "The person has a neutral expression." if expr == "neutral" else f"The person is {expr}."


def caption(params: FaceParams) -> list[str]:
    """One caption per face: the LGFA template sentence, then pose and appearance details."""
    out = []
    for i in range(params.batch_size):
        expr = expression_name(visible_aus(params.aus[i], params.jaw[i]))
        yaw, pitch = float(params.pose[i, 0]), float(params.pose[i, 1])
        details = [f"{hair_word(params.appearance[i])} hair"]
        if yaw > 15:
            details.append("turned to the left")
        elif yaw < -15:
            details.append("turned to the right")
        if pitch > 12:
            details.append("looking up")
        elif pitch < -12:
            details.append("looking down")
        out.append(expression_sentence(expr) + " " + ", ".join(details).capitalize() + ".")
    return out


# The 28 words of the LGFA prompt template ("The person is {x}.") -> the SynthFaces expression
# that shows it, or None where SynthFaces has no way to show it (tongues, gaze, attitude).
LGFA_WORDS: dict[str, str | None] = {
    "smiling": "smiling",
    "angry": "angry",
    "closing eyes": "closing eyes",
    "winking": "winking",
    "shocked": "surprised",
    "pouting": "pouting",
    "crying": "sad",
    "disgusted": "disgusted",
    "appalled": "disgusted",
    "opening mouth": "opening mouth",
    "hatred": "angry",
    "surprised": "surprised",
    "aha": None,
    "annoyed": "frowning",
    "awkward": None,
    "biting tongues": None,
    "blank stare": "neutral",
    "confused": None,
    "duck lips": "pouting",
    "incredulous": "raising eyebrows",
    "mocking": None,
    "nervous": None,
    "no comment": None,
    "oh no": None,
    "serious": "neutral",
    "stunned": "surprised",
    "whatever": None,
    "wtf": None,
}
