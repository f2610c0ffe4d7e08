"""Tab "Landmark projection": a generated face with the look of one face and the landmarks of another.

Plain Python first (tested in tests/test_demo_projection.py): the look (an upload, run through face
detection and cropping, or a SynthFaces sample), the landmark source (an uploaded face, a SynthFaces
expression or a motion), the group weights, projecting or animating. build() only wires them to
Gradio. Models load on first use.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from demos.common import (
    SIZE,
    InputError,
    api,
    clamped,
    display,
    face_batch,
    face_inputs,
    guarded,
    int_in,
    load_upload,
    new_video_path,
    param_name,
    photo_upload,
    prepare_face,
    sample_face,
    streamed,
    wire_upload,
)

TITLE = "Landmark projection"
ORDER = 40

SOURCES = ("SynthFaces expression", "Upload a face", "Motion")
STEPS_RANGE, FRAMES_RANGE, WEIGHT_RANGE, FPS = (10, 1000), (2, 32), (0.0, 10.0), 8
SPACES = {"W": "w", "W+": "w+"}
INITS = {"mean face (w_avg)": "w_avg", "encoder inversion": "encoder"}


def group_names() -> list[str]:
    from lgfa_lite.methods.projection import GROUPS

    return list(GROUPS)


def default_weights() -> list[float]:
    from lgfa_lite.methods.projection import GROUP_WEIGHTS

    return [GROUP_WEIGHTS[g] for g in group_names()]


def expression_names() -> list[str]:
    from lgfa_lite.synthface import EXPRESSIONS

    return list(EXPRESSIONS)


def motion_names() -> list[str]:
    from lgfa_lite.synthface import MOTIONS

    return list(MOTIONS)


@functools.lru_cache(maxsize=None)
def pipeline():
    """The projection pipeline (`lgfa_lite.methods.projection.load`): the shipped lite nets."""
    from lgfa_lite.methods.projection import load

    return load()


def check_weights(values, warnings: list[str]) -> dict[str, float]:
    """Slider values (in `group_names()` order) -> {group: weight}; empty/NaN is an error, out of range clamped."""
    names, values = group_names(), list(values)
    if len(values) != len(names):
        raise InputError(f"Expected {len(names)} group weights, got {len(values)}.")
    return {g: clamped(v, f"Weight of {g.replace('_', ' ')}", *WEIGHT_RANGE, warnings) for g, v in zip(names, values)}


class Target(NamedTuple):
    """The landmark source: `landmarks` is what the pipeline gets (68 points, a landmark image or
    a (T, 68, 2) sequence); `faces` (T, 64, 64, 3) uint8 and `points` (T, 68, 2) are for showing it."""

    landmarks: object
    faces: np.ndarray
    points: np.ndarray
    is_sequence: bool


def landmark_target(
    source: str,
    upload=None,
    sample=11,
    expression="smiling",
    motion="open mouth",
    frames=8,
    warnings: list[str] | None = None,
) -> Target:
    """The landmark source as chosen in the tab; a SynthFaces source is a test identity's render and
    its exact landmarks, an upload is read as a landmark image (the FAN's heatmaps of it)."""
    import torch

    from lgfa_lite.synthface import EXPRESSIONS, FaceParams, au_vector, identities, motion_clip, render

    warnings = [] if warnings is None else warnings
    if source not in SOURCES:
        raise InputError(f"Landmark source must be one of {', '.join(SOURCES)}; got {source!r}.")
    if source == "Upload a face":
        if not upload:
            raise InputError("No landmark face uploaded: upload a face photo, or pick a SynthFaces source.")
        face = prepare_face(upload, warnings, pipeline().world)
        x = face_batch(face)
        with torch.no_grad():
            points = pipeline().fan(x)[0].numpy()
        return Target(x, face[None], points[None], False)
    ids = identities("test", 100)
    n = int_in(sample, "Landmark sample #", (0, 10**6), warnings)
    person = FaceParams.identity(ids[n % len(ids)])
    if source == "SynthFaces expression":
        if expression not in EXPRESSIONS:
            raise InputError(f"Expression must be one of {', '.join(EXPRESSIONS)}; got {expression!r}.")
        params = person.replace(aus=au_vector(EXPRESSIONS[expression]))
    else:
        if motion not in motion_names():
            raise InputError(f"Motion must be one of {', '.join(motion_names())}; got {motion!r}.")
        params, _ = motion_clip(person, motion, int_in(frames, "Frames", FRAMES_RANGE, warnings))
    with torch.no_grad():
        out = render(params, SIZE, world=pipeline().world)
    faces = (out.image.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    points = out.landmarks.float()
    is_sequence = source == "Motion"
    return Target(points if is_sequence else points[0], faces, points.numpy(), is_sequence)


def overlay(image, target_points=None, achieved_points=None) -> np.ndarray:
    """A 64 px face upscaled for the page with target landmarks (grey) under achieved ones (coloured)."""
    from lgfa_lite.synthface import draw_landmarks

    big = display(image)[0]
    scale = big.shape[0] / SIZE
    if target_points is not None:
        big = draw_landmarks(big, np.asarray(target_points) * scale, visibility=np.zeros(68, bool), radius=3)
    if achieved_points is not None:
        big = draw_landmarks(big, np.asarray(achieved_points) * scale, radius=2)
    return big


class Preview(NamedTuple):
    """The projection so far, shown while it runs (target landmarks in grey)."""

    look: np.ndarray
    target: np.ndarray
    result: np.ndarray
    step: object  # the method's Step: step, steps, frame


class Result(NamedTuple):
    look: np.ndarray  # the look, display size
    target: np.ndarray  # the landmark face with its landmarks (first frame of a sequence)
    result: np.ndarray  # the projection with target (grey) and achieved (coloured) landmarks
    nme: float  # achieved vs target landmarks / inter-ocular (mean over frames)
    video: Path | None
    strip: np.ndarray | None
    cancelled: bool
    warnings: list[str]


def project_face(
    look,
    target: Target,
    weights,
    steps=300,
    space="W",
    init="mean face (w_avg)",
    smooth=False,
    *,
    progress=None,
    cancel=None,
    out_dir=None,
    warnings: list[str] | None = None,
) -> Result:
    """Project (or animate, for a motion) and lay out the pictures; progress(Step) after every step.
    smooth: One-Euro filter a motion's landmark track, timed at the video's frame rate. Off by default:
    SynthFaces motions come with exact landmarks, and smoothing them only lags the motion
    (docs/experiments/projection.md)."""
    import torch

    from lgfa_lite.methods.projection import ProjectionConfig
    from lgfa_lite.nets.landmarks import inter_ocular
    from lgfa_lite.video import frames_to_strip, write_mp4

    warnings = [] if warnings is None else warnings
    if space not in SPACES or init not in INITS:
        raise InputError(f"Latent space must be W or W+ and start one of {', '.join(INITS)}.")
    config = ProjectionConfig(
        steps=int_in(steps, "Steps", STEPS_RANGE, warnings),
        space=SPACES[space],
        init=INITS[init],
        group_weights=check_weights(weights, warnings),
        smooth=bool(smooth),
        fps=FPS,
    )
    look_t = face_batch(look)
    pipe = pipeline()
    target_view = overlay(target.faces[:1], target.points[0])
    video = strip = None
    if target.is_sequence:
        config.later_steps = max(10, config.steps // 6)
        anim = pipe.animate(look_t, target.landmarks, config, callback=progress, cancel=cancel)
        achieved, wanted, cancelled = anim.landmarks, anim.targets[: len(anim.landmarks)], anim.cancelled
        frames = np.stack([overlay(f[None], t, a) for f, t, a in zip(anim.frames, wanted, achieved)])
        video = write_mp4(display(anim.frames), new_video_path("projection", out_dir), fps=FPS, min_size=0)
        strip = frames_to_strip(frames)
        shown = frames[-1]
    else:
        res = pipe.project(look_t, target.landmarks, config, callback=progress, cancel=cancel)
        cancelled = res.cancelled
        achieved = res.landmarks
        wanted = res.target if res.target is not None else torch.from_numpy(target.points).float()
        shown = overlay(res.image, wanted[0], achieved[0])
    nme = float(((achieved - wanted).norm(dim=-1).mean(1) / inter_ocular(wanted)).mean())
    if cancelled:
        warnings.append("Stopped: showing the best result so far.")
    return Result(display(look)[0], target_view, shown, nme, video, strip, cancelled, warnings)


# ---------------------------------------------------------------- cancelling, per browser session

_STOPS: dict[str, threading.Event] = {}


def stop_event(session: str) -> threading.Event:
    return _STOPS.setdefault(session or "", threading.Event())


def warm_up() -> None:
    pipeline()


# ---------------------------------------------------------------- Gradio wiring


def build() -> None:
    import gradio as gr

    names = group_names()

    gr.Markdown(
        "**StyleGAN2 facial landmark projection** (after lukasuz/stylegan2-landmark-projection): optimise a "
        "latent code so the generated face has the *look* of one face and the *landmarks* of another. Loss = "
        "look (perceptual) + landmark heatmaps weighted per group. Grey dots: target landmarks; coloured: "
        "what the lite landmark net reads on the result. A motion makes one projection per frame (mp4). "
        "Lite profile: 64 px generator; it draws pose, eyes and an opening mouth, not brows or smiles."
    )
    look_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            gr.Markdown("### Look")
            upload, sample, sample_btn, face_view = face_inputs(sample_value=3)
        with gr.Column(scale=1, min_width=260):
            gr.Markdown("### Landmarks")
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Landmark source")
            lm_upload = photo_upload("Landmark face photo (upload)")
            lm_sample = gr.Number(value=11, label="SynthFaces person #", precision=0)
            expression = gr.Dropdown(expression_names(), value="opening mouth", label="Expression")
            motion = gr.Dropdown(motion_names(), value="open mouth", label="Motion")
            frames = gr.Slider(*FRAMES_RANGE, value=8, step=1, label="Motion frames")
        with gr.Column(scale=1, min_width=260):
            gr.Markdown("### Settings")
            with gr.Accordion("Landmark group weights (the original's defaults)", open=False):
                sliders = [
                    gr.Slider(*WEIGHT_RANGE, value=v, step=0.05, label=n.replace("_", " "))
                    for n, v in zip(names, default_weights())
                ]
            steps = gr.Slider(*STEPS_RANGE, value=300, step=10, label="Steps (later motion frames: steps / 6)")
            space = gr.Radio(list(SPACES), value="W", label="Latent space")
            init = gr.Radio(list(INITS), value=list(INITS)[0], label="Start from")
            smooth = gr.Checkbox(False, label="Smooth a motion's landmark track (One-Euro)")
            with gr.Row():
                run_btn = gr.Button("Project", variant="primary")
                stop_btn = gr.Button("Stop")
    with gr.Row():
        look_view = gr.Image(label="Look", interactive=False, format="png", height=256)
        target_view = gr.Image(label="Landmark source", interactive=False, format="png", height=256)
        result_view = gr.Image(
            label="Result (grey: target, colour: achieved)", interactive=False, format="png", height=256
        )
    info = gr.Markdown(label="Landmark error")
    video = gr.Video(
        label="Animation (mp4)",
        format="mp4",
        interactive=False,
        autoplay=True,
        loop=True,
        height=256,
        buttons=["download"],
    )
    strip = gr.Image(label="Frames (grey: target, colour: achieved)", interactive=False, format="png")

    def _use_face(face):
        return face, display(face)[0]

    def _from_upload(path):
        if not path:
            return gr.skip(), gr.skip()
        return _use_face(load_upload(path, TITLE, pipeline().world))

    wire_upload(upload, _from_upload, [look_state, face_view], "projection_look")
    sample_btn.click(
        api(lambda n: _use_face(guarded(sample_face, TITLE)(n, pipeline().world)), ["sample_number"]),
        sample,
        [look_state, face_view],
        api_name="projection_sample_look",
    )

    inputs = [
        look_state,
        source,
        lm_upload,
        lm_sample,
        expression,
        motion,
        frames,
        steps,
        space,
        init,
        smooth,
        *sliders,
    ]

    params = [
        "look",
        "landmark_source",
        "landmark_photo",
        "landmark_sample_number",
        "expression",
        "motion",
        "motion_frames",
        "steps",
        "latent_space",
        "start_from",
        "smooth",
        *(f"weight_{param_name(n)}" for n in names),
    ]

    def _run(*v):
        *v, request, progress = v
        session = getattr(request, "session_hash", "") or ""
        stop = stop_event(session)
        stop.clear()

        def work():  # yields previews while it optimises, then the Result
            warnings: list[str] = []
            if v[0] is None:
                raise InputError("No look face yet: upload a photo or click “Use sample face”.")
            target = landmark_target(*v[1:7], warnings=warnings)
            look, target_view = display(v[0])[0], overlay(target.faces[:1], target.points[0])
            run = (
                lambda tick: project_face(  # noqa: E731
                    v[0], target, v[11:], *v[7:11], progress=tick, cancel=stop, warnings=warnings
                )
            )
            show = lambda s: progress((s.step, s.steps), desc=f"frame {s.frame}: step")  # noqa: E731
            for kind, value in streamed(run, show):
                if kind == "done":
                    yield value
                else:
                    points = target.points[min(value.frame, len(target.points) - 1)]
                    yield Preview(look, target_view, overlay(value.image[:1], points), value)

        for r in guarded(work, TITLE)():
            if isinstance(r, Preview):
                s = r.step
                where = f"frame {s.frame + 1}, " if v[1] == "Motion" else ""
                text = f"Projecting… {where}step {s.step} of {s.steps} (the picture updates as it goes)"
                yield r.look, r.target, r.result, text, gr.skip(), gr.skip()
                continue
            text = f"Landmark error (NME, lite FAN vs target): **{r.nme:.3f}**" + (
                " (stopped early)" if r.cancelled else ""
            )
            yield r.look, r.target, r.result, text, str(r.video) if r.video else None, r.strip

    run_btn.click(
        api(_run, params, request=True, progress=True),
        inputs=inputs,
        outputs=[look_view, target_view, result_view, info, video, strip],
        api_name="project",
    )

    def _stop(request):
        stop_event(getattr(request, "session_hash", "") or "").set()

    stop_btn.click(api(_stop, [], request=True), None, None, api_name="projection_stop")
