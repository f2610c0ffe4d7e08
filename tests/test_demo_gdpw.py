"""The Space's GDPW tab: its plain functions, with an untrained generator (= the mesh warp)
standing in, so the tab is tested whether or not a checkpoint is shipped."""

import numpy as np
import pytest
from PIL import Image

from demos import gdpw as tab
from lgfa_lite.methods import gdpw as GD
from lgfa_lite.video import read_video, video_info, write_mp4


@pytest.fixture(autouse=True)
def untrained(monkeypatch):
    pipe = GD.GDPWPipeline(GD.GDPWGenerator())
    monkeypatch.setattr(tab, "pipeline", lambda: pipe)
    return pipe


def test_sample_source_and_reset_values():
    s = tab.sample_source(3)
    assert s.face.shape == (128, 128, 3) and s.face.dtype == np.uint8
    values = tab.slider_values(s)
    assert len(values) == len(tab.SHAPE_DIMS) + len(tab.EDIT_AUS) + 1 + 3 + 3
    with pytest.raises(tab.InputError, match="whole number"):
        tab.sample_source("x")
    with pytest.raises(tab.InputError, match="No source face"):
        tab.slider_values(None)


def test_edit_with_own_values_keeps_the_face_and_edits_change_it():
    s = tab.sample_source(4)
    values = tab.slider_values(s)
    same = tab.edit_source(s, values)
    assert np.abs(same.image.astype(float) - s.face).mean() < 3 and same.warnings == []
    assert np.abs(same.mesh_before.astype(float) - same.mesh_after).mean() < 2  # values are rounded for sliders
    turned = list(values)
    turned[len(tab.SHAPE_DIMS) + len(tab.EDIT_AUS) + 1] = 30  # yaw
    turned[len(tab.SHAPE_DIMS) + len(tab.EDIT_AUS)] = 15  # jaw
    e = tab.edit_source(s, turned)
    assert np.abs(e.image.astype(float) - s.face).mean() > 3
    assert not np.array_equal(e.mesh_before, e.mesh_after)
    wild = list(values)
    wild[0] = 9  # shape out of range: clamped, and said
    assert any("out of range" in w for w in tab.edit_source(s, wild).warnings)
    with pytest.raises(tab.InputError, match="number"):
        tab.edit_source(s, ["abc"] + values[1:])
    with pytest.raises(tab.InputError, match="edit values"):
        tab.edit_source(s, values[:3])


def test_reenact_by_a_motion_writes_a_three_panel_video(tmp_path):
    s = tab.sample_source(5)
    seen = []
    r = tab.reenact(s, "nod", actor=9, max_frames=6, fps=12, out_dir=tmp_path, progress=lambda f, desc: seen.append(f))
    info = video_info(r.path)
    assert info["nframes"] == 6 and info["size"] == (384, 128) and info["fps"] == 12
    assert seen and max(seen) <= 1


def test_reenact_by_a_video_and_bad_videos(tmp_path, monkeypatch):
    s = tab.sample_source(6)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(tab.InputError, match="broken"):
        tab.reenact(s, str(broken), out_dir=tmp_path)
    with pytest.raises(tab.InputError, match="No driving video"):
        tab.reenact(s, "", out_dir=tmp_path)
    with pytest.raises(tab.InputError, match="No source face"):
        tab.reenact(None, "nod", out_dir=tmp_path)
    # a driving video without a face: said clearly
    blank = write_mp4(np.full((4, 64, 64, 3), 128, np.uint8), tmp_path / "blank.mp4", fps=10, min_size=0)
    with pytest.raises(tab.InputError, match="No face found in any frame"):
        tab.reenact(s, str(blank), out_dir=tmp_path)
    # a long video is capped with a note; the fitted geometry drives the source
    frames = read_video(tab.reenact(s, "turn left", max_frames=8, out_dir=tmp_path).path)
    monkeypatch.setattr(GD.GDPWPipeline, "fit_video", lambda self, f, size, fps: (s.params.repeat(len(f)), []))
    r = tab.reenact(s, str(write_mp4(frames, tmp_path / "drive.mp4", fps=10, min_size=0)), max_frames=5)
    assert video_info(r.path)["nframes"] == 5 and any("first 5" in w for w in r.warnings)


def test_photo_source(tmp_path):
    from skimage import data

    s = tab.photo_source(data.astronaut())
    assert s.face.shape == (128, 128, 3) and abs(float(s.params.pose[0, 0])) < 20
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(tab.InputError, match="not an image"):
        tab.photo_source(str(tmp_path / "x.png"))
    noise = tmp_path / "noise.png"
    Image.fromarray((np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)).save(noise)
    with pytest.raises(tab.InputError, match="No face found"):
        tab.photo_source(str(noise))
    with pytest.raises(tab.InputError):
        tab.photo_source(np.zeros((1, 1, 3), np.uint8))


def test_missing_checkpoint_is_a_clear_message(monkeypatch, tmp_path):
    from demos import common
    from lgfa_lite import hub

    monkeypatch.undo()  # the real `pipeline`, without the autouse stand-in
    monkeypatch.setattr(hub, "default_weights_dir", lambda: tmp_path)
    common._method_pipeline.cache_clear()
    try:
        with pytest.raises(tab.InputError, match="gdpw train"):
            tab.edit_source(tab.sample_source(0), tab.slider_values(tab.sample_source(0)))
    finally:
        common._method_pipeline.cache_clear()
