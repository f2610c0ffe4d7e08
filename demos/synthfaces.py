"""Tab "SynthFaces playground": render a procedural face from an identity seed, FACS
action units, jaw and head pose; play a captioned motion clip as an mp4.

The first part of this module is plain Python (no Gradio): input checking, rendering and
motion clips, tested in tests/test_app.py. The second part, build(), only wires those
functions to Gradio components. Nothing is rendered or loaded at import time.
"""

from __future__ import annotations

import functools
import math
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from demos.common import InputError, api, clamped, guarded, number, param_name

TITLE = "SynthFaces playground"
ORDER = 0

MAX_SEED = 2**31 - 1
RESOLUTIONS = (64, 128, 256)
DEFAULT_RESOLUTION = 128
MIN_DISPLAY = 256  # small renders are upscaled (nearest) to at least this for display
FRAMES_RANGE = (2, 48)
FPS_RANGE = (1, 30)
DEFAULT_FRAMES = 16
DEFAULT_FPS = 10
NO_MOTION = "(none)"
RENDER_CHUNK = 16  # frames rendered per batch in motion clips
VIDEO_DIR = Path(tempfile.gettempdir()) / "lgfa_lite_demo_videos"
KEEP_VIDEOS = 32

# (seed, expression preset) pairs shown as one-click examples; presets are SynthFaces'
# EXPRESSIONS (AU prototypes shared with the captions and motions).
EXAMPLES = [[0, "smiling"], [7, "surprised"], [42, "sad"], [1234, "angry"], [2024, "disgusted"], [99, "winking"]]


def _sf():
    """The SynthFaces module, imported on first use (keeps `import app` light)."""
    import lgfa_lite.synthface as sf

    return sf


def au_names() -> list[str]:
    return list(_sf().AU_NAMES)


def au_label(name: str) -> str:
    desc = _sf().AU_DESCRIPTIONS.get(name, "")
    return f"{name} {desc}".strip()


def pose_limits() -> dict[str, float]:
    return {k: float(v) for k, v in _sf().POSE_LIMITS.items()}


def motion_names() -> list[str]:
    return list(_sf().MOTIONS)


# ---------------------------------------------------------------- input checking


def check_seed(seed, warnings: list[str]) -> int:
    """A whole number in [0, MAX_SEED]; fractions are rounded, out-of-range clamped."""
    x = number(seed, "Identity seed")
    if x != round(x):
        warnings.append(f"Identity seed {x:g} is not a whole number; using {round(x)}.")
    s = int(round(x))
    if s < 0 or s > MAX_SEED:
        c = min(max(s, 0), MAX_SEED)
        warnings.append(f"Identity seed {s} is out of range [0, {MAX_SEED}]; using {c}.")
        s = c
    return s


def check_resolution(resolution) -> int:
    try:
        r = int(float(resolution))
    except (TypeError, ValueError):
        r = None
    if r not in RESOLUTIONS:
        raise InputError(f"Resolution must be one of {', '.join(map(str, RESOLUTIONS))}; got {resolution!r}.")
    return r


def check_aus(aus, warnings: list[str]) -> list[float]:
    """AU intensities in AU_NAMES order, each clamped to [0, 1].

    aus: a sequence with one value per AU, or a dict {AU name: value} (missing AUs are 0).
    """
    names = au_names()
    if aus is None:
        return [0.0] * len(names)
    if isinstance(aus, dict):
        unknown = sorted(set(aus) - set(names))
        if unknown:
            raise InputError(f"Unknown action units {unknown}; known: {', '.join(names)}.")
        aus = [aus.get(n, 0.0) for n in names]
    aus = list(aus)
    if len(aus) != len(names):
        raise InputError(f"Expected {len(names)} action-unit values ({', '.join(names)}); got {len(aus)}.")
    return [clamped(v, n, 0.0, 1.0, warnings) for n, v in zip(names, aus)]


def check_pose(jaw, yaw, pitch, roll, warnings: list[str]) -> tuple[float, float, float, float]:
    lim = pose_limits()
    return (
        clamped(jaw, "Jaw opening", 0.0, lim["jaw"], warnings),
        clamped(yaw, "Yaw", -lim["yaw"], lim["yaw"], warnings),
        clamped(pitch, "Pitch", -lim["pitch"], lim["pitch"], warnings),
        clamped(roll, "Roll", -lim["roll"], lim["roll"], warnings),
    )


def check_motion(name, what: str = "Motion", allow_none: bool = False) -> str | None:
    if allow_none and (name is None or name == "" or name == NO_MOTION):
        return None
    names = motion_names()
    if name not in names:
        raise InputError(f"{what} must be one of: {', '.join(names)}; got {name!r}.")
    return name


# ---------------------------------------------------------------- rendering


def warm_up() -> None:
    """One small render: imports torch and builds the morphable model (app start-up)."""
    render_face(0, resolution=64)


WORLDS = {"v2": "v2: legible expressions, face-aligned crop", "v1": "v1: the world the shipped nets learnt"}
DEFAULT_WORLD = "v2"


def check_world(world) -> str:
    if world not in WORLDS:
        raise InputError(f"World must be one of {', '.join(WORLDS)}; got {world!r}.")
    return world


@functools.lru_cache(maxsize=2 * len(RESOLUTIONS))
def _renderer(resolution: int, world: str = DEFAULT_WORLD):
    return _sf().Renderer(resolution=resolution, world=world)


def face_params(seed: int, aus: Sequence[float], jaw: float, yaw: float, pitch: float, roll: float):
    """FaceParams (batch 1) of identity `seed` with the given expression and head pose."""
    import torch

    sf = _sf()
    p = sf.FaceParams.identity(int(seed), batch=1)
    dtype = p.aus.dtype
    jaw_t = torch.zeros_like(p.jaw)
    jaw_t[:, 0] = float(jaw)
    return p.replace(
        aus=torch.tensor([list(aus)], dtype=dtype),
        jaw=jaw_t,
        pose=torch.tensor([[float(yaw), float(pitch), float(roll)]], dtype=p.pose.dtype),
    )


def display_factor(resolution: int, min_display: int = MIN_DISPLAY) -> int:
    return max(1, math.ceil(min_display / resolution)) if min_display else 1


def _to_display(images, landmarks, visibility, show_landmarks: bool, k: int) -> np.ndarray:
    """(B,3,H,W) float images -> uint8 (B, H*k, W*k, 3), nearest-upscaled, with dots."""
    from lgfa_lite.video import to_uint8_frames, upscale_frames

    frames = to_uint8_frames(images)
    if k > 1:
        frames = upscale_frames(frames, min_size=frames.shape[1] * k, mode="nearest")
    if show_landmarks:
        draw = _sf().draw_landmarks
        lms = landmarks.detach().cpu().numpy() * k  # pixel xy scale with the image
        vis = visibility.detach().cpu().numpy()
        frames = np.stack([draw(f, lm, v) for f, lm, v in zip(frames, lms, vis)])
    return frames


class Rendered(NamedTuple):
    image: np.ndarray  # uint8 (H, W, 3), display size
    caption: str
    seed: int  # the seed actually used (after clamping)
    warnings: list[str]


def render_face(
    seed=0,
    aus=None,
    jaw=0.0,
    yaw=0.0,
    pitch=0.0,
    roll=0.0,
    resolution=DEFAULT_RESOLUTION,
    show_landmarks=False,
    min_display=MIN_DISPLAY,
    world=DEFAULT_WORLD,
) -> Rendered:
    """Render one face. Bad values are clamped (with a warning) or raise InputError."""
    import torch

    warnings: list[str] = []
    s = check_seed(seed, warnings)
    a = check_aus(aus, warnings)
    j, y, p_, r = check_pose(jaw, yaw, pitch, roll, warnings)
    res = check_resolution(resolution)
    params = face_params(s, a, j, y, p_, r)
    with torch.no_grad():
        out = _renderer(res, check_world(world))(params)
    img = _to_display(out.image, out.landmarks, out.visibility, bool(show_landmarks), display_factor(res, min_display))
    text = _sf().caption(params)[0]
    return Rendered(img[0], text, s, warnings)


class Clip(NamedTuple):
    path: Path  # the mp4
    caption: str
    frames: int
    warnings: list[str]


def _fresh_video_path(out_dir) -> Path:
    out = Path(out_dir) if out_dir is not None else VIDEO_DIR
    out.mkdir(parents=True, exist_ok=True)
    if out_dir is None:  # our own temp folder: keep only the newest clips
        old = sorted(out.glob("motion_*.mp4"), key=lambda f: f.stat().st_mtime)
        for f in old[: max(0, len(old) - KEEP_VIDEOS + 1)]:
            f.unlink(missing_ok=True)
    return out / f"motion_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:8]}.mp4"


def play_motion(
    seed=0,
    motion="smile",
    then_motion=NO_MOTION,
    frames=DEFAULT_FRAMES,
    fps=DEFAULT_FPS,
    aus=None,
    jaw=0.0,
    yaw=0.0,
    pitch=0.0,
    roll=0.0,
    resolution=DEFAULT_RESOLUTION,
    show_landmarks=False,
    out_dir=None,
    world=DEFAULT_WORLD,
) -> Clip:
    """Render a motion clip of the current face to an mp4; return its path and caption."""
    import torch

    from lgfa_lite.video import write_mp4

    warnings: list[str] = []
    s = check_seed(seed, warnings)
    first = check_motion(motion, "Motion")
    then = check_motion(then_motion, "Second motion", allow_none=True)
    n = int(round(clamped(frames, "Frames", *FRAMES_RANGE, warnings)))
    rate = clamped(fps, "FPS", *FPS_RANGE, warnings)
    a = check_aus(aus, warnings)
    j, y, p_, r = check_pose(jaw, yaw, pitch, roll, warnings)
    res = check_resolution(resolution)
    base = face_params(s, a, j, y, p_, r)
    seq, text = _sf().motion_clip(base, [first] if then is None else [first, then], frames=n)
    renderer = _renderer(res, check_world(world))
    k = display_factor(res)
    chunks = []
    with torch.no_grad():
        for i in range(0, seq.aus.shape[0], RENDER_CHUNK):
            out = renderer(seq[i : i + RENDER_CHUNK])
            chunks.append(_to_display(out.image, out.landmarks, out.visibility, bool(show_landmarks), k))
    video = np.concatenate(chunks)
    path = write_mp4(video, _fresh_video_path(out_dir), fps=rate, min_size=0)
    return Clip(path, text, int(video.shape[0]), warnings)


def presets() -> dict[str, dict[str, float]]:
    """Expression presets: name -> {AU name: intensity} (SynthFaces' EXPRESSIONS)."""
    return dict(getattr(_sf(), "EXPRESSIONS", {"neutral": {}}))


def preset_values(name: str) -> tuple[list[float], float]:
    """(AU values in AU_NAMES order, jaw degrees) of an expression preset."""
    table = presets()
    if name not in table:
        raise InputError(f"Preset must be one of: {', '.join(table)}; got {name!r}.")
    spec = table[name]
    return [float(spec.get(n, 0.0)) for n in au_names()], 0.0


def random_seed(rng: np.random.Generator | None = None) -> int:
    rng = rng or np.random.default_rng()
    return int(rng.integers(0, 100_000))


# ---------------------------------------------------------------- Gradio wiring


def build() -> None:
    """Create the tab's components and events (call inside a gr.Tab / gr.Blocks)."""
    import gradio as gr

    names = au_names()
    lim = pose_limits()

    def _surface(fn, *args, **kwargs):
        return guarded(functools.partial(fn, **kwargs), TITLE)(*args)

    gr.Markdown(
        "Procedural SynthFaces: every face comes from an **identity seed**; move the "
        "**action units** (FACS), jaw and head pose, or play a captioned **motion**. "
        "This is the ground-truth world that trains and scores every lite checkpoint. World v2 draws "
        "expressions large enough for 64 px models to see, framed by the face-aligned crop; the shipped "
        "lite nets still learnt v1."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                seed = gr.Number(value=0, label="Identity seed", precision=0, scale=3)
                random_btn = gr.Button("🎲 Random identity", scale=2)
            with gr.Row():
                preset = gr.Dropdown(list(presets()), value="neutral", label="Expression preset", scale=3)
                reset_btn = gr.Button("Reset expression", scale=2)
            with gr.Row():
                # string choices: the API documents a Radio's choices as strings, so they must be strings
                resolution = gr.Radio(
                    [str(r) for r in RESOLUTIONS], value=str(DEFAULT_RESOLUTION), label="Resolution (px)"
                )
                world = gr.Radio(
                    [(label, key) for key, label in WORLDS.items()], value=DEFAULT_WORLD, label="SynthFaces world"
                )
                show_lm = gr.Checkbox(value=False, label="Landmark overlay (68 points)")
            with gr.Accordion("Jaw and head pose (degrees)", open=True):
                jaw = gr.Slider(0, lim["jaw"], value=0, step=0.5, label="Jaw opening")
                yaw = gr.Slider(-lim["yaw"], lim["yaw"], value=0, step=1, label="Yaw (turn)")
                pitch = gr.Slider(-lim["pitch"], lim["pitch"], value=0, step=1, label="Pitch (nod)")
                roll = gr.Slider(-lim["roll"], lim["roll"], value=0, step=1, label="Roll (tilt)")
            with gr.Accordion("Action units (intensity 0..1)", open=True):
                au_sliders = [gr.Slider(0, 1, value=0, step=0.05, label=au_label(n)) for n in names]
        with gr.Column(scale=1, min_width=320):
            image = gr.Image(label="Rendered face", format="png", type="numpy", interactive=False, height=320)
            caption = gr.Textbox(label="Caption", interactive=False)
            with gr.Group():
                gr.Markdown("### Play motion")
                with gr.Row():
                    motion = gr.Dropdown(motion_names(), value=motion_names()[0], label="Motion")
                    then_motion = gr.Dropdown([NO_MOTION, *motion_names()], value=NO_MOTION, label="then ...")
                with gr.Row():
                    frames = gr.Slider(*FRAMES_RANGE, value=DEFAULT_FRAMES, step=1, label="Frames")
                    fps = gr.Slider(*FPS_RANGE, value=DEFAULT_FPS, step=1, label="FPS")
                play_btn = gr.Button("▶ Play motion", variant="primary")
                video = gr.Video(
                    label="Motion clip (mp4)",
                    format="mp4",
                    interactive=False,
                    autoplay=True,
                    loop=True,
                    height=320,
                    buttons=["download"],
                )
                motion_caption = gr.Textbox(label="Motion caption", interactive=False)

    face_inputs = [seed, *au_sliders, jaw, yaw, pitch, roll, resolution, show_lm, world]
    n_au = len(names)
    # API parameter names, in the order of face_inputs
    au_params = [param_name(au_label(n)) for n in names]
    view_params = ["jaw_opening", "yaw", "pitch", "roll", "resolution", "landmark_overlay", "world"]
    face_params_ = ["identity_seed", *au_params, *view_params]

    def _render(seed_v, *rest):
        aus, (j, y, p_, r, res, lm, w) = rest[:n_au], rest[n_au:]
        out = _surface(render_face, seed_v, list(aus), j, y, p_, r, res, lm, world=w)
        return out.image, out.caption, out.seed

    gr.on(
        triggers=[s.release for s in (*au_sliders, jaw, yaw, pitch, roll)]
        + [seed.submit, seed.blur, resolution.change, world.change, show_lm.change],
        fn=api(_render, face_params_),
        inputs=face_inputs,
        outputs=[image, caption, seed],
        api_name="render",
        trigger_mode="always_last",
        show_progress="minimal",
    )

    # the default face when the page opens (gr.on with no triggers and no inputs = on load)
    gr.on(
        triggers=None,
        fn=lambda: _render(0, *([0.0] * n_au), 0.0, 0.0, 0.0, 0.0, DEFAULT_RESOLUTION, False, DEFAULT_WORLD)[:2],
        inputs=None,
        outputs=[image, caption],
        api_visibility="private",
        show_progress="minimal",
    )

    def _random(*rest):
        return _render(random_seed(), *rest)

    random_btn.click(
        api(_random, face_params_[1:]),
        inputs=face_inputs[1:],
        outputs=[image, caption, seed],
        api_name="random_identity",
        show_progress="minimal",
    )

    def _apply_preset(name, seed_v, y, p_, r, res, lm, w):
        try:
            aus, j = preset_values(name)
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        img, text, s = _render(seed_v, *aus, j, y, p_, r, res, lm, w)
        return (*aus, j, img, text, s)

    preset_inputs = [preset, seed, yaw, pitch, roll, resolution, show_lm, world]
    preset_params = ["preset", "identity_seed", *view_params[1:]]
    preset_outputs = [*au_sliders, jaw, image, caption, seed]
    # many outputs: a failure shows one toast, not an error badge on every slider
    preset.input(
        api(_apply_preset, preset_params),
        inputs=preset_inputs,
        outputs=preset_outputs,
        api_name="apply_preset",
        show_progress="hidden",
    )

    def _reset(*args):
        return _apply_preset("neutral", *args)

    reset_btn.click(
        api(_reset, preset_params[1:]),
        inputs=preset_inputs[1:],
        outputs=preset_outputs,
        api_name="reset_expression",
        show_progress="hidden",
    )

    def _play(seed_v, m, then, n, rate, *rest):
        aus, (j, y, p_, r, res, lm, w) = rest[:n_au], rest[n_au:]
        clip = _surface(play_motion, seed_v, m, then, n, rate, list(aus), j, y, p_, r, res, lm, world=w)
        return str(clip.path), clip.caption

    play_btn.click(
        api(_play, ["identity_seed", "motion", "then_motion", "frames", "fps", *face_params_[1:]]),
        inputs=[seed, motion, then_motion, frames, fps, *au_sliders, jaw, yaw, pitch, roll, resolution, show_lm, world],
        outputs=[video, motion_caption],
        api_name="play_motion",
    )

    gr.Examples(
        examples=[e for e in EXAMPLES if e[1] in presets()],
        inputs=[seed, preset],
        outputs=preset_outputs,
        fn=lambda s, name: _apply_preset(name, s, 0, 0, 0, DEFAULT_RESOLUTION, False, DEFAULT_WORLD),
        run_on_click=True,
        cache_examples=False,
        label="Examples (identity seed + expression preset): click one",
    )
