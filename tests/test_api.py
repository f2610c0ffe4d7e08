"""The Space through its API, as a gradio_client user meets it: every named endpoint with a good
input (an output of the right kind and shape) and bad inputs (a clear message naming the problem,
and the next good request still works); the README's "Use from Python" example, run verbatim."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.app, pytest.mark.slow]

N_AU = 15


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import app

    demo = app.build_demo()
    port = _free_port()
    kwargs = {**app.launch_kwargs(), "server_name": "127.0.0.1", "server_port": port}
    demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture()
def client(server, tmp_path):
    from gradio_client import Client

    # generous timeout: a busy 2-core machine; a fresh client = a fresh session (no face loaded)
    return Client(server, verbose=False, download_files=str(tmp_path / "dl"), httpx_kwargs={"timeout": 120})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad uploads."""
    from skimage import data

    d = tmp_path_factory.mktemp("uploads")
    Image.fromarray(data.astronaut()).save(d / "astronaut.png")
    (d / "notes.txt").write_text("not an image\n")
    (d / "empty.png").write_bytes(b"")
    good = (d / "astronaut.png").read_bytes()
    (d / "truncated.png").write_bytes(good[: len(good) // 3])
    Image.new("RGB", (1, 1), (200, 150, 120)).save(d / "tiny.png")
    Image.new("1", (12000, 12000)).save(d / "huge.png")  # 144 megapixels, a small file
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(d / "noise.png")
    return d


def _app_error(client, match: str, *args, **kwargs):
    """The call fails with an AppError whose message matches `match`; returns the message."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=match) as e:
        client.predict(*args, **kwargs)
    return str(e.value)


def _png(path, size=None):
    im = Image.open(path)
    assert im.format == "PNG"
    if size is not None:
        assert im.size == size
    return np.asarray(im)


def _shipped(method: str) -> bool:
    """Whether the method's lite checkpoint is in weights/ (else its tab answers with how to train it)."""
    from importlib import import_module

    weights = import_module(f"lgfa_lite.methods.{method}").WEIGHTS
    return (Path(__file__).resolve().parents[1] / "weights" / weights / "config.json").is_file()


def _not_shipped(client, method: str, *args, **kwargs):
    """A tab whose checkpoint is missing: one clear notice that says how to train it; then skip."""
    _app_error(
        client,
        rf"{method}-synthfaces-64.* not in weights/.*python -m lgfa_lite.methods.{method} train",
        *args,
        **kwargs,
    )
    pytest.skip(f"{method} checkpoint not shipped: only its notice was checked")


def _mp4(path):
    assert Path(path).suffix == ".mp4" and Path(path).stat().st_size > 0


def test_the_api_page_names_every_parameter_and_output(client):
    info = client.view_api(print_info=False, return_format="dict")
    names = set(info["named_endpoints"])
    expected = {
        "/render",
        "/random_identity",
        "/apply_preset",
        "/reset_expression",
        "/play_motion",
        "/lgfa_load_face",
        "/lgfa_sample_face",
        "/lgfa_no_face",
        "/lgfa_animate",
        "/gdpw_load_photo",
        "/gdpw_sample_face",
        "/gdpw_edit",
        "/gdpw_reset",
        "/gdpw_reenact",
        "/ganimation_load_face",
        "/ganimation_sample_face",
        "/ganimation_copy_expression",
        "/ganimation_preset",
        "/ganimation_edit",
        "/ganimation_animate",
        "/auclip_load_face",
        "/auclip_sample_face",
        "/auclip_copy_expression",
        "/auclip_preset",
        "/auclip_edit",
        "/auclip_animate",
        "/projection_look",
        "/projection_sample_look",
        "/project",
        "/projection_stop",
    }
    assert names == expected and not info["unnamed_endpoints"]
    for name, ep in info["named_endpoints"].items():
        for p in ep["parameters"]:
            assert not re.fullmatch(r"param_\d+", p["parameter_name"]), (name, p["parameter_name"])
        for r in ep["returns"]:
            assert not re.fullmatch(r"value_\d+", r["label"] or ""), (name, r["label"])
    res = next(p for p in info["named_endpoints"]["/render"]["parameters"] if p["parameter_name"] == "resolution")
    assert res["type"]["enum"] == ["64", "128", "256"]  # documented as strings: and strings work


def test_synthfaces_endpoints(client):
    aus = [0.0] * N_AU
    img, caption, seed = client.predict(identity_seed=5, resolution="64", api_name="/render")
    assert _png(img, (256, 256)).shape == (256, 256, 3) and "person" in caption.lower() and seed == 5
    img, _, seed = client.predict(-3, *aus, 0.0, 10.0, 0.0, 0.0, "128", True, "v1", api_name="/render")
    assert seed == 0 and _png(img, (256, 256)) is not None  # clamped with a warning, not refused
    _app_error(
        client, r"Value: 64 .* not in the list of choices: \['64', '128', '256'\]", resolution=64, api_name="/render"
    )
    _app_error(client, "greater than maximum value 45", yaw=1e9, api_name="/render")
    _app_error(client, "Expected a `float`.*'abc'", yaw="abc", api_name="/render")
    _app_error(client, "Identity seed is empty", identity_seed=None, api_name="/render")
    with pytest.raises(ValueError, match="not JSON compliant"):  # NaN cannot even be sent
        client.predict(yaw=float("nan"), api_name="/render")
    img, _, seed = client.predict(identity_seed=7, resolution="64", api_name="/render")  # still works
    assert seed == 7
    img, _, seed = client.predict(resolution="64", api_name="/random_identity")
    assert _png(img, (256, 256)) is not None and 0 <= seed < 100_000
    out = client.predict(preset="smiling", identity_seed=2, resolution="64", api_name="/apply_preset")
    assert len(out) == N_AU + 4 and max(out[:N_AU]) > 0.3 and _png(out[N_AU + 1], (256, 256)) is not None
    _app_error(client, "not in the list of choices", preset="grinning", api_name="/apply_preset")
    out = client.predict(identity_seed=2, resolution="64", api_name="/reset_expression")
    assert max(out[:N_AU]) == 0
    video, text = client.predict(motion="nod", frames=4, resolution="64", api_name="/play_motion")
    _mp4(video)
    assert text
    _app_error(client, "not in the list of choices", motion="juggle", api_name="/play_motion")


BAD_UPLOADS = {
    "notes.txt": "notes.txt is not an image this app can read",
    "empty.png": r"empty.png is empty \(0 bytes\)",
    "truncated.png": "truncated.png looks broken or truncated",
    "tiny.png": "only 1x1 pixels; a face needs at least 16x16",
    "huge.png": "12000x12000 pixels; the limit is 50 megapixels",
    "noise.png": "No face found",
}


def test_lgfa_endpoints_and_every_bad_upload(client, files):
    from gradio_client import handle_file

    view = client.predict(handle_file(files / "astronaut.png"), api_name="/lgfa_load_face")
    assert _png(view).shape[0] >= 256  # the 64 px crop, shown upscaled
    for name, match in BAD_UPLOADS.items():
        msg = _app_error(client, match, handle_file(files / name), api_name="/lgfa_load_face")
        assert "No face was loaded from this upload" in msg and "Traceback" not in msg
    view = client.predict(3, api_name="/lgfa_sample_face")  # the next good request works
    assert _png(view).shape[0] >= 256
    video, strip, notes = client.predict("The person nods.", frames=4, fps=4, api_name="/lgfa_animate")
    _mp4(video)
    assert _png(strip).ndim == 3 and isinstance(notes, str)
    for sentence, match in [
        ("", "The sentence is empty"),
        ("   ", "The sentence is empty"),
        ("🙂🙂🙂", "only symbols or emoji"),
        ("这个人在微笑。", "no English words"),
    ]:
        _app_error(client, match, sentence, frames=4, api_name="/lgfa_animate")
    _, _, notes = client.predict("The person nods. " * 118, frames=3, api_name="/lgfa_animate")  # 2,006 chars
    assert "characters long" in notes
    _app_error(client, "greater than maximum value 64", "The person nods.", frames=1e9, api_name="/lgfa_animate")
    assert client.predict(api_name="/lgfa_no_face") is None
    _, _, notes = client.predict("The person turns left.", frames=3, api_name="/lgfa_animate")
    assert "random SynthFaces identity" in notes


def test_gdpw_endpoints(client, files):
    from gradio_client import handle_file

    _app_error(client, "No source face yet", motion="nod", max_frames=3, api_name="/gdpw_reenact")
    _app_error(client, "not an image this app can read", handle_file(files / "notes.txt"), api_name="/gdpw_load_photo")
    if not _shipped("gdpw"):
        _not_shipped(client, "gdpw", handle_file(files / "astronaut.png"), api_name="/gdpw_load_photo")
    out = client.predict(handle_file(files / "astronaut.png"), api_name="/gdpw_load_photo")
    assert len(out) == 20 and _png(out[0]).ndim == 3 and all(isinstance(v, (int, float)) for v in out[1:])
    out = client.predict(3, api_name="/gdpw_sample_face")
    assert len(out) == 20
    edited, before, after = client.predict(expression_au12=1.0, api_name="/gdpw_edit")
    assert _png(edited).ndim == 3 and _png(before).ndim == 3 and _png(after).ndim == 3
    _app_error(client, "greater than maximum value", yaw=1e3, api_name="/gdpw_edit")
    out = client.predict(api_name="/gdpw_reset")
    assert len(out) == 20 and _png(out[-1]).ndim == 3
    video, strip = client.predict(motion="nod", max_frames=3, api_name="/gdpw_reenact")
    _mp4(video)
    assert _png(strip).ndim == 3


@pytest.mark.parametrize("tab", ["ganimation", "auclip"])
def test_au_tab_endpoints(client, files, tab):
    from gradio_client import handle_file

    _app_error(client, "No face yet|not in weights/", api_name=f"/{tab}_edit")
    out = client.predict(handle_file(files / "astronaut.png"), api_name=f"/{tab}_load_face")
    assert len(out) == 2 + N_AU and _png(out[0]).ndim == 3  # the face, its AUs, the preset cleared
    _app_error(client, "is empty", handle_file(files / "empty.png"), api_name=f"/{tab}_load_face")
    out = client.predict(3, api_name=f"/{tab}_sample_face")
    assert len(out) == 2 + N_AU and all(0 <= v <= 1 for v in out[1:-1]) and out[-1] is None
    aus = client.predict("smiling", api_name=f"/{tab}_preset")
    assert len(aus) == N_AU
    _app_error(client, "not in the list of choices", "grinning", api_name=f"/{tab}_preset")
    aus = client.predict(None, 11, api_name=f"/{tab}_copy_expression")
    assert len(aus) == N_AU
    _app_error(
        client, "broken or truncated", handle_file(files / "truncated.png"), 11, api_name=f"/{tab}_copy_expression"
    )
    if not _shipped(tab):
        _not_shipped(client, tab, api_name=f"/{tab}_edit")
    images = client.predict(au12_lip_corner_puller=1.0, api_name=f"/{tab}_edit")
    assert all(_png(p).shape[0] >= 256 for p in images)
    video, strip = client.predict(frames=3, au25_lips_part=1.0, api_name=f"/{tab}_animate")
    _mp4(video)
    _app_error(client, "greater than maximum value 1", au25_lips_part=2.0, api_name=f"/{tab}_animate")


def test_projection_endpoints(client, files):
    from gradio_client import handle_file

    _app_error(client, "No look face yet", steps=10, api_name="/project")
    view = client.predict(handle_file(files / "astronaut.png"), api_name="/projection_look")
    assert _png(view).ndim == 3
    _app_error(client, "megapixels", handle_file(files / "huge.png"), api_name="/projection_look")
    view = client.predict(3, api_name="/projection_sample_look")
    look, target, result, text, video, strip = client.predict(steps=10, api_name="/project")
    assert _png(result, (256, 256)) is not None and "NME" in text and video is None
    bad = handle_file(files / "noise.png")
    _app_error(
        client, "No face found", landmark_source="Upload a face", landmark_photo=bad, steps=10, api_name="/project"
    )
    _app_error(client, "not in the list of choices", latent_space="Z", steps=10, api_name="/project")
    assert client.predict(api_name="/projection_stop") in (None, ())
    *_, text, _, _ = client.predict(steps=10, latent_space="W+", api_name="/project")
    assert "NME" in text
    job = client.submit(steps=120, api_name="/project")  # ~6 s here: previews stream while it runs
    job.result()
    texts = [out[3] for out in job.outputs()]
    assert any(t.startswith("Projecting") for t in texts[:-1]) and "NME" in texts[-1]


def _readme_example() -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Use from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_use_from_python_runs_verbatim(server, files, tmp_path, monkeypatch):
    code = _readme_example()
    assert 'Client("http://127.0.0.1:7860/")' in code
    Image.open(files / "astronaut.png").save(tmp_path / "face.jpg")
    monkeypatch.chdir(tmp_path)
    import gradio_client

    real = gradio_client.Client
    # the same code, pointed at this test's server
    monkeypatch.setattr(gradio_client, "Client", lambda url, **kw: real(server, verbose=False, **kw))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert Path(scope["edited"]).is_file() and isinstance(scope["caption"], str)
