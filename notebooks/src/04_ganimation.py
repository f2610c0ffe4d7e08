# %% [markdown]
# # 04 · GANimation: AU-conditioned expression editing
#
# GANimation (Pumarola et al., 2018) edits a face toward a target vector of action-unit (AU)
# intensities. Its generator paints a colour image **C** and an attention mask **A**, and keeps
# the input where A is 1: `out = A * input + (1 - A) * C`. A critic with a PatchGAN head and an
# AU-regression head trains it with WGAN-GP, AU, cycle and attention losses. The original trains
# unpaired (CelebA has no pairs); SynthFaces renders the same face with the target AUs, and the
# lite recipe adds that pair as a term: L1 to the paired ground truth, and the mask pulled
# towards where the pair differs (`loss_weights.paired`, `.paired_mask`; 0 = the original).
#
# This notebook trains the lite generator on SynthFaces (parameters below; resumes if
# interrupted), plots its losses, shows edits with their masks and colour images, an AU-by-AU
# grid next to the ground truth, scores edits against the paired ground truth, and animates a
# face from its own expression to a target and with the AUs of a driving video.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
steps = 2000  # upper bound on training steps (critic steps; G steps every n_critic)
minutes = 5.0  # wall-time budget; training stops at `steps` or here, whichever comes first
batch = 16
resolution = 64  # SynthFaces render size (the shipped generator is 64 px)
synthfaces = "v2"  # the SynthFaces world of the training faces and their pairs
n_critic = 1  # the original: 5
paired = 100.0  # weight of the L1 to the paired ground truth (0 = the original, unpaired recipe)
paired_mask = 10.0  # weight of the attention-mask term
paired_focus = 10.0  # the pixels the pair changes weigh 1 + paired_focus in the paired L1
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
from lgfa_lite.nets import lite_weights
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
    synthfaces=synthfaces,
    n_critic=n_critic,
    loss_weights={**GA.LOSS_WEIGHTS, "paired": paired, "paired_mask": paired_mask, "paired_focus": paired_focus},
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
keys = [
    k
    for k in ("d_wgan", "gp", "d_au", "g_adv", "g_au", "cycle", "paired", "paired_mask", "mask_mean")
    if any(k in h for h in history)
]
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
world = pipe.world  # the world it learnt: its faces, framing and AU regressor
print("showing", "the shipped generator" if pipe is not pipe_trained else "the generator trained above", "on", world)
test = standard_faces("test", 2 * test_size, resolution, world=world)
n = test_size
x = images_of(test, slice(0, n))
target = test["aus"][n : 2 * n].float()
params = FaceParams.from_data(test, slice(0, n))
gt = render(params.replace(aus=target), resolution, world=world).image
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
# ## AU by AU: each AU at 1 (the others at the face's own), ground truth above the edit
# Rows: the paired ground truth (the face rendered with that AU at 1), the edit, and A.

# %%
face_params = params[:1]
own = test["aus"][:1].float()
grid_aus = own.repeat(len(AU_NAMES), 1)
grid_aus[range(len(AU_NAMES)), range(len(AU_NAMES))] = 1.0
truth = render(face_params.repeat(len(AU_NAMES)).replace(aus=grid_aus), resolution, world=world).image
edit = pipe(x[:1].expand(len(AU_NAMES), -1, -1, -1), grid_aus)
grid_rows = {"ground truth": truth, "edit": edit.image, "A": edit.attention.expand(-1, 3, -1, -1)}
fig, axes = plt.subplots(3, len(AU_NAMES), figsize=(1.1 * len(AU_NAMES), 3.6))
for r, (name, imgs) in enumerate(grid_rows.items()):
    for c, img in enumerate(to_uint8_frames(imgs)):
        axes[r, c].imshow(img)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
        if r == 0:
            axes[r, c].set_title(AU_NAMES[c], fontsize=7)
        if c == 0:
            axes[r, c].set_ylabel(name, fontsize=8)
fig.tight_layout()
fig.savefig(out / "au_grid.png", dpi=90)
plt.show()

# %% [markdown]
# ## From the face's own expression to a target
# The lite AU regressor of the generator's world reads the face's AUs; the animation eases
# from them to the "surprised" preset, one edit per frame.

# %%
face = x[:1]
try:
    regressor = hub.load(lite_weights("au-synthfaces-64", world))
    start = regressor(face)[0]
    print("start: the face's AUs as the lite AU regressor reads them")
except hub.CheckpointError:
    regressor, start = None, test["aus"][0].float()
    print("AU regressor not shipped: starting from the face's ground-truth AUs")
frames = pipe.animate(face, GA.interpolate_aus(start, GA.PRESETS["surprised"], 12))
path = write_mp4(to_uint8_frames(frames), out / "to_surprised.mp4", fps=8)
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(to_uint8_frames(frames), max_frames=8))
plt.axis("off")
plt.show()
print("video:", path)

# %% [markdown]
# ## Animation driven by a SynthFaces motion video
# The lite AU regressor reads the AUs of every frame of a driving clip (another identity);
# the generator applies them, frame by frame, to our face.

# %%
clip = SynthFaceClips("test", size=1, frames=16, resolution=resolution, motions=["smile"], world=world)[0]
if regressor is not None:
    driving = GA.aus_from_video(regressor, clip["video"])
    print("AUs read by the lite AU regressor")
else:
    driving = clip["aus"].float()
    print("AU regressor not shipped: using the clip's ground-truth AUs")
animated = pipe.animate(face, driving)
path = write_mp4(to_uint8_frames(torch.cat([clip["video"], animated], -1)), out / "driven.mp4", fps=8)
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(to_uint8_frames(animated), max_frames=8))
plt.axis("off")
plt.show()
print("video:", path)
