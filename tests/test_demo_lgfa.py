"""The Space's LGFA tab: its plain functions, with tiny frozen nets standing in for the lite
checkpoints (so these tests run whether or not they are shipped)."""

import pytest
import torch

from demos import lgfa as tab
from lgfa_lite.methods import lgfa as L
from lgfa_lite.nets.clip import TextImageModel
from lgfa_lite.nets.encoder import LatentEncoder
from lgfa_lite.nets.stylegan2 import Z_DIM, Generator
from lgfa_lite.video import video_info


@pytest.fixture
def tiny_pipeline(monkeypatch):
    torch.manual_seed(0)
    G = Generator(16, 16, 2, {4: 16, 8: 16, 16: 8}, z_dim=Z_DIM, normalize_z=False).eval()
    E = LatentEncoder(G.n_latent, 16, input_size=16, channels=(8, 8, 16, 16), hidden=32).eval()
    nets = L.Frozen(TextImageModel().eval(), G, E)
    model = L.LGFA(128, G.n_latent, 16, hidden=32, mapper_hidden=32).eval()
    pipe = L.LGFAPipeline(model, nets)
    monkeypatch.setattr(tab, "pipeline", lambda: pipe)
    return pipe


def test_prompt_checks():
    text, notes = tab.check_prompt("  The person turns left.  ")
    assert text == "The person turns left." and notes == []
    for expression in (
        "The person is smiling.",
        "The person looks angry.",
        "The person closes the eyes.",
        "The person is shocked.",
    ):  # what the lite generator paints rather than draws, in part (v2) or all (v1)
        assert tab.check_prompt(expression)[1] == [tab.EXPRESSION_NOTES["v2"]], expression
        assert tab.check_prompt(expression, "v1")[1] == [tab.EXPRESSION_NOTES["v1"]], expression
    for drawn in ("The person opens the mouth.", "The person nods.", "The person looks up."):
        assert tab.check_prompt(drawn)[1] == [], drawn
    _, notes = tab.check_prompt("The person is juggling flamingos.")
    assert len(notes) == 1 and "flamingos" in notes[0] and "juggling" in notes[0]
    _, notes = tab.check_prompt("The person smiles. " * 120)  # 2,280 characters
    assert any("characters long" in n for n in notes)
    for bad in ["", "   ", None]:
        with pytest.raises(tab.InputError, match="empty"):
            tab.check_prompt(bad)
    with pytest.raises(tab.InputError, match="no words"):
        tab.check_prompt("🙂🙂🙂 !!")
    for other in ("这个人在微笑。", "Человек улыбается"):  # letters, not Latin ones: not "symbols or emoji"
        with pytest.raises(tab.InputError, match="no English words"):
            tab.check_prompt(other)


def test_animation_video_and_strip(tiny_pipeline, tmp_path):
    face = tab.sample_face(3)
    a = tab.animate_prompt(face, "The person turns left.", frames=6, fps=5, seed=1, out_dir=tmp_path)
    info = video_info(a.path)
    assert info["nframes"] == 6 and info["fps"] == pytest.approx(5)
    assert a.strip.ndim == 3 and a.warnings == []
    # several seeds side by side: the video is that many faces wide
    b = tab.animate_prompt(face, "The person turns left.", frames=6, fps=5, seed=1, seeds=2, out_dir=tmp_path)
    assert video_info(b.path)["size"][0] >= 2 * info["size"][0] - 16
    assert b.path != a.path  # a new click never overwrites an earlier video


def test_no_face_and_out_of_range_values(tiny_pipeline, tmp_path):
    a = tab.animate_prompt(None, "The person is smiling.", frames=500, fps=0, seed=-3, out_dir=tmp_path)
    assert video_info(a.path)["nframes"] == tab.FRAMES_RANGE[1]
    assert len(a.warnings) == 2 and any("random" in n for n in a.notes)
    with pytest.raises(tab.InputError, match="Schedule"):
        tab.animate_prompt(None, "The person is smiling.", schedule="cubic", out_dir=tmp_path)
    with pytest.raises(tab.InputError, match="Seed"):
        tab.animate_prompt(None, "The person is smiling.", seed="x", out_dir=tmp_path)


def test_missing_checkpoint_is_a_clear_message(monkeypatch):
    from lgfa_lite import hub

    def missing():
        raise hub.CheckpointError("checkpoint 'lgfa-synthfaces-64' not found: no folder")

    monkeypatch.setattr(tab, "_load", missing)
    with pytest.raises(tab.InputError, match="not trained yet: lgfa-synthfaces-64 is not in weights"):
        tab.pipeline()


def test_tab_builds():
    import gradio as gr

    with gr.Blocks():
        tab.build()
    assert tab.ORDER < __import__("demos.ganimation").ganimation.ORDER


def test_a_real_photo_is_cropped_and_a_refused_upload_clears_the_face(tmp_path, monkeypatch):
    import gradio as gr
    from skimage import data

    from demos import common

    shown = []
    monkeypatch.setattr("gradio.Info", lambda m: shown.append(("info", m)))
    monkeypatch.setattr("gradio.Warning", lambda m: shown.append(("warning", m)))
    face = common.load_upload(data.astronaut(), "test")
    assert face.shape == (64, 64, 3) and any("synthetic faces" in m for k, m in shown if k == "info")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\\x89PNG not really")
    with pytest.raises(gr.Error, match=r"not an image this app can read.*\. No face was loaded from this upload"):
        common.load_upload(str(bad), "test")
