# %% [markdown]
# # 00 · SynthFaces tour
#
# SynthFaces is lgfa-lite's procedural face world: a 3D morphable head rendered in
# PyTorch, where every image comes with exact ground truth (identity, 68 landmarks,
# FACS action units, jaw and head pose, camera, caption). It is the training data of every
# lite checkpoint and the benchmark of every method.
#
# This notebook tours it: identities, one sweep per action unit, v1 against v2 (how legible
# each action unit is to a 64 px model), pose sweeps, a captioned motion clip, and landmark
# overlays. It runs on a CPU in a minute; in Colab the first cell
# installs the package.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
resolution = 64  # render size in pixels: 64, 128 or 256
n_identities = 8  # faces in the identity grid
sweep_steps = 5  # intensity / angle steps per sweep
frames = 16  # frames of the motion clip
fps = 10  # frames per second of the motion clip
seed = 0  # identity seed of the face used in the sweeps
world = "v2"  # SynthFaces world: "v2" (legible expressions, face-aligned crop) or "v1"
legibility_identities = 16  # test identities in the v1 vs v2 legibility count (the benchmark uses 64)
out_dir = "out/00_synthfaces"  # where figures and the video are written

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Video, display

from lgfa_lite.synthface import (
    AU_DESCRIPTIONS,
    AU_NAMES,
    MOTIONS,
    POSE_LIMITS,
    FaceParams,
    Renderer,
    caption,
    draw_landmarks,
    motion_clip,
)
from lgfa_lite.video import frames_to_strip, to_uint8_frames, write_mp4

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
renderer = Renderer(resolution=resolution, world=world)
torch.set_grad_enabled(False)


def show_grid(images, row_labels=(), col_labels=(), title="", name=None):
    """Show uint8 images (rows, cols, H, W, 3) as one mosaic with labelled rows/columns."""
    images = np.asarray(images)
    r, c, h, w, _ = images.shape
    mosaic = images.transpose(0, 2, 1, 3, 4).reshape(r * h, c * w, 3)
    fig, ax = plt.subplots(figsize=(min(1.3 * c + 2, 16), min(1.3 * r + 0.8, 40)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([w * (j + 0.5) for j in range(c)] if col_labels else [])
    ax.set_xticklabels(list(col_labels), fontsize=8)
    ax.set_yticks([h * (i + 0.5) for i in range(r)] if row_labels else [])
    ax.set_yticklabels(list(row_labels), fontsize=8)
    ax.tick_params(length=0)
    ax.set_title(title)
    fig.tight_layout()
    if name:
        fig.savefig(out / f"{name}.png", dpi=100)
    plt.show()


def render_u8(params):
    """Render FaceParams -> (uint8 images (B,H,W,3), render output)."""
    o = renderer(params)
    return to_uint8_frames(o.image), o


# %% [markdown]
# ## Identities
# Each seed gives one identity (shape and appearance), shown here with a neutral
# expression and a frontal pose.

# %%
faces = np.concatenate([render_u8(FaceParams.identity(seed + i, batch=1))[0] for i in range(n_identities)])
show_grid(
    faces[None], col_labels=[f"seed {seed + i}" for i in range(n_identities)], title="Identities", name="identities"
)

# %% [markdown]
# ## Action units
# One row per FACS action unit, intensity from 0 to 1 left to right, everything else neutral.

# %%
levels = torch.linspace(0, 1, sweep_steps)
n_au = len(AU_NAMES)
batch = FaceParams.identity(seed, batch=n_au * sweep_steps)
aus = torch.zeros(n_au, sweep_steps, n_au)
for i in range(n_au):
    aus[i, :, i] = levels
au_images, _ = render_u8(batch.replace(aus=aus.reshape(-1, n_au).to(batch.aus.dtype)))
show_grid(
    au_images.reshape(n_au, sweep_steps, *au_images.shape[1:]),
    row_labels=[f"{n} {AU_DESCRIPTIONS.get(n, '')}" for n in AU_NAMES],
    col_labels=[f"{v:.2f}" for v in levels.tolist()],
    title=f"Action-unit sweeps (seed {seed}, world {world})",
    name="au_sweeps",
)

# %% [markdown]
# ## World v1 against v2
# v1 drew most action units with 8-46 changed pixels at 64 px, too few for the 64 px lite models
# to learn. v2 frames every face by the crop of its own landmarks (`align_crop`: eyes and mouth
# at fixed places, brows to chin filling the frame) and draws each action unit a few times
# larger. Each AU at 1 on the same face, both worlds at 64 px, and the number of pixels that
# change by more than 0.1 (mean over held-out identities; `bench synthface` keys
# `legibility_pixels_*`).

# %%
from lgfa_lite.bench.group_synthface import legibility

face = FaceParams.identity(seed, batch=n_au + 1)
one_au = torch.cat([torch.zeros(1, n_au), torch.eye(n_au)]).to(face.aus.dtype)
rows = [to_uint8_frames(Renderer(64, world=w)(face.replace(aus=one_au)).image) for w in ("v1", "v2")]
show_grid(
    np.stack(rows),
    row_labels=["v1", "v2"],
    col_labels=["none", *AU_NAMES],
    title="Each action unit at 1, 64 px",
    name="au_v1_vs_v2",
)
counts = {w: legibility(w, legibility_identities) for w in ("v1", "v2")}
fig, ax = plt.subplots(figsize=(10, 3))
x = np.arange(n_au)
for k, w in enumerate(("v1", "v2")):
    ax.bar(x + 0.4 * k, [counts[w][f"legibility_pixels_{n}"] for n in AU_NAMES], 0.4, label=w)
ax.axhline(60, color="k", lw=0.8, ls="--", label="target 60")
ax.set_xticks(x + 0.2)
ax.set_xticklabels(AU_NAMES, fontsize=8)
ax.set_ylabel("pixels changed > 0.1")
ax.legend()
fig.savefig(out / "legibility.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## Head pose and jaw
# Yaw, pitch and roll across their full range (`POSE_LIMITS`), and the jaw opening.

# %%
fractions = torch.linspace(-1, 1, sweep_steps)
rows, labels = [], []
for k, name in enumerate(["yaw", "pitch", "roll"]):
    b = FaceParams.identity(seed, batch=sweep_steps)
    pose = torch.zeros_like(b.pose)
    pose[:, k] = fractions * POSE_LIMITS[name]
    rows.append(render_u8(b.replace(pose=pose))[0])
    labels.append(f"{name} (±{POSE_LIMITS[name]:g}°)")
b = FaceParams.identity(seed, batch=sweep_steps)
jaw = torch.zeros_like(b.jaw)
jaw[:, 0] = (fractions + 1) / 2 * POSE_LIMITS["jaw"]  # opening: 0 .. limit
rows.append(render_u8(b.replace(jaw=jaw))[0])
labels.append(f"jaw (0..{POSE_LIMITS['jaw']:g}°)")
show_grid(
    np.stack(rows),
    row_labels=labels,
    col_labels=[f"{f:+.2f}" for f in fractions.tolist()],
    title="Pose sweeps: fraction of the limit (jaw: 0 .. limit)",
    name="pose_sweeps",
)

# %% [markdown]
# ## A captioned motion
# Motion programs animate a face and describe what it does. Available motions:

# %%
print(", ".join(MOTIONS))
program = [m for m in ("smile", "turn left") if m in MOTIONS] or list(MOTIONS)[:2]
seq, text = motion_clip(FaceParams.identity(seed, batch=1), program, frames=frames)
clip, _ = render_u8(seq)
video_path = write_mp4(clip, out / "motion.mp4", fps=fps)
print(text, "->", video_path)
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(clip, max_frames=8), interpolation="nearest")
plt.axis("off")
plt.title(text)
plt.show()
display(Video(str(video_path), embed=True, mimetype="video/mp4", html_attributes="controls loop autoplay muted"))

# %% [markdown]
# ## Landmarks and captions
# Random faces (identity, expression and pose sampled together) with their 68 ground-truth
# landmarks (iBUG order) and captions.

# %%
sample = FaceParams.sample(n_identities, seed=seed)
imgs, o = render_u8(sample)
lms, vis = o.landmarks.numpy(), o.visibility.numpy()
overlaid = np.stack([draw_landmarks(im, lm, v) for im, lm, v in zip(imgs, lms, vis)])
caps = caption(sample)
show_grid(overlaid[None], col_labels=[str(i) for i in range(n_identities)], title="68 landmarks", name="landmarks")
for i, c in enumerate(caps):
    print(f"{i}: {c}")

# %%
print("written:", *sorted(str(p) for p in out.iterdir()), sep="\n  ")
