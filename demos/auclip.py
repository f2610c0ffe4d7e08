"""Tab "AU-CLIP": edit a face's expression in StyleGAN2's W+ with an action-unit increment.

Plain Python first (tested in tests/test_demo_auclip.py): editing (target AU sliders, a preset or a
reference face's AUs; strength α), animating to an mp4. The face is inverted by the encoder, so the
source reconstruction is shown next to the edit. build() only wires them to Gradio. Models load on
first use. The AU helpers are the GANimation tab's (same sliders, presets and reader).
"""

from __future__ import annotations

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
    method_pipeline,
    method_world,
    new_video_path,
)
from demos.ganimation import (
    animation_outputs,
    au_params,
    check_aus,
    preset_aus,
    reference_aus,
    reference_inputs,
    target_inputs,
    wire_face,
)

TITLE = "AU-CLIP"
ORDER = 35

ALPHA_RANGE, FRAMES_RANGE, FPS_RANGE = (0.0, 1.0), (2, 64), (1, 30)
MODES = {"scale the AU change (Δau)": "delta", "scale the strength (α)": "alpha"}
EXAMPLES = [[3, "opening mouth", 0.2], [11, "closing eyes", 0.2], [25, "surprised", 0.3], [58, "smiling", 0.2]]
LIMITS = (
    "The lite generator (SynthFaces v2) draws head pose, eyes and lids, an opening mouth and a pucker; brows "
    "and smiles only faintly, so those AUs move least (per-AU results: bench/RESULTS.md, group `auclip`)."
)


def pipeline():
    """The AU-CLIP pipeline (`lgfa_lite.methods.auclip.load`); a clear message while no checkpoint is shipped."""
    return method_pipeline("auclip", 30)


class Edited(NamedTuple):
    image: np.ndarray  # the edit, display size
    reconstruction: np.ndarray  # the face as the generator redraws it before the edit
    warnings: list[str]


def edit_face(face: np.ndarray, aus, alpha=0.2) -> Edited:
    """The face inverted, edited toward the target AUs with strength α; and its reconstruction."""
    import torch

    warnings: list[str] = []
    target = torch.tensor(check_aus(aus, warnings))
    a = clamped(alpha, "Strength α", *ALPHA_RANGE, warnings)
    e = pipeline()(face_batch(face), target, alpha=a)
    return Edited(display(e.image)[0], display(e.reconstruction)[0], warnings)


class Animation(NamedTuple):
    path: Path
    strip: np.ndarray
    warnings: list[str]


def animate_face(face: np.ndarray, aus, alpha=0.2, mode="scale the AU change (Δau)", frames=16, fps=10, out_dir=None):
    """An mp4 from the reconstruction to the edit, scaling Δau or α over the frames."""
    import torch

    from lgfa_lite.video import frames_to_strip, write_mp4

    if mode not in MODES:
        raise InputError(f"Animation must be one of: {', '.join(MODES)}; got {mode!r}.")
    warnings: list[str] = []
    target = torch.tensor(check_aus(aus, warnings))
    a = clamped(alpha, "Strength α", *ALPHA_RANGE, warnings)
    n = int_in(frames, "Frames", FRAMES_RANGE, warnings)
    rate = int_in(fps, "FPS", FPS_RANGE, warnings)
    video = pipeline().animate(face_batch(face), target, frames=n, mode=MODES[mode], alpha=a)
    path = write_mp4(display(video), new_video_path("auclip", out_dir), fps=rate, min_size=0)
    return Animation(path, frames_to_strip(display(video), per_row=4), warnings)


def warm_up() -> None:
    try:
        pipeline()
    except InputError:
        pass


# ---------------------------------------------------------------- Gradio wiring


def build() -> None:
    import gradio as gr

    def guarded_here(fn):
        return guarded(fn, TITLE)

    gr.Markdown(
        "**AU-CLIP** (Kevinfringe/AU-CLIP): a mapper turns the change of action units you ask for (Δau) into "
        "an offset of the face's StyleGAN2 code: `ŵ = w + α·mapper(Δau)`. Set the target AUs with sliders "
        "(they start at the face's own AUs), a preset, or a reference face; α sets the strength. The face "
        "is first inverted by the encoder: its reconstruction is shown beside the edit. Lite profile: 64 px. " + LIMITS
    )
    face_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            upload, sample, sample_btn, face_view = face_inputs()
            copy_reference = reference_inputs("auclip")
        with gr.Column(scale=1, min_width=280):
            preset, sliders = target_inputs("opening mouth")
            alpha = gr.Slider(*ALPHA_RANGE, value=0.2, step=0.05, label="Strength α (0.2 in training)")
            edit_btn = gr.Button("Edit expression", variant="primary")
        with gr.Column(scale=1, min_width=280):
            with gr.Row():
                recon = gr.Image(label="Source reconstruction", interactive=False, format="png", height=200)
                result = gr.Image(label="Edited face", interactive=False, format="png", height=200)
            mode = gr.Radio(list(MODES), value=next(iter(MODES)), label="Animation")
            with gr.Row():
                frames = gr.Slider(*FRAMES_RANGE, value=16, step=1, label="Frames")
                fps = gr.Slider(*FPS_RANGE, value=10, step=1, label="FPS")
            anim_btn = gr.Button("Animate")
            video, strip = animation_outputs()

    def world():  # the world its generator learnt, asked per event: building the tab loads nothing
        return method_world(pipeline)

    _from_sample = wire_face(TITLE, "auclip", face_state, face_view, upload, sample, sample_btn, sliders, preset, world)
    copy_reference(guarded_here(reference_aus), sliders)
    preset.input(
        api(guarded_here(preset_aus), ["preset"]), preset, sliders, api_name="auclip_preset", show_progress="hidden"
    )
    aus = au_params()

    @guarded_here
    def _edit(face, a, *aus):
        return edit_face(face, aus, a)

    def _edit_outputs(face, a, *aus):
        e = _edit(face, a, *aus)
        return e.reconstruction, e.image

    edit_btn.click(
        api(_edit_outputs, ["face", "strength", *aus]),
        [face_state, alpha, *sliders],
        [recon, result],
        api_name="auclip_edit",
    )

    @guarded_here
    def _animate(face, a, m, n, rate, *aus):
        return animate_face(face, aus, a, m, n, rate)

    def _anim_outputs(face, a, m, n, rate, *aus):
        anim = _animate(face, a, m, n, rate, *aus)
        return str(anim.path), anim.strip

    anim_btn.click(
        api(_anim_outputs, ["face", "strength", "animation", "frames", "fps", *aus]),
        [face_state, alpha, mode, frames, fps, *sliders],
        [video, strip],
        api_name="auclip_animate",
    )

    def _example(n, name, a):
        face_out = _from_sample(n)
        aus = guarded_here(preset_aus)(name)
        e = _edit(face_out[0], a, *aus)
        return (*face_out[:2], *aus, e.reconstruction, e.image)

    gr.Examples(
        examples=EXAMPLES,
        inputs=[sample, preset, alpha],
        outputs=[face_state, face_view, *sliders, recon, result],
        fn=_example,
        run_on_click=True,
        cache_examples=False,
        label="Examples (sample face + target expression + α): click one",
    )
