"""User images in, model-ready face tensors out: every entry point reads faces through here.

`read_image` accepts a path, bytes, a PIL image or an array and says clearly what is wrong
with a non-image, a broken file, an empty or absurdly large one. `face_tensor` centre-crops
to a square and resizes to the model's resolution. `require_face` refuses pictures without a face the lite
nets can read (`face_score`).
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
        raise FaceInputError(f"{name} is not an image this app can read (PNG, JPEG, WebP, BMP, GIF): "
                             f"{type(e).__name__}") from None
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
        raise FaceInputError(f"the image is {a.shape[1]}x{a.shape[0]} pixels; the limit is "
                             f"{MAX_PIXELS / 1e6:g} megapixels.")
    if min(a.shape[:2]) < MIN_SIDE:
        raise FaceInputError(f"the image is only {a.shape[1]}x{a.shape[0]} pixels; a face needs at least "
                             f"{MIN_SIDE}x{MIN_SIDE}.")
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
    t = torch.from_numpy(np.array(a[top:top + s, left:left + s])).permute(2, 0, 1)[None].float() / 255
    if s != size:
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=s > size).clamp(0, 1)
    return t


def _net(name: str):
    from lgfa_lite import hub

    return hub.load_shared(name)


@torch.no_grad()
def face_score(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B,) disagreement of two independent lite nets about where the
    68 landmarks are (FAN heatmaps vs the 3D fitter's model), in inter-ocular units. On faces
    they agree (held-out faces: mean 0.07, max 0.29); on noise, blank or shifted pictures each
    guesses differently (>= 0.43). Heatmap peaks alone do not work: noise scores as high as faces."""
    from lgfa_lite.nets.blocks import resize
    from lgfa_lite.nets.fitter import landmarks_2d
    from lgfa_lite.nets.landmarks import inter_ocular

    x = resize(images, 64)
    fan_points, model_points = _net("fan-synthfaces-64")(x), landmarks_2d(_net("fitter-synthfaces-64")(x), 64)
    return (fan_points - model_points).norm(dim=-1).mean(1) / inter_ocular(model_points).clamp(min=4.0)


FACE_THRESHOLD = 0.35


def require_face(images: torch.Tensor, threshold: float = FACE_THRESHOLD) -> torch.Tensor:
    """Raise FaceInputError when an image shows no face the lite models can read; return the scores."""
    scores = face_score(images)
    if (scores > threshold).any():
        raise FaceInputError(f"No face found (landmark disagreement {float(scores.max()):.2f} > {threshold}). "
                             "The lite models read centred, roughly frontal faces that fill most of the picture.")
    return scores
