"""Small video helpers: write browser-friendly mp4s, read videos back, make frame strips.

Writing uses imageio's ffmpeg backend (``imageio-ffmpeg``), whose wheel ships its own
ffmpeg binary, so no system ffmpeg is needed. Videos are H.264 in yuv420p, which every
browser plays. yuv420p needs even frame sizes and many decoders prefer multiples of 16,
so frames are padded (edge pixels repeated) to a multiple of ``macro_block_size``; tiny
frames (SynthFaces renders at 64 px) are first upscaled by an integer factor so that a
browser shows them at a useful size instead of a blurry thumbnail.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "to_uint8_frames",
    "upscale_frames",
    "write_mp4",
    "read_video",
    "video_info",
    "frames_to_strip",
]


def _to_numpy(x) -> np.ndarray:
    try:  # torch is optional here: accept tensors without importing torch eagerly
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a hard dependency of the package
        pass
    return np.asarray(x)


def to_uint8_frames(frames) -> np.ndarray:
    """Return frames as a contiguous uint8 array (T, H, W, 3).

    Accepts a uint8 array/tensor (T, H, W, 3), a float array/tensor in [0, 1] laid out
    (T, 3, H, W) or (T, H, W, 3), grayscale with one channel, a single frame (3-D), or a
    list of frames.
    """
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise ValueError("no frames given")
        frames = np.stack([to_uint8_frames(f)[0] for f in frames])
    arr = _to_numpy(frames)
    if arr.ndim == 3:  # one frame
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"frames must have shape (T,H,W,3) or (T,3,H,W); got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("no frames given")
    # channel-first if the second axis looks like channels and the last does not
    if arr.shape[1] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    elif arr.shape[-1] != 3:
        raise ValueError(f"frames must have 1, 3 or 4 channels; got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr.astype(np.uint8) * 255)
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0)
        return np.ascontiguousarray((np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    if np.issubdtype(arr.dtype, np.integer):
        return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8))
    raise ValueError(f"unsupported frame dtype {arr.dtype}")


def upscale_frames(frames: np.ndarray, min_size: int = 256, mode: str = "nearest") -> np.ndarray:
    """Upscale uint8 (T,H,W,3) frames by the smallest integer factor that makes the
    shorter side at least ``min_size`` (no-op when it already is)."""
    t, h, w, _ = frames.shape
    if not min_size or min(h, w) >= min_size:
        return frames
    k = math.ceil(min_size / min(h, w))
    if mode == "nearest":
        return np.ascontiguousarray(frames.repeat(k, axis=1).repeat(k, axis=2))
    if mode == "bilinear":
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, scale_factor=k, mode="bilinear", align_corners=False)
        return np.ascontiguousarray(y.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
    raise ValueError(f"mode must be 'nearest' or 'bilinear'; got {mode!r}")


def _pad_to_multiple(frames: np.ndarray, m: int) -> np.ndarray:
    if m <= 1:
        return frames
    _, h, w, _ = frames.shape
    ph, pw = (-h) % m, (-w) % m
    if ph == 0 and pw == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")


def write_mp4(
    frames,
    path: str | os.PathLike,
    fps: float = 10,
    min_size: int = 256,
    upscale: str = "nearest",
    macro_block_size: int = 16,
    quality: float = 8,
) -> Path:
    """Write frames to an H.264/yuv420p mp4 that browsers can play; return the path.

    frames: uint8 (T,H,W,3) or float (T,3,H,W) in [0,1] (array or tensor).
    min_size: upscale tiny frames by an integer factor until the short side reaches it
        (0 disables). upscale: "nearest" (crisp pixels) or "bilinear".
    macro_block_size: pad (repeating edge pixels) width and height to a multiple of it;
        at least 2, which yuv420p requires.
    quality: imageio's 0..10 quality scale (10 is best).
    """
    import imageio.v2 as imageio

    arr = upscale_frames(to_uint8_frames(frames), min_size=min_size, mode=upscale)
    arr = _pad_to_multiple(arr, max(2, int(macro_block_size)))
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number; got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio.get_writer(
        str(path),
        format="FFMPEG",
        mode="I",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        quality=quality,
        macro_block_size=1,  # already padded above: never let imageio resize
        ffmpeg_log_level="error",
        output_params=["-movflags", "+faststart"],
    )
    try:
        for frame in arr:
            writer.append_data(frame)
    finally:
        writer.close()
    return path


def _open_reader(path):
    import imageio_ffmpeg

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"cannot read video {str(path)!r}: no such file")
    try:
        gen = imageio_ffmpeg.read_frames(str(p), pix_fmt="rgb24")
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as e:
        raise ValueError(
            f"cannot read video {str(path)!r}: not a video file or the file is broken "
            f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else 'no detail'})"
        ) from None
    return gen, meta


def video_info(path: str | os.PathLike) -> dict:
    """Return {"fps", "size": (W, H), "duration", "nframes"} of a video file.

    nframes is counted by decoding, so it is exact."""
    import imageio_ffmpeg

    _open_reader(path)[0].close()  # validates the file with the same clear error
    try:
        nframes, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError) as e:
        raise ValueError(f"cannot read video {str(path)!r}: {e}") from None
    gen, meta = _open_reader(path)
    gen.close()
    return {
        "fps": float(meta.get("fps", 0.0)),
        "size": tuple(int(s) for s in meta["size"]),
        "duration": float(meta.get("duration", 0.0)),
        "nframes": int(nframes),
    }


def read_video(
    path: str | os.PathLike,
    max_frames: int | None = None,
    size: int | Sequence[int] | None = None,
) -> np.ndarray:
    """Decode a video to uint8 (T, H, W, 3).

    max_frames: keep at most this many frames from the start.
    size: resize every frame (bilinear): an int gives a square size x size, a pair is (H, W).
    Raises ValueError with a clear message for a missing, broken or non-video file.
    """
    gen, meta = _open_reader(path)
    w, h = (int(s) for s in meta["size"])
    frames = []
    try:
        for buf in gen:
            if max_frames is not None and len(frames) >= max_frames:
                break
            frames.append(np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3))
    except (OSError, RuntimeError) as e:
        raise ValueError(f"cannot read video {str(path)!r}: decoding failed ({e})") from None
    finally:
        gen.close()
    if not frames:
        raise ValueError(f"cannot read video {str(path)!r}: it has no frames")
    out = np.stack(frames)
    if size is not None:
        out = _resize(out, size)
    return out


def _resize(frames: np.ndarray, size) -> np.ndarray:
    from PIL import Image

    if isinstance(size, (int, np.integer)):
        th, tw = int(size), int(size)
    else:
        th, tw = (int(s) for s in size)
    if (th, tw) == frames.shape[1:3]:
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((tw, th), Image.BILINEAR)) for f in frames])


def frames_to_strip(frames, max_frames: int = 8, per_row: int | None = None) -> np.ndarray:
    """Lay frames side by side: uint8 (H, W * n, 3), n = min(T, max_frames) frames picked
    evenly from first to last. `per_row`: wrap into rows of that many frames (the last row padded
    with white), so a strip shown in a narrow column keeps its frames legible."""
    arr = to_uint8_frames(frames)
    t = arr.shape[0]
    n = max(1, min(t, int(max_frames)))
    idx = np.linspace(0, t - 1, n).round().astype(int) if n > 1 else np.array([0])
    picked = list(arr[idx])
    k = n if not per_row else max(1, min(n, int(per_row)))
    picked += [np.full_like(picked[0], 255)] * (-n % k)
    rows = [np.concatenate(picked[i : i + k], axis=1) for i in range(0, len(picked), k)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))
