# %% [markdown]
# # 02 · Train the perception nets
#
# lgfa-lite measures and guides faces with five small networks, each a lite stand-in for a
# pretrained model the methods use: a text-image model (open_clip), a landmark detector
# (face_alignment's FAN), an action-unit regressor, an identity embedding and a 3D fitter.
# All are trained here on SynthFaces, whose renders come with exact ground truth.
#
# This notebook trains one of them (parameter `net`), plots its loss, scores it on held-out
# identities, and shows what all five see on held-out faces: landmark overlays, AU bars,
# identity retrieval, text retrieval and fitted-model overlays. The shipped checkpoints in
# `weights/` are used for the nets it does not train; the one it trains is saved under
# `out_dir` (it does not overwrite `weights/`). Training resumes if interrupted.

# %% include _setup.py

# %% tags=["parameters"]
# Parameters (papermill overrides these; the test suite runs tiny values)
net = "au"  # which net to train: "au", "identity", "fitter", "landmarks" or "clip"
steps = 4000  # upper bound on optimisation steps
minutes = 5.0  # wall-time budget; training stops at `steps` or here, whichever comes first
batch = 32  # images per step (0 = the net's default)
resolution = 64  # SynthFaces render size; the lite nets are trained at 64 px
world = "v2"  # SynthFaces world: "v2" (the default; its nets are *-synthfaces2-64) or "v1"
train_size = 16384  # training renders (rendered once, then cached on disk)
test_size = 256  # held-out renders to score and show
out_dir = "out/02_train_perception"  # the trained checkpoint, its training state and figures

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch

from lgfa_lite import hub
from lgfa_lite.nets.fitter import landmarks_2d
from lgfa_lite.synthface import AU_NAMES, EXPRESSIONS, Renderer, draw_landmarks, expression_sentence
from lgfa_lite.synthface.dataset import images_of, standard_faces
from lgfa_lite.train.perception import NET_WEIGHTS, NETS, PerceptionConfig, evaluate, train, weights_name
from lgfa_lite.video import to_uint8_frames

if net not in NETS:
    raise ValueError(f"net must be one of {sorted(NETS)}, got {net!r}")
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Train
# The first run renders the training faces (a few minutes at 16k faces) and caches them.
# Progress is saved every three minutes to `out_dir/state`; run the cell again to resume.

# %%
config = PerceptionConfig(
    net=net,
    steps=steps,
    batch=batch,
    resolution=resolution,
    minutes=minutes,
    train_size=train_size,
    test_size=test_size,
    synthfaces=world,
    out_dir=str(out / weights_name(net, world)),
    work_dir=str(out / "state"),
)
model, metrics = train(config)
print(json.dumps(metrics, indent=1))

# %% [markdown]
# ## Loss curve

# %%
history = json.loads((out / "state" / "state.json").read_text())["extra"]["history"]
fig, ax = plt.subplots(figsize=(6, 3))
if history:
    ax.plot([h["step"] for h in history], [h["loss"] for h in history])
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title(f"{net}: training loss")
fig.tight_layout()
fig.savefig(out / "loss.png", dpi=100)
plt.show()

# %% [markdown]
# ## All five nets on held-out faces
# The net trained above replaces its shipped checkpoint; the others come from `weights/`
# (a missing checkpoint is skipped with a note).

# %%
torch.set_grad_enabled(False)
test = standard_faces("test", test_size, resolution, world=world)
nets = {}
for name in NET_WEIGHTS:
    try:
        nets[name] = model if name == net else hub.load(weights_name(name, world))
    except hub.CheckpointError as e:
        print(f"{name}: not available ({str(e).splitlines()[0][:120]})")
scores = {name: evaluate(name, m, test) for name, m in nets.items()}
for name, s in scores.items():
    print(f"{name:10s}", ", ".join(f"{k} = {v:.4f}" for k, v in s.items()))
show = list(range(min(6, test_size)))
images = images_of(test, show)
faces_u8 = to_uint8_frames(images)

# %%
if "landmarks" in nets:
    pred = nets["landmarks"](images)
    panels = [draw_landmarks(np.repeat(np.repeat(f, 4, 0), 4, 1), p.numpy() * 4) for f, p in zip(faces_u8, pred)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.4))
    for ax, p in zip(np.atleast_1d(axes), panels):
        ax.imshow(p)
        ax.axis("off")
    fig.suptitle("FAN landmarks (lite) on held-out faces")
    fig.tight_layout()
    fig.savefig(out / "landmarks.png", dpi=100)
    plt.show()

# %%
if "au" in nets:
    pred = nets["au"](images)
    fig, axes = plt.subplots(2, len(show), figsize=(2.4 * len(show), 4.6), gridspec_kw={"height_ratios": [1, 1.4]})
    axes = np.asarray(axes).reshape(2, -1)
    for j, i in enumerate(show):
        axes[0, j].imshow(faces_u8[j])
        axes[0, j].axis("off")
        y = np.arange(len(AU_NAMES))
        axes[1, j].barh(y - 0.2, test["aus"][i].numpy(), 0.4, label="truth", color="0.7")
        axes[1, j].barh(y + 0.2, pred[j].numpy(), 0.4, label="predicted", color="tab:blue")
        axes[1, j].set_yticks(y, AU_NAMES if j == 0 else [""] * len(y), fontsize=6)
        axes[1, j].set_xlim(0, 1)
        axes[1, j].invert_yaxis()
    axes[1, 0].legend(fontsize=6)
    fig.suptitle("AU intensities: ground truth vs the lite regressor")
    fig.tight_layout()
    fig.savefig(out / "au_bars.png", dpi=100)
    plt.show()

# %%
if "identity" in nets:
    emb = torch.cat([nets["identity"](images_of(test, slice(i, i + 64))) for i in range(0, test_size, 64)])
    rows = []
    for i in show[:4]:
        sim = emb @ emb[i]
        sim[i] = -2  # not itself
        top = sim.topk(4).indices.tolist()
        rows.append((i, top, [bool(test["identity"][t] == test["identity"][i]) for t in top]))
    fig, axes = plt.subplots(len(rows), 5, figsize=(8, 1.8 * len(rows)))
    axes = np.asarray(axes).reshape(len(rows), 5)
    for r, (i, top, same) in enumerate(rows):
        axes[r, 0].imshow(to_uint8_frames(images_of(test, [i]))[0])
        axes[r, 0].set_title("query", fontsize=8)
        for c, (t, ok) in enumerate(zip(top, same)):
            axes[r, c + 1].imshow(to_uint8_frames(images_of(test, [t]))[0])
            axes[r, c + 1].set_title(
                "same person" if ok else "other person", fontsize=8, color="green" if ok else "red"
            )
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle("Identity retrieval among held-out faces (nearest embeddings)")
    fig.tight_layout()
    fig.savefig(out / "identity_retrieval.png", dpi=100)
    plt.show()

# %%
if "clip" in nets:
    vocab = list(EXPRESSIONS)
    txt = nets["clip"].encode_text([expression_sentence(e) for e in vocab])
    probs = (nets["clip"].encode_image(images) @ txt.T * 30).softmax(-1)
    fig, axes = plt.subplots(1, len(show), figsize=(2.6 * len(show), 3.2))
    for ax, f, p in zip(np.atleast_1d(axes), faces_u8, probs):
        top = p.topk(3)
        ax.imshow(f)
        ax.axis("off")
        ax.set_title(
            "\n".join(f"{vocab[k]} {v:.2f}" for v, k in zip(top.values.tolist(), top.indices.tolist())), fontsize=7
        )
    fig.suptitle("Lite CLIP: zero-shot expression (top 3)")
    fig.tight_layout()
    fig.savefig(out / "clip_zero_shot.png", dpi=100)
    plt.show()

# %%
if "fitter" in nets:
    fitted = nets["fitter"](images)
    renderer = Renderer(resolution, world=world)
    rendered = renderer(fitted)
    overlay = images * (1 - 0.5 * rendered.mask) + 0.5 * rendered.mask * rendered.image
    pts = landmarks_2d(fitted, resolution, world)
    rows = [
        faces_u8,
        to_uint8_frames(rendered.image),
        np.stack([draw_landmarks(o, p.numpy()) for o, p in zip(to_uint8_frames(overlay), pts)]),
    ]
    fig, axes = plt.subplots(3, len(show), figsize=(2 * len(show), 6.2))
    axes = np.asarray(axes).reshape(3, -1)
    for r, label in enumerate(["input", "fitted model", "overlay + fitted landmarks"]):
        for j in range(len(show)):
            axes[r, j].imshow(rows[r][j])
            axes[r, j].axis("off")
        axes[r, 0].set_title(label, fontsize=8, loc="left")
    fig.suptitle("3D fitter: regressed shape, expression, pose and camera")
    fig.tight_layout()
    fig.savefig(out / "fitter_overlay.png", dpi=100)
    plt.show()
