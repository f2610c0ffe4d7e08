# %% [markdown]
# # 03 · StyleGAN2 facial landmark projection
#
# After lukasuz/stylegan2-landmark-projection: optimise a StyleGAN2 latent code so that the
# generated face has the **look** of one image and the **landmarks** of another:
#
# `loss = λ_look · perceptual(G(w), look) + λ_lm · ‖(H(G(w)) − H_target) ⊙ group weights‖_F (+ noise regularisation)`
#
# with `H` the differentiable heatmaps of the lite FAN and the stylegan2-ada projector's schedule.
# Targets here are 68 points (Gaussian heatmaps rendered at them; no lines drawn on an image).
# Nothing is trained: the shipped lite generator, landmark net and identity net are used frozen.
#
# This notebook: one projection with its loss curves; the effect of the group weights (mouth only
# vs uniform, as in the original README); an animation driven by the landmarks of a SynthFaces
# motion, with and without One-Euro smoothing of the landmark track.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
steps = 300  # optimisation steps of one projection (and of an animation's first frame)
later_steps = 50  # per later animation frame
look_index = 0  # held-out SynthFaces test faces: the look ...
landmark_index = 1  # ... and the landmarks (another identity, another expression)
motion = "open mouth"  # the driving motion of the animation (a SynthFaces motion name)
frames = 12
out_dir = "out/03_landmark_projection"

# %%
import matplotlib.pyplot as plt
import torch

from lgfa_lite.bench.group_projection import jitter, nme
from lgfa_lite.figures import show_row
from lgfa_lite.methods import projection as P
from lgfa_lite.synthface import FaceParams, draw_landmarks, motion_clip, render
from lgfa_lite.synthface.dataset import images_of, standard_faces
from lgfa_lite.video import frames_to_strip, to_uint8_frames, upscale_frames, write_mp4

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
pipe = P.load()
faces = standard_faces("test", 64, world=pipe.world)  # the faces its generator learnt
look = images_of(faces, slice(look_index, look_index + 1))
target = faces["landmarks"][landmark_index : landmark_index + 1].float()
landmark_face = images_of(faces, slice(landmark_index, landmark_index + 1))


def with_points(image, *point_sets):
    """A 64 px face upscaled 4x with landmark sets drawn on it (the first grey, the last coloured)."""
    big = upscale_frames(to_uint8_frames(image), min_size=256)[0]
    for i, pts in enumerate(point_sets):
        grey = i < len(point_sets) - 1
        big = draw_landmarks(big, pts.reshape(68, 2) * 4, visibility=torch.zeros(68, dtype=bool) if grey else None)
    return big


# %% [markdown]
# ## One projection and its loss curves
# The landmark term falls first; the look term rises a little as the face leaves the mean face and
# then falls while the learning rate ramps down.

# %%
result = pipe.project(look, target, steps=steps)
print(f"{len(result.history)} steps in {result.seconds:.1f} s")
before = float(nme(pipe.fan(look), target)[0])
print(f"landmark NME: result {float(nme(result.landmarks, target)[0]):.3f}, the look image itself {before:.3f}")
keys = ["total", "look", "landmarks", "noise"]
fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.4))
for ax, k in zip(axes, keys):
    ax.plot([h["step"] for h in result.history], [h[k] for h in result.history])
    ax.set_title(k, fontsize=9)
    ax.set_yscale("log")
fig.tight_layout()
fig.savefig(out / "losses.png", dpi=90)
plt.show()
show_row(
    [with_points(look), with_points(landmark_face, target), with_points(result.image, target, result.landmarks)],
    ["look", "landmark source", "result (grey: target)"],
    path=out / "projection.png",
    scale=2.5,
)

# %% [markdown]
# ## Where the error goes: mouth only vs uniform group weights
# The original README shows a projection with almost no weight on the eyes and a strong focus on the
# mouth, next to uniform weights. Per landmark group, the error (NME) of each:

# %%
uniform = {g: 1.0 for g in P.GROUPS}
mouth_only = {g: (5.0 if g in ("outer_lip", "inner_lip") else 0.0) for g in P.GROUPS}
runs = {
    name: pipe.project(look, target, steps=steps, group_weights=w)
    for name, w in (("uniform", uniform), ("mouth only", mouth_only))
}
print(f"{'group':8s}" + "".join(f"{name:>12s}" for name in runs))
for group, idx in P.REPORT_GROUPS.items():
    print(f"{group:8s}" + "".join(f"{float(nme(r.landmarks, target, list(idx))[0]):12.3f}" for r in runs.values()))
show_row(
    [with_points(r.image, target, r.landmarks) for r in runs.values()],
    list(runs),
    path=out / "group_weights.png",
    scale=2.5,
)

# %% [markdown]
# ## Animation from a motion
# The landmarks of a SynthFaces motion of the landmark person, read from its rendered frames by the
# lite FAN (as a detector would read a driving video, with its jitter), drive the look. W+ per
# frame, warm-started from the previous frame, noise frozen after frame 0. With and without
# One-Euro smoothing of the landmark track; `jitter` = mean frame-to-frame landmark acceleration /
# inter-ocular distance.

# %%
person = FaceParams.identity(int(faces["identity"][landmark_index]))
clip, caption = motion_clip(person, motion, frames)
with torch.no_grad():
    driving = render(clip, 64, world=pipe.world)
    detected = pipe.fan(driving.image)
anims = {}
for smooth in (True, False):
    anims[smooth] = pipe.animate(look, detected, steps=steps, later_steps=later_steps, smooth=smooth)
    a = anims[smooth]
    error = float(nme(a.landmarks, driving.landmarks).mean())
    print(
        f"smoothed={smooth}: {a.seconds / frames:.2f} s per frame, NME {error:.3f}, "
        f"jitter {jitter(a.landmarks):.4f} (targets {jitter(a.targets):.4f})"
    )
a = anims[True]
path = write_mp4(torch.cat([driving.image, a.frames], 3), out / "animation.mp4", fps=8)
print(caption, "->", path)
plt.figure(figsize=(12, 3))
plt.imshow(frames_to_strip(upscale_frames(to_uint8_frames(torch.cat([driving.image, a.frames], 2)), min_size=128)))
plt.axis("off")
plt.title("driving motion (top) and the projection (bottom)", fontsize=9)
plt.savefig(out / "animation_strip.png", dpi=90)
plt.show()
