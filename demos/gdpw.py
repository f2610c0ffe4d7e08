"""Tab "GDPW": reenact a face from a driving video or a SynthFaces motion; edit it by 3D parameters.

Plain Python first (tested in tests/test_demo_gdpw.py): a source (a real photo fitted through
FaceMesh landmarks, or a SynthFaces sample with its exact geometry), edits, reenactment. build()
only wires them to Gradio. GDPW warps the source's own pixels, so a photo keeps its look: sources
are cropped at 128 px (the net runs at 64 px and its flow warps the 128 px face).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from demos.common import (
    InputError,
    api,
    clamped,
    guarded,
    int_in,
    method_pipeline,
    method_world,
    new_video_path,
    photo_upload,
    refused_upload,
    wire_upload,
)

TITLE = "GDPW"
ORDER = 25
SIZE = 128  # the source crop: the net's flow warps it at this size
# Sliders: the original demo's ranges (shape in [-2, 2], angles in degrees), a few named dims each.
SHAPE_DIMS = ["head_width", "jaw_width", "chin_length", "eye_size", "nose_length", "mouth_width"]
EDIT_AUS = ["AU01", "AU04", "AU12", "AU15", "AU25", "AU45"]
POSE = [("yaw", 45), ("pitch", 30), ("roll", 30)]
CAMERA = [("camera_scale", 0.7, 1.3), ("camera_tx", -0.3, 0.3), ("camera_ty", -0.3, 0.3)]
FRAMES_RANGE, FPS_RANGE = (2, 250), (1, 30)
EXAMPLES = [[3, "nod"], [11, "turn left"], [25, "open mouth"], [40, "smile"]]


class Source(NamedTuple):
    face: np.ndarray  # uint8 (SIZE, SIZE, 3)
    params: object  # FaceParams (batch 1): its geometry
    notes: list[str]


def pipeline():
    """The GDPW pipeline (`lgfa_lite.methods.gdpw.load`); a clear message while no checkpoint is shipped."""
    return method_pipeline("gdpw", 40)


def motion_names() -> list[str]:
    from lgfa_lite.synthface import MOTIONS

    return list(MOTIONS)


def _tensor(face: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None].float() / 255


def _uint8(images) -> np.ndarray:
    from lgfa_lite.video import to_uint8_frames

    return to_uint8_frames(images)


def sample_source(seed) -> Source:
    """A SynthFaces test identity at SIZE px, with its exact geometry."""
    import torch

    from lgfa_lite.synthface import FaceParams, identities, render

    try:
        s = int(float(seed))
    except (TypeError, ValueError):
        raise InputError(f"Sample number must be a whole number, not {seed!r}.") from None
    ids = identities("test", 100)
    params = FaceParams.identity(ids[s % len(ids)])
    with torch.no_grad():
        face = render(params, SIZE, world=method_world(pipeline)).image
    return Source(_uint8(face)[0], params, [])


def photo_source(image) -> Source:
    """A real photo: its largest face cropped at SIZE px and the morphable model fitted to its
    FaceMesh landmarks. Clear errors for non-images, broken files, no face."""
    from lgfa_lite.faces import FaceInputError, read_image

    try:
        pixels = read_image(image)  # the upload's own problems first, whatever the checkpoint
        face, params, notes = pipeline().fit_photo(pixels, SIZE)
    except FaceInputError as e:
        raise InputError(str(e)) from None
    return Source(_uint8(face)[0], params, notes + ["Geometry fitted to FaceMesh landmarks of the photo."])


def _check(source: Source | None) -> Source:
    if source is None:
        raise InputError("No source face yet: upload a photo or click “Use sample face”.")
    return source


def slider_values(source: Source) -> list[float]:
    """The source's own values for every edit slider (shape, AUs, jaw, pose, camera), i.e. Reset."""
    from lgfa_lite.synthface import AU_INDEX, SHAPE_NAMES

    p = _check(source).params
    shape = [round(float(p.shape[0, SHAPE_NAMES.index(n)].clamp(-2, 2)), 2) for n in SHAPE_DIMS]
    aus = [round(float(p.aus[0, AU_INDEX[a]]), 2) for a in EDIT_AUS]
    pose = [round(float(p.pose[0, i]), 1) for i in range(3)]
    camera = [round(float(v), 3) for v in p.camera[0]]
    return [*shape, *aus, round(float(p.jaw[0, 0].clamp(0, 25)), 1), *pose, *camera]


class Edited(NamedTuple):
    image: np.ndarray
    mesh_before: np.ndarray
    mesh_after: np.ndarray
    warnings: list[str]


def edit_source(source: Source, values) -> Edited:
    """Apply every slider (see `slider_values`) at once; out-of-range values are clamped and said."""
    import torch

    from lgfa_lite.methods.gdpw import edited_params, shaded_mesh
    from lgfa_lite.synthface import SHAPE_NAMES

    source = _check(source)
    values, warnings = list(values), []
    n = len(SHAPE_DIMS) + len(EDIT_AUS) + 1 + len(POSE) + len(CAMERA)
    if len(values) != n:
        raise InputError(f"Expected {n} edit values, got {len(values)}.")
    shape = {SHAPE_NAMES.index(d): clamped(v, d, -2, 2, warnings) for d, v in zip(SHAPE_DIMS, values)}
    values = values[len(SHAPE_DIMS) :]
    aus = {a: clamped(v, a, 0, 1, warnings) for a, v in zip(EDIT_AUS, values)}
    values = values[len(EDIT_AUS) :]
    edits = {"shape": shape, "aus": aus, "jaw": clamped(values[0], "jaw", 0, 25, warnings)}
    edits.update({name: clamped(v, name, -lim, lim, warnings) for (name, lim), v in zip(POSE, values[1:4])})
    edits.update({name: clamped(v, name, lo, hi, warnings) for (name, lo, hi), v in zip(CAMERA, values[4:7])})
    pipe = pipeline()
    target = edited_params(source.params, **edits)
    with torch.no_grad():
        image = pipe.reenact_photo(_tensor(source.face), source.params, target)
        meshes = shaded_mesh(type(target).cat([source.params, target]), SIZE, pipe.world)
    m = _uint8(meshes)
    return Edited(_uint8(image)[0], m[0], m[1], warnings)


class Reenacted(NamedTuple):
    path: Path
    strip: np.ndarray
    warnings: list[str]


def reenact(source: Source, driving, actor=7, max_frames=50, fps=25, out_dir=None, progress=None) -> Reenacted:
    """Drive the source by a SynthFaces motion name (performed by sample face `actor`: cross-identity)
    or by a driving video (mp4 path or folder of frames). -> mp4 [source | result | driving]."""
    import torch

    from lgfa_lite.methods.gdpw import read_driving, side_by_side
    from lgfa_lite.synthface import MOTIONS, motion_clip, render
    from lgfa_lite.video import frames_to_strip, write_mp4

    source, warnings = _check(source), []
    n = int_in(max_frames, "Frames", FRAMES_RANGE, warnings)
    rate = float(int_in(fps, "FPS", FPS_RANGE, warnings))
    pipe = pipeline()
    say = progress or (lambda *a, **k: None)
    if driving in MOTIONS:
        actor_params = sample_source(actor).params
        driving_params, _ = motion_clip(actor_params, driving, n)
        with torch.no_grad():
            driving_frames = render(driving_params, SIZE, world=pipe.world).image
    else:
        if not driving:
            raise InputError("No driving video: upload one or pick a SynthFaces motion.")
        try:
            frames, rate, notes = read_driving(driving, n)
        except ValueError as e:
            raise InputError(str(e)) from None
        warnings += notes
        say(0.05, desc="Fitting the driving frames")
        try:
            driving_params, notes = pipe.fit_video(frames, SIZE, rate)
        except ValueError as e:
            raise InputError(str(e)) from None
        warnings += notes
        driving_frames = _square(frames)

    def step(done, total):
        say(0.2 + 0.7 * done / total, desc=f"Reenacting frame {done} of {total}")

    result = pipe.reenact_photo(_tensor(source.face), source.params, driving_params, callback=step)
    panel = side_by_side(_tensor(source.face), result, driving_frames)
    path = write_mp4(panel, new_video_path("gdpw", out_dir), fps=rate, min_size=0)
    return Reenacted(path, frames_to_strip(result), warnings)


def _square(frames: np.ndarray):
    """Centre-crop video frames (T, H, W, 3) to squares, as (T, 3, S, S) in [0, 1]."""
    import torch

    h, w = frames.shape[1:3]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    t = torch.from_numpy(np.ascontiguousarray(frames[:, top : top + s, left : left + s])).permute(0, 3, 1, 2)
    return t.float() / 255


def warm_up() -> None:
    try:
        pipeline()
    except InputError:
        pass


# ---------------------------------------------------------------- Gradio wiring


def build() -> None:
    import gradio as gr

    from demos.common import display

    def g(fn):
        return guarded(fn, TITLE)

    gr.Markdown(
        "**GDPW** (geometry-driven progressive warping): a 3D face model is fitted to the source and the "
        "driving face; the driving geometry keeps the source's shape and takes the driving expression, jaw, "
        "pose and camera. The net warps the source's own pixels along the mesh flow, coarse to fine, and "
        "paints what the warp cannot show, so **real photos keep their look** (128 px crops). Photos are "
        "fitted through mediapipe FaceMesh landmarks, offline."
    )
    source_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            upload = photo_upload("Source face photo (upload)")
            with gr.Row():
                sample = gr.Number(value=3, label="Sample face #", precision=0)
                sample_btn = gr.Button("Use sample face")
            source_view = gr.Image(label="Source (128 px crop)", interactive=False, format="png", height=256)
        with gr.Column(scale=2):
            with gr.Tabs():
                with gr.Tab("Edit 3D"):
                    with gr.Row():
                        with gr.Column():
                            shape = [gr.Slider(-2, 2, value=0, step=0.1, label=f"shape: {d}") for d in SHAPE_DIMS]
                            aus = [gr.Slider(0, 1, value=0, step=0.05, label=f"expression: {a}") for a in EDIT_AUS]
                        with gr.Column():
                            jaw = gr.Slider(0, 25, value=0, step=0.5, label="jaw opening (deg)")
                            pose = [gr.Slider(-lim, lim, value=0, step=1, label=f"{n} (deg)") for n, lim in POSE]
                            camera = [  # default: the default camera (scale 1, no shift)
                                gr.Slider(lo, hi, value=(lo + hi) / 2, step=0.01, label=n) for n, lo, hi in CAMERA
                            ]
                            with gr.Row():
                                edit_btn = gr.Button("Apply edits", variant="primary")
                                reset_btn = gr.Button("Reset")
                    with gr.Row():
                        edited = gr.Image(label="Edited", interactive=False, format="png", height=256)
                        mesh_before = gr.Image(label="Mesh before", interactive=False, format="png", height=256)
                        mesh_after = gr.Image(label="Mesh after", interactive=False, format="png", height=256)
                with gr.Tab("Reenact"):
                    with gr.Row():
                        motion = gr.Dropdown(motion_names(), value="nod", label="SynthFaces motion")
                        actor = gr.Number(value=7, label="performed by sample face #", precision=0)
                    driving_video = gr.Video(label="or a driving video (mp4; a face seen from the front)")
                    with gr.Row():
                        frames = gr.Slider(*FRAMES_RANGE, value=50, step=1, label="Max frames")
                        fps = gr.Slider(*FPS_RANGE, value=25, step=1, label="FPS (motions; videos keep theirs)")
                    reenact_btn = gr.Button("Reenact", variant="primary")
                    video = gr.Video(label="[source | result | driving]", interactive=False, autoplay=True, loop=True)
                    strip = gr.Image(label="Frames", interactive=False, format="png")
    sliders = [*shape, *aus, jaw, *pose, *camera]

    def _use(source):
        if source is None:
            return (None, None, *(gr.skip(),) * len(sliders))
        for note in source.notes:
            gr.Info(note)
        return source, display(source.face[None])[0], *slider_values(source)

    def _from_upload(path):
        if not path:
            return (gr.skip(),) * (2 + len(sliders))
        try:
            return _use(g(photo_source)(path))
        except gr.Error as e:
            raise gr.Error(refused_upload(e.message), print_exception=False) from None

    outputs = [source_state, source_view, *sliders]
    # many outputs (every slider): failures show one toast, not a badge on each
    wire_upload(upload, _from_upload, outputs, "gdpw_load_photo")
    sample_btn.click(
        api(lambda n: _use(g(sample_source)(n)), ["sample_number"]),
        sample,
        outputs,
        api_name="gdpw_sample_face",
        show_progress="hidden",
    )
    slider_params = [
        *(f"shape_{d}" for d in SHAPE_DIMS),
        *(f"expression_{a.lower()}" for a in EDIT_AUS),
        "jaw_opening",
        *(n for n, _ in POSE),
        *(n for n, *_ in CAMERA),
    ]

    def _edit(source, *values):
        e = g(edit_source)(source, values)
        return e.image, e.mesh_before, e.mesh_after

    edit_btn.click(
        api(_edit, ["source", *slider_params]),
        [source_state, *sliders],
        [edited, mesh_before, mesh_after],
        api_name="gdpw_edit",
    )

    @g
    def _reset(source):
        return (*slider_values(source), display(_check(source).face[None])[0])

    reset_btn.click(_reset, source_state, [*sliders, edited], api_name="gdpw_reset", show_progress="hidden")

    def _reenact(source, motion_name, actor_n, video_path, n, rate, progress):
        driving = video_path or motion_name
        r = g(reenact)(source, driving, actor_n, n, rate, None, progress)
        return str(r.path), r.strip

    reenact_btn.click(
        api(_reenact, ["source", "motion", "actor_sample_number", "driving_video", "max_frames", "fps"], progress=True),
        [source_state, motion, actor, driving_video, frames, fps],
        [video, strip],
        api_name="gdpw_reenact",
    )

    def _example(n, motion_name):
        source = g(sample_source)(n)
        r = g(reenact)(source, motion_name, 7, 32, 25)
        return (*_use(source), str(r.path), r.strip)

    gr.Examples(
        examples=EXAMPLES,
        inputs=[sample, motion],
        outputs=[*outputs, video, strip],
        fn=_example,
        run_on_click=True,
        cache_examples=False,
        label="Examples (sample face driven by a SynthFaces motion): click one",
    )
