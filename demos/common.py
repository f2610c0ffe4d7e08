"""What every tab shares: the user-input error, number checks, and running a callback so that
the UI shows a clear message and never a traceback (and the server stays up)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import re
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SIZE = 64  # the lite models' resolution
DISPLAY = 256  # faces are shown upscaled to at least this
VIDEO_DIR = Path(tempfile.gettempdir()) / "lgfa_lite_demo_videos"


class InputError(ValueError):
    """A problem with user input, worded for the user (shown as an error toast)."""


def number(value, what: str) -> float:
    """Parse a number; empty, non-numeric, NaN or infinite values raise InputError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{what} is empty: enter a number.")
    if isinstance(value, bool):
        return float(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {value!r}.") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be a finite number, not {value!r}.")
    return x


def clamped(value, what: str, lo: float, hi: float, warnings: list[str]) -> float:
    x = number(value, what)
    if x < lo or x > hi:
        y = min(max(x, lo), hi)
        warnings.append(f"{what} {x:g} is out of range [{lo:g}, {hi:g}]; using {y:g}.")
        return y
    return x


@contextlib.contextmanager
def user_errors(tab: str):
    """InputError -> gr.Error with its message and one log line; any other failure logged with its
    traceback (once) and shown in one line, so the server stays up and the user gets a message."""
    import gradio as gr

    try:
        yield
    except InputError as e:  # the user's mistake: one log line, no traceback
        log.info("%s: refused input: %s", tab, e)
        raise gr.Error(str(e), print_exception=False) from None
    except gr.Error:
        raise
    except Exception as e:  # a bug: keep the server alive, log the traceback once, say it plainly
        log.exception("%s failed", tab)
        raise gr.Error(f"Something went wrong: {type(e).__name__}: {e}", print_exception=False) from None


def guarded(fn, tab: str):
    """fn for a Gradio event, its failures turned into messages (`user_errors`); a result's `warnings`
    become toasts. A generator function stays one (Gradio streams its yields)."""
    import gradio as gr

    def toast(result):
        for w in getattr(result, "warnings", None) or []:
            gr.Warning(w)
        return result

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def run_all(*args):
            with user_errors(tab):
                for result in fn(*args):
                    yield toast(result)

        return run_all

    @functools.wraps(fn)
    def run(*args):
        with user_errors(tab):
            result = fn(*args)
        return toast(result)

    return run


def streamed(work, on_step, every: float = 1.5):
    """Run `work(tick)` in a worker thread and yield ("step", latest tick value) about every `every`
    seconds while it runs, then ("done", its result). `work` calls `tick(value)` as it goes (cheap: it
    only keeps the latest); `on_step(value)` runs in the caller's thread at each poll (e.g. a Gradio
    progress bar, which belongs to the event's thread). An exception in `work` is raised here."""
    import concurrent.futures

    latest: list = [None]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(work, lambda value: latest.__setitem__(0, value))
        shown, last = None, time.perf_counter()
        while True:
            try:
                result = future.result(timeout=0.2)
                break
            except concurrent.futures.TimeoutError:
                pass
            value = latest[0]
            if value is not None and value is not shown:
                on_step(value)
                if time.perf_counter() - last >= every:
                    shown, last = value, time.perf_counter()
                    yield "step", value
    yield "done", result


def api(fn, names, *, required=(), request: bool = False, progress: bool = False):
    """`fn` (called with the event's input values, in order) re-signed with explicit parameter
    names, so that the API page and gradio_client show `names` rather than param_0 … param_N.

    Gradio names an endpoint's parameters after its function's signature; a `*args` function
    gets numbered names. A parameter's API default is its component's value, or None where the
    component starts empty (so it may be left out), except for the `required` names (listed
    first). `request` / `progress` add a trailing gr.Request / gr.Progress parameter that Gradio
    fills in (not part of the API)."""
    import gradio as gr

    keyword, empty = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty
    params = [inspect.Parameter(n, keyword, default=empty if n in required else None) for n in names]
    annotations = {}
    if request:
        params.append(inspect.Parameter("request", keyword, default=None, annotation=gr.Request))
        annotations["request"] = gr.Request
    if progress:
        params.append(inspect.Parameter("progress", keyword, default=gr.Progress()))

    if inspect.isgeneratorfunction(fn):  # Gradio streams a generator's yields only when it sees one

        def call(*args, **kwargs):
            yield from fn(*args, **kwargs)

    else:

        def call(*args, **kwargs):
            return fn(*args, **kwargs)

    call.__signature__ = inspect.Signature(params)
    call.__annotations__ = annotations
    call.__name__ = call.__qualname__ = getattr(fn, "__name__", "call")
    call.__doc__ = fn.__doc__
    return call


def param_name(label: str) -> str:
    """A component label as an API parameter name: "AU12 lip corner puller" -> "au12_lip_corner_puller"."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_") or "value"


def int_in(value, what: str, bounds, warnings: list[str]) -> int:
    return int(round(clamped(value, what, *bounds, warnings)))


@functools.lru_cache(maxsize=None)
def _method_pipeline(method: str):
    from importlib import import_module

    return import_module(f"lgfa_lite.methods.{method}").load()


def method_pipeline(method: str, minutes: int):
    """`lgfa_lite.methods.<method>.load()`, once per process; while its checkpoint is not in
    weights/, an InputError saying how to train it (`minutes`: the suggested budget)."""
    from importlib import import_module

    from lgfa_lite import hub

    try:
        return _method_pipeline(method)
    except hub.CheckpointError:
        weights = import_module(f"lgfa_lite.methods.{method}").WEIGHTS
        raise InputError(
            f"The {method} checkpoint ({weights}) is not in weights/ yet: train it with "
            f"`python -m lgfa_lite.methods.{method} train --minutes {minutes}`."
        ) from None


def method_world(pipeline) -> str:
    """The SynthFaces world a tab's checkpoint learnt (`pipeline().world`): its sample faces are
    drawn, and photos cropped, as that world does. Without a checkpoint nothing is generated, and
    samples are drawn as v1, the world of the checkpoints shipped before worlds were recorded."""
    try:
        return pipeline().world
    except InputError:
        return "v1"


# ---------------------------------------------------------------- faces


def sample_face(seed, world: str = "v1") -> np.ndarray:
    """A SynthFaces test-identity face (neutral expression) as uint8 (64, 64, 3), drawn and framed as
    `world` draws them (the world the tab's model learnt)."""
    import torch

    from lgfa_lite.synthface import FaceParams, identities, render

    try:
        s = int(float(seed))
    except (TypeError, ValueError):
        raise InputError(f"Sample number must be a whole number, not {seed!r}.") from None
    ids = identities("test", 100)
    p = FaceParams.identity(ids[s % len(ids)], batch=1)
    with torch.no_grad():
        img = render(p, SIZE, world=world).image
    return (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def prepare_face(image, notes: list[str] | None = None, world: str = "v1") -> np.ndarray:
    """An upload (path / array) -> a checked uint8 (64, 64, 3) face; clear errors otherwise.

    A photo in which FaceMesh finds a face is cropped as SynthFaces `world` frames its renders
    (`align_photo`; the world the tab's model learnt); anything else must already be a face crop
    the lite nets can read (`require_face`). What the user should know goes to `notes`."""
    from lgfa_lite.faces import FaceInputError, crop_photo, face_tensor, photo_landmarks, read_image, require_face

    notes = [] if notes is None else notes
    try:
        pixels = read_image(image)
        found = photo_landmarks(pixels)  # FaceMesh once: the crop reuses its landmarks
        if len(found):
            aligned = crop_photo(pixels, found, SIZE, world)
            t = aligned.image
            notes += aligned.notes + [
                "Photo cropped around the face. The lite models were trained on synthetic faces: they "
                "redraw a photo as their nearest synthetic face."
            ]
        else:
            t = face_tensor(pixels, SIZE)
            require_face(t, world=world)
    except FaceInputError as e:
        raise InputError(str(e)) from None
    return (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


UPLOAD_REFUSED = "No face was loaded from this upload: upload another photo or pick a sample face."


def refused_upload(reason) -> str:
    """The message for a refused upload: the reader's reason, then what to do."""
    text = str(reason).strip()
    return f"{text}{'' if text.endswith(('.', '!', '?')) else '.'} {UPLOAD_REFUSED}"


def load_upload(path, tab: str, world: str = "v1") -> np.ndarray:
    """A Gradio upload handler's face: the prepared face, with its notes as info toasts; when the
    upload is not a usable face, a gr.Error naming the problem (one log line). `wire_upload`
    clears the tab's face before this runs, so a refused upload never leaves an older face."""
    import gradio as gr

    notes: list[str] = []
    try:
        face = prepare_face(path, notes, world)
    except InputError as e:
        log.info("%s: upload refused: %s", tab, e)
        raise gr.Error(refused_upload(e), print_exception=False) from None
    for note in notes:
        gr.Info(note)
    return face


def wire_upload(upload, handler, outputs, api_name: str, param: str = "photo", cleared: int = 2):
    """upload.change -> first clear the first `cleared` outputs (the face state and its view: a
    refused upload never leaves an older face on screen), then `handler(path)` (named in the API
    as `api_name`, its parameter as `param`). Returns the handler's event."""
    import gradio as gr

    def clear():
        return (None,) * cleared + (gr.skip(),) * (len(outputs) - cleared)

    first = upload.change(clear, None, outputs, api_visibility="private", show_progress="hidden", queue=False)
    call = api(handler, [param], required=[param])
    return first.then(call, upload, outputs, api_name=api_name, show_progress="hidden")


def face_batch(face: np.ndarray):
    """A uint8 (H, W, 3) face -> (1, 3, H, W) in [0, 1]."""
    import torch

    if face is None:
        raise InputError("No face yet: upload a photo or click “Use sample face”.")
    return torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None].float() / 255


def display(images) -> np.ndarray:
    """Images or frames (tensor / array) -> uint8 (N, H, W, 3) upscaled for the page (pixels kept sharp)."""
    from lgfa_lite.video import to_uint8_frames, upscale_frames

    return upscale_frames(to_uint8_frames(images), min_size=DISPLAY, mode="nearest")


def new_video_path(method: str, out_dir=None) -> Path:
    """A fresh, unique mp4 path: results are never overwritten by a later click."""
    out = Path(out_dir) if out_dir else VIDEO_DIR
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{method}_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:6]}.mp4"


def photo_upload(label: str = "Face photo (upload)", height: int | None = 120):
    """An upload of a face photo as a file: the app's own reader (`lgfa_lite.faces.read_image`)
    checks it, so a non-image, 0-byte or broken file gets the app's message, in the UI and the
    API alike (gr.Image decodes uploads itself first and fails with a generic error)."""
    import gradio as gr

    return gr.File(label=label, type="filepath", file_count="single", height=height)


def face_inputs(sample_value: int = 3):
    """The face column's components (inside a gr.Column): an upload, a sample number with its
    button, and the 64 px face in use. Returns (upload, sample, sample_btn, face_view)."""
    import gradio as gr

    upload = photo_upload()
    with gr.Row():
        sample = gr.Number(value=sample_value, label="Sample face #", precision=0, scale=2)
        sample_btn = gr.Button("Use sample face", scale=2)
    face_view = gr.Image(label="Input face (64 px)", interactive=False, height=220, format="png")
    return upload, sample, sample_btn, face_view
