"""User images in, model-ready face tensors out: every entry point reads faces through here.

`read_image` accepts a path, bytes, a PIL image or an array and says clearly what is wrong
with a non-image, a broken file, an empty or absurdly large one. `face_tensor` centre-crops
to a square and resizes to the model's resolution. `require_face` refuses pictures without a face the lite
nets can read (`face_score`).

Real photos: `photo_landmarks` finds faces and their 68 iBUG landmarks offline with mediapipe's
FaceMesh (468 points, mapped to iBUG's 68 by `MEDIAPIPE_TO_IBUG`), and `align_photo` crops the
largest face with the SynthFaces crop of its landmarks (`synthface.image_crop`), so a photo is
framed as the lite nets' training renders of that world are.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

MAX_FILE_BYTES = 50 * 2**20
MAX_PIXELS = 50_000_000  # bigger is refused before decoding (decompression bombs)
MIN_SIDE = 16


class FaceInputError(ValueError):
    """A problem with a user's image, worded for the user."""


def read_image(source) -> np.ndarray:
    """Path / bytes / PIL image / array -> uint8 RGB (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    if source is None:
        raise FaceInputError("No image given: upload a face photo or pick a sample face.")
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), "the upload"
    else:
        path = Path(source)
        if not path.is_file():
            raise FaceInputError(f"Image file not found: {path.name}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FaceInputError(f"{path.name} is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
        data, name = path.read_bytes(), path.name
    if not data:
        raise FaceInputError(f"{name} is empty (0 bytes).")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise FaceInputError(f"{name} is {w}x{h} pixels; the limit is {MAX_PIXELS / 1e6:g} megapixels.")
            im.load()
            return _pil_to_rgb(im)
    except FaceInputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise FaceInputError(
            f"{name} is not an image this app can read (PNG, JPEG, WebP, BMP, GIF): {type(e).__name__}"
        ) from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated / corrupt data
        raise FaceInputError(f"{name} looks broken or truncated and cannot be decoded ({e}).") from None


def _pil_to_rgb(im) -> np.ndarray:
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return _array_to_rgb(np.asarray(im.convert("RGB")))


def _array_to_rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool or a.size == 0:
        raise FaceInputError(f"not an image array: dtype {a.dtype}, shape {a.shape}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise FaceInputError(f"an image must be (H, W), (H, W, 3) or (H, W, 4); got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)
        rgb = a[..., :3].astype(np.float32)
        top = 255.0 if a.dtype == np.uint8 else 1.0
        a = (rgb * alpha + top * (1 - alpha)).astype(a.dtype)
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise FaceInputError(
            f"the image is {a.shape[1]}x{a.shape[0]} pixels; the limit is {MAX_PIXELS / 1e6:g} megapixels."
        )
    if min(a.shape[:2]) < MIN_SIDE:
        raise FaceInputError(
            f"the image is only {a.shape[1]}x{a.shape[0]} pixels; a face needs at least {MIN_SIDE}x{MIN_SIDE}."
        )
    if a.dtype != np.uint8:
        f = a.astype(np.float64)
        if not np.isfinite(f).all():
            raise FaceInputError("the image contains NaN or infinite values.")
        f = f * 255 if f.max() <= 1.0 else f
        a = np.clip(np.round(f), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def face_tensor(image, size: int = 64) -> torch.Tensor:
    """Any readable image -> (1, 3, size, size) float in [0, 1]: centre square crop, antialiased resize."""
    a = read_image(image)
    h, w = a.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    t = torch.from_numpy(np.array(a[top : top + s, left : left + s])).permute(2, 0, 1)[None].float() / 255
    if s != size:
        t = torch.nn.functional.interpolate(
            t, size=(size, size), mode="bilinear", align_corners=False, antialias=s > size
        ).clamp(0, 1)
    return t


def _net(name: str):
    from lgfa_lite import hub

    return hub.load_shared(name)


@torch.no_grad()
def face_score(images: torch.Tensor, world: str = "v1") -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B,) disagreement of two independent lite nets about where the
    68 landmarks are (FAN heatmaps vs the 3D fitter's model), in inter-ocular units. On faces
    they agree (held-out faces: mean 0.07, max 0.29); on noise, blank or shifted pictures each
    guesses differently (>= 0.43). Heatmap peaks alone do not work: noise scores as high as faces.
    `world`: the SynthFaces world whose framing the faces should have (its nets judge them)."""
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.blocks import resize
    from lgfa_lite.nets.fitter import landmarks_2d
    from lgfa_lite.nets.landmarks import inter_ocular

    x = resize(images, 64)
    fitter = _net(lite_weights("fitter-synthfaces-64", world))
    fan_points = _net(lite_weights("fan-synthfaces-64", world))(x)
    model_points = landmarks_2d(fitter(x), 64, fitter.world)
    return (fan_points - model_points).norm(dim=-1).mean(1) / inter_ocular(model_points).clamp(min=4.0)


FACE_THRESHOLD = 0.35


def require_face(images: torch.Tensor, threshold: float = FACE_THRESHOLD, world: str = "v1") -> torch.Tensor:
    """Raise FaceInputError when an image shows no face the lite models of `world` can read; return the scores."""
    scores = face_score(images, world)
    if (scores > threshold).any():
        raise FaceInputError(
            f"No face found (landmark disagreement {float(scores.max()):.2f} > {threshold}). "
            "The lite models read centred, roughly frontal faces that fill most of the picture."
        )
    return scores


# ------------------------------------------------------------------------------ real photos

# mediapipe FaceMesh vertex for each of the 68 iBUG points (jaw from the subject's right, brows,
# nose bridge and base, eyes from the right eye's outer corner, outer then inner lips).
# fmt: off
MEDIAPIPE_TO_IBUG = [
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,  # jaw 0-16
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows 17-26
    168, 197, 5, 4, 98, 97, 2, 326, 327,  # nose 27-35
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes 36-47
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,  # outer lips 48-59
    78, 81, 13, 311, 308, 402, 14, 178,  # inner lips 60-67
]
# fmt: on
MIN_FACE_PX = 24  # eye-to-mouth distance below this is too small to animate


def photo_landmarks(image, max_faces: int = 5) -> np.ndarray:
    """An image -> (F, 68, 2) iBUG landmarks in pixels of every face found, largest first
    (F = 0 when there is none). mediapipe FaceMesh, static-image mode, runs offline."""
    try:
        import mediapipe as mp
    except ImportError as e:  # pragma: no cover - a broken install, said plainly
        raise FaceInputError("Real photos need the mediapipe package (pip install mediapipe==0.10.14).") from e
    a = read_image(image)
    h, w = a.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=max_faces, refine_landmarks=False, min_detection_confidence=0.5
    ) as mesh:
        found = mesh.process(a).multi_face_landmarks or []
    faces = [np.array([[p.x * w, p.y * h] for p in f.landmark], dtype=np.float32)[MEDIAPIPE_TO_IBUG] for f in found]
    faces.sort(key=lambda lm: -np.ptp(lm[:, 0]) * np.ptp(lm[:, 1]))
    return np.stack(faces) if faces else np.zeros((0, 68, 2), np.float32)


class AlignedPhoto:
    """The largest face of a photo, cropped as a SynthFaces world frames its renders.

    image: (1, 3, size, size) in [0, 1]; landmarks: (1, 68, 2) in its pixels; box: the crop in the
    photo (left, top, side) in pixels, possibly reaching past the border (filled by edge pixels);
    faces: how many faces the photo shows; notes: what a user should be told (several faces, ...)."""

    def __init__(self, image, landmarks, box, faces, notes):
        self.image, self.landmarks, self.box, self.faces, self.notes = image, landmarks, box, faces, notes


def align_photo(image, size: int = 64, world=None) -> AlignedPhoto:
    """Read a photo, find its faces, and crop the largest with `image_crop` of its landmarks.
    Raises FaceInputError when no face is found or it is too small to use."""
    a = read_image(image)
    return crop_photo(a, photo_landmarks(a), size, world)


def crop_photo(a: np.ndarray, found: np.ndarray, size: int = 64, world=None) -> AlignedPhoto:
    """`align_photo` for a photo already read (uint8 RGB) with its faces' landmarks (`photo_landmarks`)."""
    from lgfa_lite.synthface.world import image_crop

    if len(found) == 0:
        raise FaceInputError(
            "No face found in the photo. Use a photo with one face seen from the front, eyes and mouth visible."
        )
    lm = torch.from_numpy(found[:1])
    eyes_to_mouth = float(((lm[:, 48] + lm[:, 54]) / 2 - lm[:, 36:48].mean(1)).norm())
    if eyes_to_mouth < MIN_FACE_PX:
        raise FaceInputError(
            f"The face is too small in this photo ({eyes_to_mouth:.0f} px from eyes "
            f"to mouth; at least {MIN_FACE_PX} needed). Crop closer to the face."
        )
    centre, half = image_crop(lm, world)
    h, w = a.shape[:2]
    # the crop as normalised sampling coordinates of the photo (grid_sample: -1..1 = pixel edges)
    lin = torch.linspace(-1, 1, size) * (1 - 1 / size)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    px, py = centre[0, 0] + gx * half[0], centre[0, 1] + gy * half[0]
    grid = torch.stack([px / w * 2 - 1, py / h * 2 - 1], -1)[None]
    photo = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    scale = 2 * float(half[0]) / size
    if scale > 1.5:  # shrinking: blur first so the crop is not aliased
        photo = torch.nn.functional.avg_pool2d(
            photo, int(scale), stride=1, padding=int(scale) // 2, count_include_pad=False
        )[..., :h, :w]
    crop = torch.nn.functional.grid_sample(photo, grid, mode="bilinear", padding_mode="border", align_corners=False)
    landmarks = (lm - centre[:, None] + half[:, None, None]) / (2 * half[:, None, None]) * size
    notes = []
    if len(found) > 1:
        notes.append(f"{len(found)} faces found; using the largest.")
    left, top = float(centre[0, 0] - half[0]), float(centre[0, 1] - half[0])
    return AlignedPhoto(crop.clamp(0, 1), landmarks, (left, top, 2 * float(half[0])), len(found), notes)
