# %% [markdown]
# # 01 · StyleGAN2: train the lite generator and its encoder
#
# Four of the five methods work in the W / W+ space of a frozen StyleGAN2. The lite
# generator is an ordinary StyleGAN2 (mapping network, modulated convolutions, noise inputs)
# at 64 px; what makes an hour on a laptop CPU enough is its teacher: z is the SynthFaces
# parameter vector and the generator learns to draw the render of those parameters (L1, with
# optional perceptual and adversarial terms). The e4e-style encoder then maps any image to W+.
#
# This notebook trains both (parameters below; training resumes if interrupted), shows a
# sample grid, an AU sweep (G next to the renderer, every action unit), a truncation sweep, a
# latent interpolation video, and inversions of held-out faces side by side.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
g_steps = 3000  # upper bound on generator steps
g_minutes = 5.0  # wall-time budget for the generator
e_steps = 1000
e_minutes = 3.0
batch = 32
adv_weight = 0.0  # > 0 adds the discriminator (sharper, about 3x slower per step here)
perceptual_weight = 0.0
use_shipped = True  # show the shipped checkpoints (weights/) instead of the ones trained here
n_test = 8  # held-out faces to invert
out_dir = "out/01_train_stylegan2"

# %%
import json

import matplotlib.pyplot as plt
import torch

from lgfa_lite import hub
from lgfa_lite.bench.group_ganimation import psnr
from lgfa_lite.bench.group_generator import au_change_follows
from lgfa_lite.figures import show_row
from lgfa_lite.nets.blocks import to_unit
from lgfa_lite.nets.encoder import ENCODER_WEIGHTS, invert, load_encoder
from lgfa_lite.nets.stylegan2 import GENERATOR_WEIGHTS, load_generator, params_to_z, sample_z
from lgfa_lite.synthface import AU_NAMES, FaceParams, render
from lgfa_lite.synthface.dataset import identities
from lgfa_lite.train import stylegan2 as SG
from lgfa_lite.video import frames_to_strip, to_uint8_frames, write_mp4

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)


# %% [markdown]
# ## Train the generator
# Progress is saved to `out_dir/g_state` every three minutes; run the cell again to resume.

# %%
g_config = SG.GeneratorConfig(
    steps=g_steps,
    minutes=g_minutes,
    batch=batch,
    adv_weight=adv_weight,
    perceptual_weight=perceptual_weight,
    work_dir=str(out / "g_state"),
    out_dir=str(out / "generator"),
)
G_trained, g_history = SG.train_generator(g_config)
print(f"{len(g_history)} log rows; last: {json.dumps(g_history[-1] if g_history else {}, indent=1)}")
keys = [k for k in ("l1", "perceptual", "g_adv", "d") if any(k in h for h in g_history)]
fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.4), squeeze=False)
for ax, k in zip(axes[0], keys):
    ax.plot([h["step"] for h in g_history if k in h], [h[k] for h in g_history if k in h])
    ax.set_title(k)
fig.tight_layout()
plt.show()

# %%
shipped = use_shipped and (hub.default_weights_dir() / GENERATOR_WEIGHTS).is_dir()
G = load_generator() if shipped else G_trained
G = G.eval().requires_grad_(False)
torch.set_grad_enabled(False)
print("showing", "the shipped generator" if shipped else "the generator trained above")

# %% [markdown]
# ## Samples, and what they were asked to draw
# Top: the generator's samples for random SynthFaces parameters; bottom: the renderer's
# picture of the same parameters.

# %%
p = FaceParams.sample(8, seed=2024)
samples = to_unit(G(params_to_z(p)))
show_row(samples, path=out / "samples.png")
teacher = render(p, G.size, world=G.world).image  # the world G was taught
show_row(teacher, path=out / "teacher.png")
print(f"PSNR of samples vs the renders of their parameters: {float(psnr(samples, teacher).mean()):.2f} dB")

# %% [markdown]
# ## AU sweep: does the generator draw each action unit?
# For a few held-out identities with no expression, each AU of z set to 1 in turn (columns:
# neutral, then the 15 AUs). Per identity, top: the renderer (what z asks for), bottom: G(z).
# Below the grid, per AU, the cosine between G's change and the render's change from the
# neutral face (`au_change_follows`, 64 faces; >= 0.5 counts as followed).

# %%
aus = torch.cat([torch.zeros(1, len(AU_NAMES)), torch.eye(len(AU_NAMES))])  # neutral + one AU each
rows = []
for ident in identities("test", 3):
    sweep = FaceParams.identity(ident, batch=len(aus)).replace(aus=aus)
    rows += [render(sweep, G.size, world=G.world).image, to_unit(G(params_to_z(sweep)))]
grid = torch.cat([torch.cat(list(row), 2) for row in rows], 1)  # (3, rows * H, columns * W)
fig, ax = plt.subplots(figsize=(14, 14 * grid.shape[1] / grid.shape[2] + 0.4))
ax.imshow(grid.permute(1, 2, 0).numpy())
ax.set_xticks([(k + 0.5) * G.size for k in range(len(aus))], ["neutral"] + AU_NAMES, fontsize=7)
ax.set_yticks([(k + 0.5) * G.size for k in range(len(rows))], ["render", "G(z)"] * (len(rows) // 2), fontsize=7)
fig.tight_layout()
fig.savefig(out / "au_sweep.png", dpi=90)
plt.show()
follows = au_change_follows(G, G.world)
print(f"world {G.world}: {follows['au_change_followed']:.0f} of {len(AU_NAMES)} AUs followed")
print("  ".join(f"{a} {follows[f'au_change_cosine_{a}']:.2f}" for a in AU_NAMES))

# %% [markdown]
# ## Truncation sweep: one z pulled toward the average face (w_avg)

# %%
z = sample_z(1, seed=7)
psis = [1.0, 0.75, 0.5, 0.25, 0.0]
show_row(
    torch.cat([to_unit(G(z, truncation=psi)) for psi in psis]),
    [f"psi {psi}" for psi in psis],
    path=out / "truncation.png",
)

# %% [markdown]
# ## Interpolation in W between four faces (a looping video)

# %%
w = G.mapping(sample_z(4, seed=11))
frames = []
for a, b in zip(w, torch.roll(w, -1, 0)):
    for t in torch.linspace(0, 1, 9)[:-1]:
        frames.append(to_unit(G(torch.lerp(a, b, t)[None], input_is="w")))
frames = torch.cat(frames)
video = write_mp4(to_uint8_frames(frames), out / "interpolation.mp4", fps=8)
plt.figure(figsize=(12, 2))
plt.imshow(frames_to_strip(to_uint8_frames(frames), max_frames=8))
plt.axis("off")
plt.show()
print("video:", video)

# %% [markdown]
# ## Train the encoder (e4e-style, image -> W+) for this generator

# %%
with torch.enable_grad():
    e_config = SG.EncoderConfig(
        steps=e_steps, minutes=e_minutes, batch=batch, work_dir=str(out / "e_state"), out_dir=str(out / "encoder")
    )
    E_trained, e_history = SG.train_encoder(e_config, G=G)
print(f"last: {json.dumps(e_history[-1] if e_history else {}, indent=1)}")
shipped_e = shipped and (hub.default_weights_dir() / ENCODER_WEIGHTS).is_dir()
E = load_encoder() if shipped_e else E_trained

# %% [markdown]
# ## Inversion of held-out faces
# Rows: input (test identities, never seen in training), encoder reconstruction, and after
# 20 steps of W+ optimisation.

# %%
faces = render(FaceParams.sample(n_test, seed=99, identities=identities("test", n_test)), G.size, world=G.world).image
recon = to_unit(G.synthesis(invert(G, E, faces)))
refined = to_unit(G.synthesis(invert(G, E, faces, refine_steps=20)))
show_row(faces, path=out / "inputs.png")
show_row(recon, [f"{float(v):.1f} dB" for v in psnr(recon, faces)], path=out / "encoder.png")
show_row(refined, [f"{float(v):.1f} dB" for v in psnr(refined, faces)], path=out / "refined.png")
