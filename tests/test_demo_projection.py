"""The Space's landmark-projection tab: its plain functions, with short runs."""

import threading

import numpy as np
import pytest
from PIL import Image

from demos import projection as tab
from lgfa_lite.video import video_info


def test_targets_from_each_source(tmp_path):
    t = tab.landmark_target("SynthFaces expression", sample=11, expression="opening mouth")
    assert t.landmarks.shape == (68, 2) and t.faces.shape == (1, 64, 64, 3) and not t.is_sequence
    m = tab.landmark_target("Motion", sample=11, motion="nod", frames=3)
    assert m.landmarks.shape == (3, 68, 2) and m.faces.shape == (3, 64, 64, 3) and m.is_sequence
    photo = tmp_path / "face.png"
    Image.fromarray(np.repeat(np.repeat(tab.sample_face(5), 4, 0), 4, 1)).save(photo)
    u = tab.landmark_target("Upload a face", upload=str(photo))
    assert u.landmarks.shape == (1, 3, 64, 64) and u.points.shape == (1, 68, 2)


def test_bad_inputs_are_clear_messages(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(tab.InputError, match="not an image"):
        tab.landmark_target("Upload a face", upload=str(tmp_path / "x.png"))
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    with pytest.raises(tab.InputError, match="only 1x1 pixels"):
        tab.landmark_target("Upload a face", upload=str(tiny))
    noise = tmp_path / "noise.png"
    Image.fromarray((np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)).save(noise)
    with pytest.raises(tab.InputError, match="No face"):
        tab.landmark_target("Upload a face", upload=str(noise))
    with pytest.raises(tab.InputError, match="No landmark face"):
        tab.landmark_target("Upload a face", upload=None)
    with pytest.raises(tab.InputError, match="Landmark source"):
        tab.landmark_target("a video")
    with pytest.raises(tab.InputError, match="Motion must be"):
        tab.landmark_target("Motion", motion="juggle")
    weights = tab.default_weights()
    with pytest.raises(tab.InputError, match="finite"):
        tab.check_weights([float("nan")] + weights[1:], [])
    with pytest.raises(tab.InputError, match="Expected 9"):
        tab.check_weights(weights[:3], [])
    warnings = []
    assert tab.check_weights([50.0] + weights[1:], warnings)["jaw"] == 10.0 and warnings
    target = tab.landmark_target("SynthFaces expression")
    with pytest.raises(tab.InputError, match="No face yet"):
        tab.project_face(None, target, weights, steps=10)


def test_project_and_animate(tmp_path):
    look = tab.sample_face(3)
    target = tab.landmark_target("SynthFaces expression", sample=11, expression="opening mouth")
    seen = []
    r = tab.project_face(look, target, tab.default_weights(), steps=10, progress=seen.append)
    assert r.result.shape == r.look.shape == r.target.shape == (256, 256, 3) and len(seen) == 10
    assert 0 <= r.nme < 1 and r.video is None and not r.cancelled
    motion = tab.landmark_target("Motion", sample=11, motion="open mouth", frames=3)
    a = tab.project_face(look, motion, tab.default_weights(), steps=10, space="W+", smooth=True, out_dir=tmp_path)
    assert video_info(a.video)["nframes"] == 3 and a.strip.shape[0] == 256


def test_stop_returns_the_best_so_far():
    stop = threading.Event()
    target = tab.landmark_target("SynthFaces expression")
    r = tab.project_face(
        tab.sample_face(3),
        target,
        tab.default_weights(),
        steps=50,
        progress=lambda s: s.step == 2 and stop.set(),
        cancel=stop,
    )
    assert r.cancelled and r.result.shape == (256, 256, 3) and any("Stopped" in w for w in r.warnings)
    assert tab.stop_event("abc") is tab.stop_event("abc")


@pytest.mark.app
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tab_through_the_launched_app(tmp_path):
    """The event wiring (named inputs, the session's stop flag, progress) through gradio_client."""
    import socket

    from gradio_client import Client

    import app

    demo = app.build_demo()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(
            f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path), httpx_kwargs={"timeout": 120}
        )
        weights = tab.default_weights()
        target = ("SynthFaces expression", None, 11, "opening mouth", "open mouth", 4)
        args = (*target, 10, "W", "mean face (w_avg)", False)
        with pytest.raises(Exception, match="No look face yet"):
            client.predict(*args, *weights, api_name="/project")
        client.predict(3, api_name="/projection_sample_look")
        look, target, result, text, video, strip = client.predict(*args, *weights, api_name="/project")
        assert Image.open(result).size == (256, 256) and "NME" in text and video is None
        with pytest.raises(Exception, match="No landmark face uploaded"):
            client.predict("Upload a face", *args[1:], *weights, api_name="/project")
    finally:
        demo.close()


def test_streamed_yields_progress_then_the_result_and_raises_failures():
    import time

    from demos.common import streamed

    def work(tick):
        for i in range(6):
            time.sleep(0.1)
            tick(i)
        return "done!"

    seen = []
    events = list(streamed(work, seen.append, every=0.15))
    assert events[-1] == ("done", "done!") and [k for k, _ in events[:-1]] == ["step"] * (len(events) - 1)
    assert len(events) >= 2 and seen and seen == sorted(seen)

    def broken(tick):
        raise ValueError("bad look")

    with pytest.raises(ValueError, match="bad look"):
        list(streamed(broken, seen.append))
