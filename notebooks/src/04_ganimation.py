# %% [markdown]
# # 04 · GANimation: AU-conditioned expression editing
#
# GANimation (Pumarola et al., 2018) edits a face toward a target vector of action-unit (AU)
# intensities. Its generator paints a colour image **C** and an attention mask **A**, and keeps
# the input where A is 1: `out = A * input + (1 - A) * C`. A critic with a PatchGAN head and an
# AU-regression head trains it, unpaired, with WGAN-GP, AU, cycle and attention losses.
#
# This notebook trains the lite generator on SynthFaces (parameters below; resumes if
# interrupted), plots its losses and mask statistics, shows masks and per-AU sweeps on
# held-out faces, scores edits against the paired ground truth SynthFaces can render, and
# animates a face with the AUs of a SynthFaces motion video read by the lite AU regressor.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
steps = 2000  # upper bound on training steps (critic steps; G steps every n_critic)
minutes = 5.0  # wall-time budget; training stops at `steps` or here, whichever comes first
batch = 16
resolution = 64  # SynthFaces render size (the shipped generator is 64 px)
n_critic = 5
conv_dim = 16  # generator width (the original: 64)
repeat_num = 4  # generator residual blocks (the original: 6)
train_size = 16384
test_size = 64  # held-out faces to score and show
use_shipped = True  # show the shipped generator (weights/) next to the one trained here
out_dir = "out/04_ganimation"

# %%
import json

import matplotlib.pyplot as plt
import torch

from lgfa_lite import hub
from lgfa_lite.bench.group_ganimation import psnr
from lgfa_lite.methods import ganimation as GA
from lgfa_lite.synthface import AU_NAMES, FaceParams, SynthFaceClips, render
from lgfa_lite.synthface.dataset import images_of, standard_faces
from lgfa_lite.video import frames_to_strip, to_uint8_frames, write_mp4

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Train
# Progress is saved to `out_dir/state` every three minutes; run the cell again to resume.

# %%
config = GA.GANimationConfig(
    steps=steps,
    minutes=minutes,
    batch=batch,
    resolution=resolution,
    n_critic=n_critic,
    conv_dim=conv_dim,
    repeat_num=repeat_num,
    train_size=train_size,
    work_dir=str(out / "state"),
    out_dir=str(out / "generator"),
)
pipe_trained, history = GA.train(config)
print(f"{len(history)} log rows; last: {json.dumps(history[-1] if history else {}, indent=1)}")

# %% [markdown]
# ## Loss curves and the attention mask
# `mask_mean` near 1 means the generator stopped editing (the most reported failure); near 0,
# it redraws the whole face. Training logs a warning when it stays saturated.

# %%
keys = ["d_wgan", "gp", "d_au", "g_adv", "g_au", "cycle", "mask_mean"]
fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.4))
for ax, k in zip(axes, keys):
    rows = [h for h in history if k in h]
    ax.plot([h["step"] for h in rows], [h[k] for h in rows])
    ax.set_title(k, fontsize=9)
fig.tight_layout()
fig.savefig(out / "losses.png", dpi=90)
plt.show()
print(
    "saturation check:",
    GA.mask_saturated(history[-1]["mask_mean"])
    if history and "mask_mean" in history[-1]
    else "no generator step logged yet",
)

# %% [markdown]
# ## Edits of held-out faces: input, target ground truth, output, A and C

# %%
torch.set_grad_enabled(False)
pipe = GA.load() if use_shipped and (hub.default_weights_dir() / GA.WEIGHTS).is_dir() else pipe_trained
print("showing", "the shipped generator" if pipe is not pipe_trained else "the generator trained above")
test = standard_faces("test", 2 * test_size, resolution)
n = test_size
x = images_of(test, slice(0, n))
target = test["aus"][n : 2 * n].float()
params = FaceParams.from_data(test, slice(0, n))
gt = render(params.replace(aus=target), resolution).image
y, A, C = pipe(x, target)
print(
    f"PSNR vs ground truth: edit {float(psnr(y, gt).mean()):.2f} dB, no edit {float(psnr(x, gt).mean()):.2f} dB; "
    f"mask mean {float(A.mean()):.3f}"
)
show = min(6, n)
rows = {
    "input": x[:show],
    "ground truth": gt[:show],
    "output": y[:show],
    "A (white = kept)": A[:show].expand(-1, 3, -1, -1),
    "C": C[:show],
}
fig, axes = plt.subplots(len(rows), show, figsize=(1.6 * show, 1.7 * len(rows)))
for r, (name, imgs) in enumerate(rows.items()):
    for c, img in enumerate(to_uint8_frames(imgs)):
        ax = axes[r, c] if show > 1 else axes[r]
        ax.imshow(img)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(name, fontsize=8)
fig.tight_layout()
fig.savefig(out / "edits.png", dpi=90)
plt.show()

# %% [markdown]
# ## Per-AU sweeps: one AU from 0 to 1, the others at 0

# %%
face = x[:1]
levels = torch.linspace(0, 1, 5)
sweep_aus = ["AU12", "AU26", "AU45", "AU04", "AU01"]
fig, axes = plt.subplots(len(sweep_aus), len(levels), figsize=(1.5 * len(levels), 1.6 * len(sweep_aus)))
for r, name in enumerate(sweep_aus):
    aus = torch.zeros(len(levels), len(AU_NAMES))
    aus[:, AU_NAMES.index(name)] = levels
    frames = pipe.animate(face, aus)
    for c, img in enumerate(to_uint8_frames(frames)):
        axes[r, c].imshow(img)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
        axes[r, c].set_title(f"{name} {float(levels[c]):.2f}", fontsize=7)
fig.tight_layout()
fig.savefig(out / "sweeps.png", dpi=90)
plt.show()

# %% [markdown]
# ## Animation driven by a SynthFaces motion video
# The lite AU regressor reads the AUs of every frame of a driving clip (another identity);
# the generator applies them, frame by frame, to our face.

# %%
clip = SynthFaceClips("test", size=1, frames=16, resolution=resolution, motions=["smile"])[0]
try:
    regressor = hub.load("au-synthfaces-64")
    driving = GA.aus_from_video(regressor, clip["video"])
    print("AUs read by the lite AU regressor")
except hub.CheckpointError:
    driving = clip["aus"].float()
    print("AU regressor not shipped: using the clip's ground-truth AUs")
animated = pipe.animate(face, driving)
path = write_mp4(to_uint8_frames(torch.cat([clip["video"], animated], -1)), out / "driven.mp4", fps=8)
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(to_uint8_frames(animated), max_frames=8))
plt.axis("off")
plt.show()
print("video:", path)
