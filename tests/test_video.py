"""lgfa_lite.video: mp4 round trips, upscaling/padding, strips, clear errors."""

import numpy as np
import pytest
import torch

from lgfa_lite.video import frames_to_strip, read_video, to_uint8_frames, video_info, write_mp4


def _gradient_frames(t=6, h=64, w=64):
    """uint8 (T,H,W,3) frames whose brightness grows with the frame index."""
    base = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        base[i] = int(255 * i / max(1, t - 1))
    return base


def test_roundtrip_count_fps_size_upscaled(tmp_path):
    frames = _gradient_frames(t=6, h=64, w=64)
    path = write_mp4(frames, tmp_path / "a.mp4", fps=12)
    info = video_info(path)
    assert info["nframes"] == 6
    assert info["fps"] == pytest.approx(12, abs=0.01)
    assert info["size"] == (256, 256)  # 64 px upscaled x4 for browsers
    back = read_video(path)
    assert back.shape == (6, 256, 256, 3) and back.dtype == np.uint8
    # content survives the lossy codec: brightness rises frame to frame
    means = back.reshape(6, -1).mean(1)
    assert np.all(np.diff(means) > 20)
    assert abs(means[0] - 0) < 8 and abs(means[-1] - 255) < 8


def test_float_channel_first_tensor_and_odd_size(tmp_path):
    x = torch.rand(3, 3, 301, 299)  # odd, already large: padded, not scaled
    path = write_mp4(x, tmp_path / "b.mp4", fps=10, min_size=256)
    info = video_info(path)
    assert info["nframes"] == 3
    w, h = info["size"]
    assert w % 16 == 0 and h % 16 == 0 and w >= 299 and h >= 301 and max(w, h) < 320


def test_no_upscale_and_bilinear(tmp_path):
    frames = _gradient_frames(t=2, h=32, w=48)
    assert video_info(write_mp4(frames, tmp_path / "c.mp4", min_size=0))["size"] == (48, 32)
    info = video_info(write_mp4(frames, tmp_path / "d.mp4", min_size=100, upscale="bilinear"))
    assert info["size"] == (192, 128)  # factor 4 makes the short side >= 100


def test_read_video_max_frames_and_size(tmp_path):
    path = write_mp4(_gradient_frames(t=5), tmp_path / "e.mp4", fps=5)
    assert read_video(path, max_frames=2).shape == (2, 256, 256, 3)
    assert read_video(path, size=64).shape == (5, 64, 64, 3)
    assert read_video(path, max_frames=1, size=(32, 48)).shape == (1, 32, 48, 3)


def test_broken_file_gives_clear_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(ValueError, match="not a video file or the file is broken"):
        read_video(bad)
    with pytest.raises(ValueError, match="no such file"):
        read_video(tmp_path / "missing.mp4")


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(np.zeros((0, 8, 8, 3), np.uint8), tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="fps"):
        write_mp4(_gradient_frames(t=1), tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match="shape"):
        to_uint8_frames(np.zeros((4, 4)))


def test_frames_to_strip():
    frames = torch.rand(16, 3, 20, 30)
    strip = frames_to_strip(frames, max_frames=8)
    assert strip.shape == (20, 30 * 8, 3) and strip.dtype == np.uint8
    u8 = to_uint8_frames(frames)
    np.testing.assert_array_equal(strip[:, :30], u8[0])  # first and last frames kept
    np.testing.assert_array_equal(strip[:, -30:], u8[-1])
    assert frames_to_strip(u8[:3], max_frames=8).shape == (20, 90, 3)


def test_frames_to_strip_wraps_into_rows():
    u8 = to_uint8_frames(torch.rand(16, 3, 20, 30))
    grid = frames_to_strip(u8, max_frames=8, per_row=4)
    assert grid.shape == (40, 120, 3)
    np.testing.assert_array_equal(grid[20:, -30:], u8[-1])  # the last frame ends the second row
    odd = frames_to_strip(u8[:3], max_frames=8, per_row=2)  # 3 frames: the 4th cell is white
    assert odd.shape == (40, 60, 3) and (odd[20:, 30:] == 255).all()
