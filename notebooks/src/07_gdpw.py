# %% [markdown]
# # 07 · GDPW: geometry-driven progressive warping
#
# One-shot reenactment and 3D-parameter editing. A morphable model is fitted to the source and to
# the driving face; the driving geometry keeps the source's shape and takes the driving
# expression, jaw, pose and camera. The mesh in both poses gives the guidance (a per-vertex flow
# `geom_disp`, a learnable per-vertex code table `neural_codes`, or `both`); the generator warps the
# source's encoder features along it, coarse to fine, with SPADE blocks and a re-predicted flow per
# level, and paints what the warp cannot show.
#
# This notebook trains a generator on SynthFaces pairs (two renders of one identity; parameters
# below, resumes if interrupted), plots its losses, reenacts held-out faces of the same and of
# another identity against the exact ground truth, edits a face by 3D parameters, writes the
# original's preset sweep as an mp4, and reenacts and edits a real photo (`skimage`'s astronaut).

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
steps = 1000  # upper bound on training steps
minutes = 5.0  # wall-time budget; training stops at `steps` or here, whichever comes first
batch = 8
guidance = "neural_codes"  # 'geom_disp', 'neural_codes' or 'both'
n_pairs = 8  # held-out pairs to show and score
sweep_steps = 40  # frames per edit of the preset sweep (the original: 40)
use_shipped = True  # show the shipped generator (weights/) rather than the one trained here
out_dir = "out/07_gdpw"

# %%
import json

import matplotlib.pyplot as plt
import torch

from lgfa_lite import hub
from lgfa_lite.bench.group_gdpw import _pairs
from lgfa_lite.methods import gdpw as GD
from lgfa_lite.video import frames_to_strip, to_uint8_frames, write_mp4

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)


def show(rows, titles, path, scale=1.6):
    """Rows of image batches (each (N, 3, H, W)) as a grid, one title per row."""
    n = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * len(rows)), squeeze=False)
    for i, (row, title) in enumerate(zip(rows, titles)):
        for j in range(n):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(row):
                ax.imshow(row[j].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[i][0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.show()


# %% [markdown]
# ## Train
# Progress is saved to `out_dir/state` every three minutes; run the cell again to resume.

# %%
config = GD.GDPWConfig(
    steps=steps,
    minutes=minutes,
    batch=batch,
    guidance=guidance,
    work_dir=str(out / "state"),
    out_dir=str(out / "generator"),
)
pipe_trained, history = GD.train(config)
print(f"{len(history)} log rows; last: {json.dumps(history[-1] if history else {}, indent=1)}")

# %% [markdown]
# ## Loss curves

# %%
keys = ["l1", "perceptual", "warp", "feature_matching", "g_gan", "d"]
fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.4))
for ax, k in zip(axes, keys):
    rows = [h for h in history if k in h]
    ax.plot([h["step"] for h in rows], [h[k] for h in rows])
    ax.set_title(k, fontsize=9)
fig.tight_layout()
fig.savefig(out / "losses.png", dpi=90)
plt.show()

# %% [markdown]
# ## Reenactment of held-out identities
# Geometry is read from the images by the lite 3D fitter. Rows: source, driving, the source
# warped by the mesh flow alone (the baseline), ours, and the exact ground truth (the source
# identity rendered with the driving expression, pose and camera).

# %%
try:
    pipe = GD.load() if use_shipped else pipe_trained
except hub.CheckpointError:
    pipe = pipe_trained
for kind, cross in (("same identity", False), ("cross identity", True)):
    _, _, src, truth, drv = _pairs(n_pairs, 1 if cross else 0, cross, pipe.world)
    sp, dp = pipe.fit(src), pipe.fit(drv)
    ours = torch.cat([pipe(src[i : i + 1], sp[i], dp[i])[0] for i in range(n_pairs)])
    warped = torch.cat([pipe.mesh_warp(src[i : i + 1], sp[i], dp[i]) for i in range(n_pairs)])
    l1 = {name: float((x - truth).abs().mean()) for name, x in (("source", src), ("mesh warp", warped), ("ours", ours))}
    print(kind, "L1 to ground truth:", {k: round(v, 4) for k, v in l1.items()})
    show(
        [src, drv, warped, ours, truth],
        ["source", "driving", "mesh warp", "ours", "ground truth"],
        out / f"reenact_{'cross' if cross else 'same'}.png",
    )

# %% [markdown]
# ## Editing by 3D parameters
# One face, several edits (each with the others at the source's values), with the shaded mesh
# the guidance comes from.

# %%
source, _, src, _, _ = _pairs(1, 3, False, pipe.world)
params = source  # a SynthFaces face: its exact geometry
edits = {
    "yaw +25": dict(yaw=25),
    "pitch -15": dict(pitch=-15),
    "jaw 15": dict(jaw=15),
    "smile": dict(aus={"AU12": 0.9, "AU06": 0.6}),
    "brows up": dict(aus={"AU01": 0.9, "AU02": 0.9}),
    "jaw_width +2": dict(shape={3: 2.0}),
    "zoom 1.2": dict(camera_scale=1.2),
}
images = [src] + [pipe.edit(src, params, **e) for e in edits.values()]
meshes = GD.shaded_mesh(
    type(params).cat([params] + [GD.edited_params(params, **e) for e in edits.values()]), 64, pipe.world
)
show([torch.cat(images), meshes], ["source, " + ", ".join(edits), "meshes"], out / "edits.png")

# %% [markdown]
# ## The original's preset sweep
# Shape dim 0 to -2 and back, a smile, the jaw to 8 degrees, the head to +-15 degrees of yaw:
# each edit over `sweep_steps` frames, as an mp4.

# %%
sweep = GD.preset_sweep(params, sweep_steps)
frames = pipe.reenact_photo(src, params, sweep)
path = write_mp4(frames, out / "preset_sweep.mp4", fps=25)
print(path, len(frames), "frames")
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(frames, 10))
plt.axis("off")
plt.show()

# %% [markdown]
# ## A real photo
# `skimage.data.astronaut()`: FaceMesh landmarks (mediapipe, offline) -> the morphable model fitted
# to them (`fit_landmarks`) -> a 128 px crop framed as SynthFaces frames its renders. The net runs
# at 64 px; its last flow warps the 128 px photo and its correction is added, so the photo keeps
# its detail. Driven by SynthFaces motions, then edited.

# %%
from skimage import data

from lgfa_lite.synthface import motion_clip

photo, photo_params, notes = pipe.fit_photo(data.astronaut(), 128)
print("notes:", notes, "| fitted yaw/pitch/roll:", [round(float(v), 1) for v in photo_params.pose[0]])
rows, titles = [], []
for motion in ("turn left", "nod", "open mouth", "smile"):
    driving, _ = motion_clip(photo_params, motion, 6)
    rows.append(pipe.reenact_photo(photo, photo_params, driving))
    titles.append(motion)
show(rows, titles, out / "astronaut_motions.png", scale=2.0)
video = torch.cat(rows)
write_mp4(to_uint8_frames(video), out / "astronaut.mp4", fps=12)
photo_edits = [dict(yaw=20), dict(yaw=-20), dict(jaw=12), dict(aus={"AU12": 1.0, "AU06": 0.7}), dict(pitch=12)]
show(
    [torch.cat([photo] + [pipe.edit(photo, photo_params, **e) for e in photo_edits])],
    ["astronaut: source, yaw +20, yaw -20, jaw 12, smile, pitch 12"],
    out / "astronaut_edits.png",
    scale=2.0,
)
