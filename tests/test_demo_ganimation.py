"""The Space's GANimation tab: its plain functions, with a tiny generator standing in when the
lite checkpoint is not shipped."""

import numpy as np
import pytest
from PIL import Image

from demos import ganimation as tab
from lgfa_lite import hub
from lgfa_lite.methods import ganimation as GA
from lgfa_lite.synthface import AU_NAMES
from lgfa_lite.video import video_info

N = len(AU_NAMES)


@pytest.fixture
def tiny_pipeline(monkeypatch):
    pipe = GA.GANimationPipeline(GA.Generator(N, conv_dim=8, repeat_num=1))
    monkeypatch.setattr(tab, "pipeline", lambda: pipe)
    return pipe


def test_sample_face_is_a_64px_face():
    face = tab.sample_face(3)
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    assert not np.array_equal(face, tab.sample_face(4))
    with pytest.raises(tab.InputError, match="whole number"):
        tab.sample_face("abc")


def test_upload_checks(tmp_path):
    good = tmp_path / "face.png"
    Image.fromarray(np.repeat(np.repeat(tab.sample_face(5), 4, 0), 4, 1)).save(good)  # a 256 px upload
    assert tab.prepare_face(str(good)).shape == (64, 64, 3)
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(tab.InputError, match="not an image"):
        tab.prepare_face(str(tmp_path / "x.png"))
    noise = tmp_path / "noise.png"
    Image.fromarray((np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)).save(noise)
    with pytest.raises(tab.InputError, match="No face"):
        tab.prepare_face(str(noise))
    with pytest.raises(tab.InputError, match="No image"):
        tab.prepare_face(None)


def test_aus_presets_and_clamping():
    assert len(tab.preset_aus("smiling")) == N and max(tab.preset_aus("smiling")) > 0.5
    with pytest.raises(tab.InputError, match="Preset"):
        tab.preset_aus("ecstatic")
    warnings = []
    assert tab.check_aus([2.0] + [-1.0] + [0.5] * (N - 2), warnings) == [1.0, 0.0] + [0.5] * (N - 2)
    assert len(warnings) == 2
    for bad in ([0.1] * 3, ["x"] * N, [float("nan")] * N):
        with pytest.raises(tab.InputError):
            tab.check_aus(bad, [])
    assert len(tab.read_aus(tab.sample_face(1))) == N


def test_edit_and_animate(tiny_pipeline, tmp_path):
    face = tab.sample_face(2)
    e = tab.edit_face(face, tab.preset_aus("surprised"))
    assert e.image.shape == e.attention.shape == e.colour.shape == (256, 256, 3) and 0 <= e.mask_mean <= 1
    a = tab.animate_face(face, tab.preset_aus("smiling"), frames=6, fps=200, out_dir=tmp_path)
    assert video_info(a.path)["nframes"] == 6 and any("FPS" in w for w in a.warnings)
    with pytest.raises(tab.InputError, match="No face yet"):
        tab.edit_face(None, [0.0] * N)


def test_missing_checkpoint_is_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "default_weights_dir", lambda: tmp_path)
    from demos import common

    common._method_pipeline.cache_clear()
    try:
        with pytest.raises(tab.InputError, match="not in weights"):
            tab.edit_face(tab.sample_face(0), [0.0] * N)
    finally:
        common._method_pipeline.cache_clear()


def test_faces_follow_the_checkpoints_world(monkeypatch):
    """A generator trained on SynthFaces v2 gets v2 sample faces and v2 AU readings."""
    pipe = GA.GANimationPipeline(GA.Generator(N, conv_dim=8, repeat_num=1, world="v2"))
    monkeypatch.setattr(tab, "pipeline", lambda: pipe)
    assert tab.world() == "v2"
    v1, v2 = tab.sample_face(3), tab.sample_face(3, "v2")
    assert v1.shape == v2.shape == (64, 64, 3) and np.abs(v1.astype(int) - v2).mean() > 5
    assert len(tab.read_aus(v2, "v2")) == N and len(tab.reference_aus(None, 11, "v2")) == N
    monkeypatch.setattr(tab, "pipeline", lambda: (_ for _ in ()).throw(tab.InputError("not in weights/")))
    assert tab.world() == "v1"  # no checkpoint: the world the other lite nets learnt
