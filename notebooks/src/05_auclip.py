# %% [markdown]
# # 05 · AU-CLIP: an action-unit increment mapped into StyleGAN2's W+
#
# AU-CLIP (Kevinfringe/AU-CLIP) edits a face's expression in the latent space of a frozen StyleGAN2:
# a mapper turns the AU change you ask for, Δau = target − source, into a W+ offset,
# `ŵ = w_src + α · mapper(Δau)` (α = 0.2 in training). It is trained on inverted faces with four
# losses: CLIP (the original's prompt engineering), identity, latent L2 and AU (the AU regressor
# reads the edit). The original normalises Δau so that only its sign reaches the mapper; the
# lite mapper sees Δau's direction and scales its offset by |Δau|, so the magnitude sets the edit's
# strength (the quirk is behind `sign_quirk`, compared below).
#
# This notebook trains a mapper (parameters below; resumes if interrupted), plots its losses,
# shows per-AU edits, magnitude sweeps (fixed vs the original's quirk), an expression-transfer
# grid and an animation. The shipped mapper's generator (SynthFaces v2) draws head pose, eyes and lids,
# an opening mouth and a pucker, but brows and smiles only faintly: expect those AUs to move least.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
steps = 50000  # upper bound on training steps
minutes = 3.0  # wall-time budget; the shipped mapper trained 30 minutes
batch = 8
train_faces = 4096  # SynthFaces training faces whose inversions are the sources and targets
hidden = 128
depth = 4
use_shipped = True  # show the shipped mapper (weights/) rather than the one trained here
n_faces = 4  # held-out faces in the grids
frames = 16  # animation length
out_dir = "out/05_auclip"

# %%
import json

import matplotlib.pyplot as plt
import torch

from lgfa_lite import hub
from lgfa_lite.bench.group_auclip import SCALES
from lgfa_lite.methods import auclip as AC
from lgfa_lite.synthface import AU_INDEX, AU_NAMES
from lgfa_lite.synthface.dataset import images_of, standard_faces
from lgfa_lite.video import frames_to_strip, to_uint8_frames, write_mp4

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)


def show_grid(rows: dict, path: Path, titles=None):
    """rows: {label: (N, 3, H, W) images} -> one figure, a row per label."""
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.5 * n, 1.6 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(imgs):
                ax.imshow(to_uint8_frames(imgs[c : c + 1])[0])
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
            if titles and r == 0:
                ax.set_title(titles[c], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.show()


# %% [markdown]
# ## Train
# Progress is saved to `out_dir/state` every three minutes; run the cell again to resume.

# %%
config = AC.AUCLIPConfig(
    steps=steps,
    minutes=minutes,
    batch=batch,
    train_faces=train_faces,
    hidden=hidden,
    depth=depth,
    log_every=max(1, min(25, steps // 4)),
    work_dir=str(out / "state"),
    out_dir=str(out / "mapper"),
)
pipe_trained, history = AC.train(config)
print(f"{len(history)} log rows; last: {json.dumps(history[-1] if history else {}, indent=1)}")

# %% [markdown]
# ## Loss curves
# CLIP is 1 − cosine to the two prompts; AU is the L1 of the regressor's reading to the target's.

# %%
keys = ["clip", "identity", "latent", "au"]
fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.4))
for ax, k in zip(axes, keys):
    rows = [h for h in history if k in h]
    ax.plot([h["step"] for h in rows], [h[k] for h in rows])
    ax.set_title(k, fontsize=9)
fig.tight_layout()
fig.savefig(out / "losses.png", dpi=90)
plt.show()

# %% [markdown]
# ## Per-AU edits: one AU raised by 0.8 from the face's own reading

# %%
torch.set_grad_enabled(False)
pipe = AC.load() if use_shipped and (hub.default_weights_dir() / AC.WEIGHTS).is_dir() else pipe_trained
print("showing", "the shipped mapper" if pipe is not pipe_trained else "the mapper trained above")
test = standard_faces("test", 64, world=pipe.world)  # the faces its generator learnt
x = images_of(test, slice(0, n_faces))
face = x[:1]
shown = ["AU26", "AU25", "AU45", "AU46", "AU05", "AU12", "AU01", "AU04"]
delta = torch.zeros(len(shown), len(AU_NAMES))
for r, name in enumerate(shown):
    delta[r, AU_INDEX[name]] = 0.8
w = pipe.invert(face).expand(len(shown), -1, -1)
edit = pipe(w=w, delta=delta)
cols = [AU_INDEX[a] for a in shown]
gain = (pipe.read_aus(edit.image) - pipe.read_aus(edit.reconstruction))[torch.arange(len(shown)), cols]
show_grid({"reconstruction": edit.reconstruction[:1], "edit": edit.image}, out / "per_au.png", titles=shown)
print("AU reading gained (asked +0.8):", {a: round(float(g), 3) for a, g in zip(shown, gain)})

# %% [markdown]
# ## Magnitude sweeps: Δau scaled by k, the fixed mapper vs the original's sign quirk
# The quirk row uses the same weights with the original's normalisation: every k > 0 gives the
# same edit, so the AU magnitude a user sets has no effect.

# %%
quirk = AC.AUCLIPPipeline(pipe.mapper.with_sign_quirk(), pipe.nets, pipe.alpha)
ks = [0.0, *SCALES]
target = torch.zeros(len(AU_NAMES))
target[[AU_INDEX["AU25"], AU_INDEX["AU26"]]] = 0.9
w1, _, d1 = pipe.source(face, target)
rows, curves = {}, {}
for name, p in (("fixed", pipe), ("original quirk", quirk)):
    imgs = torch.cat([p(w=w1, delta=k * d1).image for k in ks])
    rows[name] = imgs
    reads = p.read_aus(imgs)
    curves[name] = (((reads - reads[:1]) * d1).sum(1) / d1.norm()).tolist()
show_grid(rows, out / "magnitude.png", titles=[f"k={k}" for k in ks])
for name, ys in curves.items():
    plt.plot(ks, ys, marker="o", label=name)
plt.xlabel("Δau scale k")
plt.ylabel("AU change along Δau")
plt.legend()
plt.savefig(out / "magnitude_curve.png", dpi=90)
plt.show()

# %% [markdown]
# ## Expression transfer: each row's face with each column's reference expression

# %%
refs = images_of(test, slice(n_faces, 2 * n_faces))
grid = {"reference": refs}
for i in range(len(x)):
    grid[f"face {i}"] = torch.cat([pipe.transfer(x[i : i + 1], refs[j : j + 1]).image for j in range(len(refs))])
show_grid(grid, out / "transfer.png")

# %% [markdown]
# ## Animation: the mouth opening, by scaling Δau over the frames

# %%
video = pipe.animate(face, target, frames=frames, mode="delta", alpha=0.3)
path = write_mp4(to_uint8_frames(video), out / "animation.mp4", fps=8)
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(to_uint8_frames(video), max_frames=8))
plt.axis("off")
plt.show()
print("video:", path)
