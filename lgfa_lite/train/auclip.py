"""The AU-CLIP training recipe (`lgfa_lite.methods.auclip.train` runs it).

As the original, on latents: the encoder's W+ codes of SynthFaces training faces and the AUs the AU
regressor reads on those faces (the original: e4e codes of CelebA-HQ and GraphAU readings). Each
step pairs random sources i with random targets j, Δau = au_j - au_i, ŵ = w_i + α · mapper(Δau),
and decodes ŵ. With `scale_min` < 1 the increment is only part of the way, Δau = k (au_j - au_i) with
k ~ U(scale_min, 1), and the AU target is au_i + Δau, so a smaller increment must give a weaker edit
(the original: k = 1). Losses (`loss_weights`, the original's weights by default):
  clip      1 - cosine of the edit's CLIP embedding to its two prompts (`prompts`), averaged;
  identity  1 - identity similarity of the edit to the source reconstruction G(w_i);
  latent    mean squared ŵ - w_i;
  au        L1 of the AU regressor's reading of the edit to au_i + Δau (au_j when k = 1).
The mapper goes to `out_dir` (default weights/auclip-synthfaces-64) with its model card.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from lgfa_lite import hub
from lgfa_lite.methods.auclip import WEIGHTS, AUCLIPConfig, AUCLIPPipeline, AUMapper, Frozen, prompts
from lgfa_lite.train.loop import TrainLoop

log = logging.getLogger(__name__)


@torch.no_grad()
def training_latents(nets: Frozen, n: int, style: str = "lite", batch: int = 256) -> dict:
    """The first n standard SynthFaces training faces -> {"w": (n, L, D) encoder codes, "aus": (n, n_aus)
    AU readings, "text": (n, 2, E) CLIP embeddings of each face's two prompts as a target} (`prompts`;
    needs `nets.clip`)."""
    from lgfa_lite.synthface.dataset import images_of, standard_faces

    faces = standard_faces("train", n, world=nets.generator.world)  # the faces its generator learnt
    w, aus = [], []
    for i in range(0, n, batch):
        x = images_of(faces, slice(i, i + batch))
        w.append(nets.encoder(x))
        aus.append(nets.au(x))
    aus = torch.cat(aus)
    pairs = prompts(aus, style)
    unique = sorted({p for pair in pairs for p in pair})
    emb = nets.clip.encode_text(unique)
    index = {p: k for k, p in enumerate(unique)}
    text = emb[torch.tensor([[index[a], index[b]] for a, b in pairs])]
    return {"w": torch.cat(w), "aus": aus, "text": text}


def losses(mapper: AUMapper, nets: Frozen, w, delta, target_aus, text, alpha: float, weights: dict) -> dict:
    """The terms with a weight (`weights`) for sources w (B, L, D), increments delta (B, n_aus), the targets'
    AU readings and prompt embeddings (B, 2, E)."""
    w_hat = w + alpha * mapper(delta)
    edit = nets.decode(w_hat)
    out = {"latent": F.mse_loss(w_hat, w), "au": (nets.au(edit) - target_aus).abs().mean()}
    if weights.get("clip", 0):
        out["clip"] = (1 - (nets.clip.encode_image(edit)[:, None] * text).sum(-1)).mean()
    if weights.get("identity", 0):
        with torch.no_grad():
            source = nets.identity(nets.decode(w))
        out["identity"] = (1 - (nets.identity(edit) * source).sum(-1)).mean()
    return out


def train(config: AUCLIPConfig, *, nets: Frozen | None = None, data: dict | None = None):
    """Train the mapper on `config` (resumable) -> (pipeline, history)."""
    c, wt = config, config.loss_weights
    if not 0 < c.scale_min <= 1:
        raise ValueError(f"scale_min must be in (0, 1], got {c.scale_min}")
    torch.manual_seed(c.seed)
    nets = nets or Frozen.load(c.generator, c.encoder, c.au, c.clip, c.identity)
    data = data or training_latents(nets, c.train_faces, c.prompt_style)
    G = nets.generator
    frozen = {"generator": c.generator, "encoder": c.encoder, "au": c.au}
    linear = c.linear_magnitude and not c.sign_quirk
    mapper = AUMapper(data["aus"].shape[1], G.n_latent, G.style_dim, c.hidden, c.depth, c.sign_quirk, frozen, linear)
    opt = torch.optim.Adam(mapper.parameters(), lr=c.lr, betas=(0.9, 0.999))
    loop = TrainLoop(c, {"mapper": mapper}, {"mapper": opt})
    n = len(data["w"])
    for _ in loop:
        i = torch.randint(n, (c.batch,), generator=loop.generator)
        j = torch.randint(n, (c.batch,), generator=loop.generator)
        # part of the way to j: the AU target au_i + k·Δau asks a weaker edit for a smaller increment
        k = c.scale_min + (1 - c.scale_min) * torch.rand(c.batch, 1, generator=loop.generator)
        delta = k * (data["aus"][j] - data["aus"][i])
        logs = losses(mapper, nets, data["w"][i], delta, data["aus"][i] + delta, data["text"][j], c.alpha, wt)
        loss = sum(wt.get(k, 0.0) * v for k, v in logs.items())
        loop.step(opt, loss, mapper, clip=None)
        loop.log(loss=loss, **logs)
    if loop.is_main:
        out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / WEIGHTS
        hub.save(
            mapper.eval(),
            out_dir,
            card={
                "name": WEIGHTS,
                "description": f"AU-CLIP mapper: AU increment -> W+ offsets of {c.generator} (lite profile)"
                + (", with the original's sign quirk." if c.sign_quirk else ", magnitude-fixed.")
                + (" The offset is linear in |Δau|." if mapper.linear_magnitude else ""),
                "task": "image-to-image",
                "metrics": {"train_minutes": round(loop.minutes, 1)},
                "training": (
                    f"`python -m lgfa_lite.methods.auclip train` ({loop.state.step} steps, batch {c.batch}, "
                    f"Adam lr {c.lr}, alpha {c.alpha}, increments scaled by U({c.scale_min:g}, 1), "
                    f"{loop.minutes:.1f} min on {loop.hardware}) on the encoder "
                    f"codes of {n} SynthFaces training faces, random source/target pairs; loss weights {dict(wt)}; "
                    f"prompts '{c.prompt_style}'; frozen nets: generator {c.generator}, encoder {c.encoder}, AU "
                    f"regressor {c.au}, CLIP {c.clip}, identity {c.identity}."
                ),
            },
        )
    return AUCLIPPipeline(mapper, nets, c.alpha), loop.history
