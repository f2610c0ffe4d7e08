"""Tab "GANimation": edit a face's expression with action-unit sliders; animate to a target.

Plain Python first (tested in tests/test_demo_ganimation.py): reading a face (upload or a
SynthFaces sample), reading its AUs, editing, animating. build() only wires them to Gradio.
Models load on first use.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from demos.common import (
    InputError,
    api,
    clamped,
    display,
    face_batch,
    face_inputs,
    guarded,
    int_in,
    load_upload,
    method_pipeline,
    method_world,
    new_video_path,
    param_name,
    photo_upload,
    prepare_face,
    sample_face,
    wire_upload,
)

TITLE = "GANimation"
ORDER = 30


FRAMES_RANGE, FPS_RANGE = (2, 64), (1, 30)
EXAMPLES = [[3, "smiling"], [11, "surprised"], [25, "angry"], [40, "sad"], [58, "opening mouth"], [77, "winking"]]


def au_names() -> list[str]:
    from lgfa_lite.synthface import AU_NAMES

    return list(AU_NAMES)


def au_label(name: str) -> str:
    from lgfa_lite.synthface import AU_DESCRIPTIONS

    return f"{name} {AU_DESCRIPTIONS.get(name, '')}".strip()


def preset_names() -> list[str]:
    from lgfa_lite.methods.ganimation import PRESETS

    return list(PRESETS)


def pipeline():
    """The GANimation pipeline (`lgfa_lite.methods.ganimation.load`); a clear message while no checkpoint is shipped."""
    return method_pipeline("ganimation", 40)


def world() -> str:
    """The SynthFaces world the GANimation checkpoint learnt (`method_world`): sample faces are
    drawn, photos cropped and AUs read as that world draws them."""
    return method_world(pipeline)


def read_aus(face: np.ndarray, world: str = "v1") -> list[float]:
    """The face's own AU intensities, read by the lite AU regressor of `world` (0 where it is not shipped)."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.nets import lite_weights

    try:
        net = hub.load_shared(lite_weights("au-synthfaces-64", world))
    except hub.CheckpointError:
        return [0.0] * len(au_names())
    with torch.no_grad():
        return [round(float(v), 2) for v in net(face_batch(face))[0]]


def check_aus(values, warnings: list[str]) -> list[float]:
    names = au_names()
    values = list(values)
    if len(values) != len(names):
        raise InputError(f"Expected {len(names)} AU values, got {len(values)}.")
    return [clamped(v, name, 0.0, 1.0, warnings) for name, v in zip(names, values)]


def reference_aus(reference_path, reference_sample, world: str = "v1") -> list[float]:
    """The AUs of a reference face (an upload, else a sample number), for the sliders."""
    face = prepare_face(reference_path, world=world) if reference_path else sample_face(reference_sample, world)
    return read_aus(face, world)


def preset_aus(name: str) -> list[float]:
    from lgfa_lite.methods.ganimation import PRESETS

    if name not in PRESETS:
        raise InputError(f"Preset must be one of {', '.join(PRESETS)}; got {name!r}.")
    return [round(float(v), 2) for v in PRESETS[name]]


class Edited(NamedTuple):
    image: np.ndarray  # display-size uint8
    attention: np.ndarray  # A: white = kept from the input
    colour: np.ndarray  # C
    mask_mean: float
    warnings: list[str]


def edit_face(face: np.ndarray, aus) -> Edited:
    import torch

    from lgfa_lite.methods.ganimation import mask_saturated

    warnings: list[str] = []
    target = torch.tensor([check_aus(aus, warnings)])
    out, A, C = pipeline()(face_batch(face), target)
    problem = mask_saturated(float(A.mean()))
    if problem:
        warnings.append(problem)
    return Edited(display(out)[0], display(A.expand(-1, 3, -1, -1))[0], display(C)[0], float(A.mean()), warnings)


class Animation(NamedTuple):
    path: Path
    strip: np.ndarray
    warnings: list[str]


def animate_face(face: np.ndarray, aus, frames=16, fps=10, out_dir=None) -> Animation:
    """mp4 from the face's own expression (as the AU regressor reads it) to the target AUs."""
    import torch

    from lgfa_lite.methods.ganimation import interpolate_aus
    from lgfa_lite.video import frames_to_strip, write_mp4

    warnings: list[str] = []
    target = torch.tensor(check_aus(aus, warnings))
    n = int_in(frames, "Frames", FRAMES_RANGE, warnings)
    rate = int_in(fps, "FPS", FPS_RANGE, warnings)
    pipe = pipeline()
    source = torch.tensor(read_aus(face, pipe.world))
    video = pipe.animate(face_batch(face), interpolate_aus(source, target, n))
    path = write_mp4(display(video), new_video_path("ganimation", out_dir), fps=rate, min_size=0)
    return Animation(path, frames_to_strip(display(video), per_row=4), warnings)


def warm_up() -> None:
    try:
        pipeline()
    except InputError:
        pass


# ---------------------------------------------------------------- Gradio wiring


def animation_outputs():
    """The animation's mp4 player and its frame strip (inside a column); the AU tabs share them."""
    import gradio as gr

    video = gr.Video(
        label="Animation (mp4)",
        format="mp4",
        interactive=False,
        autoplay=True,
        loop=True,
        height=256,
        buttons=["download"],
    )
    return video, gr.Image(label="Frames", interactive=False, format="png")


def reference_inputs(prefix: str):
    """The reference-face accordion (inside a column) -> `wire(handler, sliders)`, which sends the AUs
    `handler(reference upload, reference sample #)` returns to the sliders."""
    import gradio as gr

    with gr.Accordion("Copy the expression of a reference face", open=False):
        reference = photo_upload("Reference face (upload)")
        ref_sample = gr.Number(value=11, label="or reference sample #", precision=0)
        copy_btn = gr.Button("Copy AUs from reference")
    return lambda handler, sliders: copy_btn.click(
        api(handler, ["reference_photo", "reference_sample_number"]),
        [reference, ref_sample],
        sliders,
        api_name=f"{prefix}_copy_expression",
        show_progress="hidden",  # a refused reference: one toast, no badge on every slider
    )


def target_inputs(preset_value: str = "neutral"):
    """A preset dropdown and one 0..1 slider per AU (set to the preset) -> (preset, sliders). The two
    agree: picking a preset sets the sliders, moving a slider or loading a face clears the preset."""
    import gradio as gr

    start = preset_aus(preset_value)
    preset = gr.Dropdown(preset_names(), value=preset_value, label="Preset expression (sets the sliders)")
    with gr.Accordion("Target action units (0..1)", open=True):
        sliders = [gr.Slider(0, 1, value=v, step=0.05, label=au_label(n)) for n, v in zip(au_names(), start)]
    gr.on(
        [s.input for s in sliders],
        lambda: None,
        None,
        preset,
        api_visibility="private",
        show_progress="hidden",
        queue=False,
    )
    return preset, sliders


def au_params() -> list[str]:
    """The AU sliders' API parameter names, in AU_NAMES order."""
    return [param_name(au_label(n)) for n in au_names()]


def wire_face(tab: str, prefix: str, face_state, face_view, upload, sample, sample_btn, sliders, preset, world):
    """An upload or a sample face (drawn, cropped and read as the SynthFaces world `world()` names,
    asked per event so building the tab loads no checkpoint) -> the face state, its view, the AU
    sliders at the face's own AUs and the preset cleared. Returns the sample handler (examples call it)."""
    import gradio as gr

    face_outputs = [face_state, face_view, *sliders, preset]

    def _use_face(face):
        return face, display(face)[0], *read_aus(face, world()), None

    def _from_upload(path):
        if not path:  # the upload was cleared: keep the current face
            return (gr.skip(),) * len(face_outputs)
        return guarded(_use_face, tab)(load_upload(path, tab, world()))

    def _from_sample(n):
        return guarded(_use_face, tab)(guarded(sample_face, tab)(n, world()))

    wire_upload(upload, _from_upload, face_outputs, f"{prefix}_load_face")
    sample_btn.click(
        api(_from_sample, ["sample_number"]),
        sample,
        face_outputs,
        api_name=f"{prefix}_sample_face",
        show_progress="hidden",
    )
    return _from_sample


def build() -> None:
    import gradio as gr

    def guarded_here(fn):
        return guarded(fn, TITLE)

    gr.Markdown(
        "**GANimation** (Pumarola et al., 2018): the generator paints a colour image **C** and an attention "
        "mask **A** and keeps the input where A is white: `out = A·input + (1−A)·C`. Set the target "
        "expression with action-unit sliders (they start at the face's own AUs), a preset, or a reference "
        "face; *Animate* makes an mp4 from the face's expression to the target. Lite profile: 64 px, trained "
        "on SynthFaces v2 with its paired ground truth: eyes and mouths move, brows barely; edits are soft "
        "(measured: About tab, bench `ganimation`). Photos are cropped as v2 frames its faces."
    )
    try:
        pipeline()
        missing = None
    except InputError as e:  # one notice instead of an error badge on every control
        missing = str(e)
        gr.Markdown(f"⚠️ {missing} Until then *Edit* and *Animate* answer with this message.")
    progress = "hidden" if missing else "full"
    face_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            upload, sample, sample_btn, face_view = face_inputs()
            copy_reference = reference_inputs("ganimation")
        with gr.Column(scale=1, min_width=280):
            preset, sliders = target_inputs()
            edit_btn = gr.Button("Edit expression", variant="primary")
        with gr.Column(scale=1, min_width=280):
            result = gr.Image(label="Edited face", interactive=False, format="png", height=256)
            with gr.Row():
                attention = gr.Image(label="Attention A (white = kept)", interactive=False, format="png", height=140)
                colour = gr.Image(label="Colour C", interactive=False, format="png", height=140)
            with gr.Row():
                frames = gr.Slider(*FRAMES_RANGE, value=16, step=1, label="Frames")
                fps = gr.Slider(*FPS_RANGE, value=10, step=1, label="FPS")
            anim_btn = gr.Button("Animate to target")
            video, strip = animation_outputs()

    w = world()
    _from_sample = wire_face(
        TITLE, "ganimation", face_state, face_view, upload, sample, sample_btn, sliders, preset, world
    )

    copy_reference(guarded_here(functools.partial(reference_aus, world=w)), sliders)
    preset.input(
        api(guarded_here(preset_aus), ["preset"]),
        preset,
        sliders,
        api_name="ganimation_preset",
        show_progress="hidden",
    )
    aus = au_params()

    @guarded_here
    def _edit(face, *aus):
        return edit_face(face, aus)

    def _edit_outputs(face, *aus):
        e = _edit(face, *aus)
        return e.image, e.attention, e.colour

    edit_btn.click(
        api(_edit_outputs, ["face", *aus]),
        [face_state, *sliders],
        [result, attention, colour],
        api_name="ganimation_edit",
        show_progress=progress,
    )

    @guarded_here
    def _animate(face, n, rate, *aus):
        return animate_face(face, aus, n, rate)

    def _anim_outputs(face, n, rate, *aus):
        a = _animate(face, n, rate, *aus)
        return str(a.path), a.strip

    anim_btn.click(
        api(_anim_outputs, ["face", "frames", "fps", *aus]),
        [face_state, frames, fps, *sliders],
        [video, strip],
        api_name="ganimation_animate",
        show_progress=progress,
    )

    def _example(n, name):
        face_out = _from_sample(n)
        aus = guarded_here(preset_aus)(name)
        e = _edit(face_out[0], *aus)
        return (*face_out[:2], *aus, name, e.image, e.attention, e.colour)

    gr.Examples(
        examples=EXAMPLES,
        inputs=[sample, preset],
        outputs=[face_state, face_view, *sliders, preset, result, attention, colour],
        fn=_example,
        run_on_click=True,
        cache_examples=False,
        label="Examples (sample face + target expression): click one",
    )
