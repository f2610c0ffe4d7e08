"""The Space: the SynthFaces playground's plain functions, and one end-to-end call of the
launched app through gradio_client."""

import math
import socket
from pathlib import Path

import numpy as np
import pytest

from demos import synthfaces as sf_tab
from lgfa_lite.synthface import AU_NAMES, MOTIONS, POSE_LIMITS
from lgfa_lite.video import video_info


@pytest.mark.parametrize("res,shape", [(64, 256), (128, 256), (256, 256)])
def test_render_display_size(res, shape):
    out = sf_tab.render_face(seed=3, resolution=res)
    assert out.image.shape == (shape, shape, 3) and out.image.dtype == np.uint8
    assert out.image.std() > 5, "blank image"
    assert isinstance(out.caption, str) and out.caption
    assert out.warnings == []


def test_render_raw_size_and_determinism():
    a = sf_tab.render_face(seed=5, resolution=64, min_display=0).image
    b = sf_tab.render_face(seed=5, resolution=64, min_display=0).image
    assert a.shape == (64, 64, 3)
    np.testing.assert_array_equal(a, b)
    c = sf_tab.render_face(seed=6, resolution=64, min_display=0).image
    assert np.abs(a.astype(int) - c).mean() > 1, "different seeds should give different faces"


def test_expression_and_pose_change_the_image():
    base = sf_tab.render_face(seed=1, resolution=64).image.astype(int)
    aus, jaw = sf_tab.preset_values("smiling")
    smile = sf_tab.render_face(seed=1, aus=aus, jaw=jaw, resolution=64).image
    turned = sf_tab.render_face(seed=1, yaw=POSE_LIMITS["yaw"], resolution=64).image
    assert np.abs(base - smile).mean() > 0.5
    assert np.abs(base - turned).mean() > 0.5


def test_landmark_overlay_changes_pixels():
    plain = sf_tab.render_face(seed=2, resolution=64).image
    dots = sf_tab.render_face(seed=2, resolution=64, show_landmarks=True).image
    assert plain.shape == dots.shape
    changed = np.any(plain != dots, axis=-1).mean()
    assert 0.001 < changed < 0.5


def test_aus_as_dict_and_presets():
    out = sf_tab.render_face(seed=0, aus={AU_NAMES[0]: 1.0}, resolution=64)
    assert out.image.shape == (256, 256, 3)
    for name in sf_tab.presets():
        aus, jaw = sf_tab.preset_values(name)
        assert len(aus) == len(AU_NAMES) and all(0 <= v <= 1 for v in aus)
        assert 0 <= jaw <= POSE_LIMITS["jaw"]
    assert any(v > 0 for v in sf_tab.preset_values("smiling")[0]), "preset AUs missing from AU_NAMES"


@pytest.mark.parametrize(
    "seed,expect_seed,warns",
    [(-5, 0, "out of range"), (10**12, sf_tab.MAX_SEED, "out of range"), (2.6, 3, "whole number"), ("17", 17, None)],
)
def test_bad_seed_is_clamped_with_warning(seed, expect_seed, warns):
    out = sf_tab.render_face(seed=seed, resolution=64)
    assert out.seed == expect_seed
    if warns:
        assert any(warns in w for w in out.warnings), out.warnings
    else:
        assert out.warnings == []


@pytest.mark.parametrize("seed", [float("nan"), math.inf, None, "", "abc"])
def test_unusable_seed_is_a_clear_error(seed):
    with pytest.raises(sf_tab.InputError, match="Identity seed"):
        sf_tab.render_face(seed=seed, resolution=64)


def test_other_bad_inputs():
    with pytest.raises(sf_tab.InputError, match="Resolution must be one of"):
        sf_tab.render_face(resolution=100)
    with pytest.raises(sf_tab.InputError, match="action-unit values"):
        sf_tab.render_face(aus=[0.5])
    with pytest.raises(sf_tab.InputError, match="Unknown action units"):
        sf_tab.render_face(aus={"AU99": 1.0})
    with pytest.raises(sf_tab.InputError, match="Yaw must be a finite number"):
        sf_tab.render_face(yaw=float("nan"))
    out = sf_tab.render_face(aus=[2.0] + [0.0] * (len(AU_NAMES) - 1), yaw=1000, resolution="64")
    assert any("Yaw 1000" in w for w in out.warnings) and any(AU_NAMES[0] in w for w in out.warnings)
    with pytest.raises(sf_tab.InputError, match="Motion must be one of"):
        sf_tab.play_motion(motion="moonwalk")


def test_play_motion_writes_mp4(tmp_path):
    names = list(MOTIONS)
    clip = sf_tab.play_motion(
        seed=4, motion=names[0], then_motion=names[1], frames=6, fps=5, resolution=64, out_dir=tmp_path
    )
    assert clip.path.is_file() and clip.path.suffix == ".mp4"
    info = video_info(clip.path)
    assert info["nframes"] == 6 == clip.frames
    assert info["fps"] == pytest.approx(5, abs=0.01)
    assert info["size"] == (256, 256)
    assert isinstance(clip.caption, str) and clip.caption
    assert clip.warnings == []


def test_play_motion_clamps_frames(tmp_path, monkeypatch):
    monkeypatch.setattr(sf_tab, "FRAMES_RANGE", (2, 4))  # keep the clamped clip short
    clip = sf_tab.play_motion(motion=list(MOTIONS)[0], frames=1000, fps=0, resolution=64, out_dir=tmp_path)
    assert clip.frames == 4
    assert any("Frames" in w for w in clip.warnings) and any("FPS" in w for w in clip.warnings)


def test_registry_and_launch_settings(monkeypatch):
    import app
    import demos

    assert demos.TABS and demos.TABS[0].TITLE == "SynthFaces playground"
    assert [t.ORDER for t in demos.TABS] == sorted(t.ORDER for t in demos.TABS)
    for tab in demos.TABS:
        assert isinstance(tab.TITLE, str) and callable(tab.build)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    kw = app.launch_kwargs()
    assert (kw["server_name"], kw["server_port"]) == ("127.0.0.1", 7860) and kw["theme"] is not None
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    assert (app.launch_kwargs()["server_name"], app.launch_kwargs()["server_port"]) == ("0.0.0.0", 7861)


def test_requests_are_queued_two_at_a_time():
    import app

    queue = app.build_demo()._queue
    assert queue.default_concurrency_limit == 2 and queue.max_size == 64


def test_user_errors_log_one_line_and_bugs_their_traceback(caplog):
    import logging

    import gradio as gr

    from demos.common import InputError, guarded

    def refuse():
        raise InputError("Frames must be a number.")

    def crash():
        raise KeyError("bug")

    with caplog.at_level(logging.INFO, logger="demos.common"):
        with pytest.raises(gr.Error) as refused:
            guarded(refuse, "Tab")()
        with pytest.raises(gr.Error) as crashed:
            guarded(crash, "Tab")()
    assert not refused.value.print_exception and not crashed.value.print_exception  # Gradio prints nothing more
    user, bug = caplog.records
    assert "Frames must be a number" in user.getMessage() and user.exc_info is None
    assert bug.exc_info is not None and "Something went wrong: KeyError" in crashed.value.message


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.app
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_app_end_to_end(tmp_path):
    from gradio_client import Client

    import app

    demo = app.build_demo()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        # Generous timeout: on a busy 2-core CI machine the file download can exceed httpx's 5 s.
        client = Client(
            f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path), httpx_kwargs={"timeout": 120}
        )
        n = len(AU_NAMES)
        img_path, text, seed = client.predict(-3, *([0.0] * n), 0.0, 10.0, 0.0, 0.0, "64", True, api_name="/render")
        assert seed == 0  # clamped, not an error
        from PIL import Image

        im = Image.open(img_path)
        assert im.format == "PNG" and im.size == (256, 256)
        assert isinstance(text, str) and text
        with pytest.raises(Exception, match="Identity seed is empty"):
            client.predict(None, *([0.0] * n), 0.0, 0.0, 0.0, 0.0, "64", False, api_name="/render")
        with pytest.raises(Exception, match="not in the list of choices"):
            client.predict(0, *([0.0] * n), 0.0, 0.0, 0.0, 0.0, "99", False, api_name="/render")
        # the server survived the bad request
        img_path2, _, _ = client.predict(1, *([0.0] * n), 0.0, 0.0, 0.0, 0.0, "64", False, api_name="/render")
        assert Image.open(img_path2).size == (256, 256)
    finally:
        demo.close()


def test_warm_up_prepares_the_renderer():
    import app

    app.warm_up()  # what `python app.py` runs in the background at start-up
    from demos import synthfaces

    assert synthfaces._renderer.cache_info().currsize >= 1


def test_synthfaces_tab_renders_both_worlds():
    v2 = sf_tab.render_face(seed=3, resolution=64, min_display=0).image
    v1 = sf_tab.render_face(seed=3, resolution=64, min_display=0, world="v1").image
    assert v1.shape == v2.shape == (64, 64, 3) and (v1.astype(int) - v2).__abs__().mean() > 5
    with pytest.raises(sf_tab.InputError, match="World must be one of"):
        sf_tab.render_face(world="v3")


def test_about_tab_names_every_method_and_shows_measured_numbers():
    from demos import about

    results = {"ganimation": {"au_mae": 0.123456, "psnr_vs_gt": 30.0, "synthfaces_world": 2.0}, "auclip": {}}
    text = about.about_markdown(results)
    for name, *_ in about.METHODS:
        assert f"**{name}**" in text
    assert "au_mae 0.1235" in text and "| AU-CLIP | `auclip` | not shipped yet |" in text
    assert "`ganimation` (SynthFaces v2 edits)" in text
    assert "lite profile" in about.about_markdown({}) and about.load_results(Path("/nonexistent")) == {}
