"""Tab "LGFA": a still face + a sentence -> a video (language-guided face animation).

Plain Python first (tested in tests/test_demo_lgfa.py): checking the prompt, choosing the face
(upload, SynthFaces sample, or none: a random identity), animating one or several seeds.
build() only wires them to Gradio. Models load on first use.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from demos.common import (
    InputError,
    api,
    display,
    face_batch,
    face_inputs,
    guarded,
    int_in,
    load_upload,
    method_world,
    new_video_path,
    number,
    sample_face,
    wire_upload,
)

TITLE = "LGFA: face + sentence → video"
ORDER = 10  # the first method tab

FRAMES_RANGE, FPS_RANGE, SEEDS_RANGE = (2, 64), (1, 30), (1, 4)
# head motions and an opening mouth first: what the lite animator draws for real (README, "LGFA")
EXAMPLE_PROMPTS = [
    "The person turns left.",
    "The person nods.",
    "The person is opening mouth.",
    "The person looks up.",
    "The person shakes the head.",
    "The person is surprised.",
    "The person is smiling.",
]
EXAMPLES = [
    [11, "The person turns left.", 0],
    [3, "The person nods.", 0],
    [25, "The person is surprised.", 1],
    [40, "The person looks down.", 0],
    [58, "The person is opening mouth.", 2],
    [77, "The person is crying.", 0],
]


@functools.lru_cache(maxsize=None)
def _load():
    from lgfa_lite.methods.lgfa import load

    return load()


def pipeline():
    """The LGFA pipeline (`lgfa_lite.methods.lgfa.load`); a clear message while the lite checkpoint is not shipped."""
    from lgfa_lite import hub
    from lgfa_lite.methods.lgfa import WEIGHTS

    try:
        return _load()
    except hub.CheckpointError as e:
        missing = re.search(r"checkpoint '([^']+)'", str(e))
        raise InputError(
            f"LGFA is not trained yet: {missing.group(1) if missing else WEIGHTS} is not in weights/. "
            "It needs the lite generator, encoder and CLIP, then "
            "`python -m lgfa_lite.methods.lgfa train --minutes 20` (docs/lgfa.md)."
        ) from None


@functools.lru_cache(maxsize=None)
def expression_words() -> frozenset[str]:
    """Words that ask for a facial expression (SynthFaces' expression motions and the original's LGFA
    words that stand for one), except an opening mouth, which the lite generator does draw."""
    from lgfa_lite.synthface.captions import words
    from lgfa_lite.synthface.motions import LGFA_WORDS, MOTIONS

    phrases = [t for m in MOTIONS.values() if m.aus and m.name != "open mouth" for t in (m.name, m.verb, m.gerund)]
    phrases += [w for w, e in LGFA_WORDS.items() if e not in (None, "neutral", "opening mouth")]
    return frozenset(words(" ".join(phrases))) - {"the", "looks"}


EXPRESSION_NOTES = {  # per world of the animator's generator: what it draws of an expression (bench lgfa)
    "v1": "The lite generator (SynthFaces v1) draws head motions and an opening mouth, not brows, eyelids or "
    "smiles: this expression comes out as shading and colour around the eyes, brows and mouth "
    "(measured; README, “LGFA”).",
    "v2": "The lite generator (SynthFaces v2) draws eyes and lids, an opening mouth and a faint smile, but "
    "brows barely: part of this expression comes out as shading and colour (measured; README, “LGFA”).",
}


def check_prompt(prompt, world: str = "v2") -> tuple[str, list[str]]:
    """(prompt, notes): the prompt stripped, or InputError when there is nothing to read; `world`, that
    of the animator's generator, says what an expression prompt will show."""
    from lgfa_lite.nets.clip import MAX_PROMPT_CHARS
    from lgfa_lite.synthface.captions import caption_words
    from lgfa_lite.synthface.captions import words as words_of

    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("The sentence is empty: describe a motion, e.g. “The person is smiling.”")
    words = words_of(prompt)
    if not words and any(c.isalpha() for c in prompt):
        raise InputError(
            "The sentence has no English words: the lite text model reads English only (Latin letters). "
            "Describe the motion in English, e.g. “The person turns left.”"
        )
    if not words:
        raise InputError(
            "The sentence has no words (only symbols or emoji): describe a motion in English, "
            "e.g. “The person turns left.”"
        )
    notes = []
    if len(prompt) > MAX_PROMPT_CHARS:
        notes.append(f"The sentence is {len(prompt)} characters long; the text model reads only its beginning.")
    if set(words) & expression_words():
        notes.append(EXPRESSION_NOTES[world])
    unknown = sorted(set(words) - caption_words())
    if unknown:
        notes.append(
            "The lite text model never saw these words in training, so they steer the motion little or "
            "not at all: " + ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else "") + "."
        )
    return prompt.strip(), notes


class Animation(NamedTuple):
    path: Path  # mp4, seeds side by side
    strip: np.ndarray  # the first seed's frames
    notes: list[str]  # shown under the video
    warnings: list[str]  # toasts (values that were clamped)


def animate_prompt(
    face: np.ndarray | None, prompt, frames=16, fps=8, seed=0, schedule="linear", seeds=1, out_dir=None
) -> Animation:
    """Animate `face` (uint8 (64, 64, 3); None = a random identity per seed) with `prompt`."""
    import torch

    from lgfa_lite.methods.lgfa import SCHEDULES
    from lgfa_lite.video import frames_to_strip, write_mp4

    warnings: list[str] = []
    text, notes = check_prompt(prompt, method_world(pipeline))
    n = int_in(frames, "Frames", FRAMES_RANGE, warnings)
    rate = int_in(fps, "FPS", FPS_RANGE, warnings)
    k = int_in(seeds, "Seeds side by side", SEEDS_RANGE, warnings)
    s = int(number(seed, "Seed")) % 2**31
    if schedule not in SCHEDULES:
        raise InputError(f"Schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}.")
    pipe = pipeline()
    image = face_batch(face) if face is not None else None
    runs = [pipe(image, text, n, s + i, schedule) for i in range(k)]
    video = display(torch.cat(runs, dim=3))  # seeds side by side
    path = write_mp4(video, new_video_path("lgfa", out_dir), fps=rate, min_size=0)
    if face is None:
        notes.append("No face given: each seed animates a random SynthFaces identity.")
    return Animation(path, frames_to_strip(display(runs[0]), per_row=4), notes, warnings)


def warm_up() -> None:
    try:
        pipeline()
    except InputError:
        pass


# ---------------------------------------------------------------- Gradio wiring


def build() -> None:
    import gradio as gr

    from lgfa_lite.methods.lgfa import SCHEDULES

    def guarded_here(fn):
        return guarded(fn, TITLE)

    gr.Markdown(
        "**LGFA** (language-guided face animation): the face is inverted into the lite StyleGAN2's W+ space; "
        "a recurrent latent generator, started from the CLIP codes of the sentence (and the face), walks a "
        "motion path, and two mappers turn it into W+ offsets, one per frame. Frame 0 is the inverted face. "
        "The seed draws the recurrence's start noise: other seeds, other motions for the same sentence. "
        "Lite profile: 64 px, a text model trained on SynthFaces captions only. "
        "What it can show (measured, README): head motions (turns, looks up and down, tilts, nods, shakes), "
        "eyes opening wide and closing, an opening mouth and a faint smile; raised brows and frowns barely "
        "move and come out partly as colour and shading, because the lite generator draws brows only faintly."
    )
    face_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            upload, sample, sample_btn, face_view = face_inputs()
            clear_btn = gr.Button("No face: random identities")
        with gr.Column(scale=1, min_width=280):
            prompt = gr.Textbox(
                value=EXAMPLE_PROMPTS[0], label="Sentence", max_lines=3, placeholder="The person is smiling."
            )
            gr.Examples([[p] for p in EXAMPLE_PROMPTS], inputs=[prompt], label="Example sentences")
            with gr.Row():
                frames = gr.Slider(*FRAMES_RANGE, value=16, step=1, label="Frames")
                fps = gr.Slider(*FPS_RANGE, value=8, step=1, label="FPS")
            with gr.Row():
                seed = gr.Number(value=0, label="Seed", precision=0)
                seeds = gr.Slider(*SEEDS_RANGE, value=1, step=1, label="Seeds side by side")
            schedule = gr.Dropdown(list(SCHEDULES), value="linear", label="Step schedule over frames")
            run_btn = gr.Button("Animate", variant="primary")
        with gr.Column(scale=1, min_width=280):
            video = gr.Video(
                label="Video (mp4)",
                format="mp4",
                interactive=False,
                autoplay=True,
                loop=True,
                height=256,
                buttons=["download"],
            )
            strip = gr.Image(label="Frames", interactive=False, format="png")
            notes = gr.Markdown(label="Notes")

    def _show(face):
        return face, display(face)[0]

    def _from_upload(path):
        if not path:  # the upload was cleared: keep the current face
            return gr.skip(), gr.skip()
        return _show(load_upload(path, TITLE, method_world(pipeline)))

    def _from_sample(n):
        return _show(guarded_here(sample_face)(n, method_world(pipeline)))

    face_out = [face_state, face_view]
    wire_upload(upload, _from_upload, face_out, "lgfa_load_face")
    sample_btn.click(api(_from_sample, ["sample_number"]), sample, face_out, api_name="lgfa_sample_face")
    clear_btn.click(lambda: (None, None), None, face_out, api_name="lgfa_no_face")

    @guarded_here
    def _animate(face, text, n, rate, s, d, k):
        return animate_prompt(face, text, n, rate, s, d, k)

    def _outputs(face, text, n, rate, s, d, k):
        a = _animate(face, text, n, rate, s, d, k)
        return str(a.path), a.strip, "\n\n".join(f"ℹ️ {note}" for note in a.notes)

    inputs = [face_state, prompt, frames, fps, seed, schedule, seeds]
    names = ["face", "sentence", "frames", "fps", "seed", "schedule", "seeds_side_by_side"]
    # the sentence is checked first, in an event without outputs: a bad one gets its message as a
    # toast and the previous video stays on screen (a failing animate would cover it with error badges)
    run_btn.click(
        guarded_here(lambda text: check_prompt(text) and None),
        prompt,
        None,
        api_visibility="private",
        show_progress="hidden",
    ).success(api(_outputs, names), inputs, [video, strip, notes], api_name="lgfa_animate")

    def _example(n, text, s):
        face, view = _from_sample(n)
        return (face, view, *_outputs(face, text, 16, 8, s, "linear", 1))

    gr.Examples(
        examples=EXAMPLES,
        inputs=[sample, prompt, seed],
        outputs=[face_state, face_view, video, strip, notes],
        fn=_example,
        run_on_click=True,
        cache_examples=False,
        label="Examples (sample face + sentence + seed): click one",
    )
