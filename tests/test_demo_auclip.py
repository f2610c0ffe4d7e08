"""The Space's AU-CLIP tab: its plain functions, with an untrained mapper on the shipped frozen nets
standing in when the lite mapper is not shipped."""

import pytest
import torch

from demos import auclip as tab
from demos.common import sample_face
from lgfa_lite import hub
from lgfa_lite.methods import auclip as AC
from lgfa_lite.synthface import AU_NAMES
from lgfa_lite.video import video_info

N = len(AU_NAMES)


@pytest.fixture
def small_pipeline(monkeypatch):
    torch.manual_seed(0)
    nets = AC.Frozen.load(*AC.FROZEN.values())
    pipe = AC.AUCLIPPipeline(AC.AUMapper(hidden=16, depth=2), nets)
    monkeypatch.setattr(tab, "pipeline", lambda: pipe)
    return pipe


def test_edit_shows_the_reconstruction_and_clamps_alpha(small_pipeline):
    face = sample_face(2)
    e = tab.edit_face(face, tab.preset_aus("opening mouth"), 0.2)
    assert e.image.shape == e.reconstruction.shape == (256, 256, 3) and e.warnings == []
    assert (e.image != e.reconstruction).any()
    e = tab.edit_face(face, tab.preset_aus("smiling"), 5)
    assert any("Strength" in w for w in e.warnings)
    for bad in ("", "x", float("nan")):
        with pytest.raises(tab.InputError):
            tab.edit_face(face, tab.preset_aus("smiling"), bad)
    with pytest.raises(tab.InputError, match="No face yet"):
        tab.edit_face(None, [0.0] * N)
    with pytest.raises(tab.InputError, match="AU values"):
        tab.edit_face(face, [0.1] * 3)


def test_animate_and_reference(small_pipeline, tmp_path):
    face = sample_face(2)
    for mode in tab.MODES:
        a = tab.animate_face(face, tab.preset_aus("surprised"), 0.3, mode, frames=5, fps=100, out_dir=tmp_path)
        assert video_info(a.path)["nframes"] == 5 and any("FPS" in w for w in a.warnings)
    with pytest.raises(tab.InputError, match="Animation must be"):
        tab.animate_face(face, tab.preset_aus("surprised"), 0.3, "backwards", out_dir=tmp_path)
    aus = tab.reference_aus(None, 11)
    assert len(aus) == N and all(0 <= v <= 1 for v in aus)


def test_missing_checkpoint_is_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "default_weights_dir", lambda: tmp_path)
    from demos import common

    common._method_pipeline.cache_clear()
    try:
        with pytest.raises(tab.InputError, match="not in weights"):
            tab.edit_face(sample_face(0), [0.0] * N)
    finally:
        common._method_pipeline.cache_clear()
