"""The LGFA training recipe (`lgfa_lite.methods.lgfa.train` runs it).

No videos: each step animates a batch of SynthFaces training faces' inversions, each with a prompt
of its own (`PROMPTS`), over `frames` frames. Losses (`loss_weights`): smoothness, loop and latent on
the W+ path; perceptual on the first and last frames; identity on the last frame (weight 0 in the
original); contrastive CLIP on the last frame (the original's sum over all j), judged by the named
CLIP. Options (`--opts KEY VAL`), off by default:
  schedule: train on an inference schedule;  loss_weights.head_pairs / expression_pairs: follow the
  true W+ paths of the head motions / of the expression motions (encoder inversions of their renders);
  clip_lr: fine-tune a copy of the CLIP text tower;  motion_norm_eps: the text mapper's PixelNorm eps;
  loss_weights.colour: the expressions' colour change;  loss_weights.clip_apex: CLIP on out-and-back
  apex frames;  loss_weights.identity_steps: identity between two consecutive frames;
  init: start from an LGFA checkpoint;  device cuda: train on a GPU.
The checkpoint goes to `out_dir` (default weights/lgfa-synthfaces-64) with its model card.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from lgfa_lite import hub
from lgfa_lite.methods.lgfa import LGFA, PROMPTS, WEIGHTS, Frozen, LGFAConfig, LGFAPipeline
from lgfa_lite.nets.blocks import chroma
from lgfa_lite.synthface.motions import MOTIONS
from lgfa_lite.train.loop import TrainLoop, init_minutes

log = logging.getLogger(__name__)
# Motions of the head alone, and the expressions: the v1 encoder carries only the first into W+; the
# v2 generator and encoder draw and read brows, lids and mouths too (`loss_weights.expression_pairs`).
HEAD_MOTIONS = [name for name, m in MOTIONS.items() if not m.aus and not m.jaw]
EXPRESSION_MOTIONS = [name for name in MOTIONS if name not in HEAD_MOTIONS]
PAIR_MOTIONS = {"head_pairs": HEAD_MOTIONS, "expression_pairs": EXPRESSION_MOTIONS}  # loss weight -> motions


# ----------------------------------------------------------------------------- losses

TAU = 0.07  # the original's CLIP temperature


def contrastive_clip_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, tau: float = TAU, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """mean_i log(1 + sum_j exp((s_ij - s_ii) / tau)), s = cosine(image_i, text_j); `rows`: a mask of
    the i to average over (every j stays a negative)."""
    s = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T
    per_row = torch.log1p(torch.exp((s - s.diag()[:, None]) / tau).sum(1))
    return mean_over(per_row, rows)


def mean_over(values: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of `values` over the rows a mask keeps (all when None); a zero that keeps the graph when it
    keeps none."""
    if rows is None:
        return values.mean()
    return values[rows].mean() if rows.any() else values.sum() * 0


def latent_losses(out: dict, w_inv: torch.Tensor) -> dict:
    txt = out["txt_ws"]
    d = txt[:, 1:] - txt[:, :-1]
    return {
        "smoothness": F.mse_loss(d[:, 1:], d[:, :-1]) if d.shape[1] > 1 else txt.new_zeros(()),
        "loop": F.mse_loss(txt[:, 0], txt[:, -1]),
        # a mean over every element, as the other two terms: summed over the style vector it
        # would grow with style_dim and hold a 10-degree head turn (latent cost 2.6) in place
        "latent": F.mse_loss(out["ws"], w_inv[:, None].expand_as(out["ws"])),
    }


def apex_targets(frames: int, threshold: float = 0.7) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """(sentences, per prompt [(frame, sentence index)]): for the prompts whose motion ends where it
    began (wink, nod, shake head), the still state CLIP should read at the frames near its apex.

    The original guides only the last frame, which cannot show an out-and-back motion; this
    optional term (weight `clip_apex`, 0 = the original) guides those frames with sentences the
    lite CLIP was trained on (a nod's apex is "The person looks down.")."""
    from lgfa_lite.synthface.captions import caption_words, words

    known = caption_words()
    holds = [m for m in MOTIONS.values() if m.envelope == "hold" and set(words(m.verb)) <= known]
    sentences = [f"The person {m.verb}." for m in holds] + ["The person has a neutral expression."]
    u = torch.linspace(0, 1, frames)
    targets = []
    for prompt in PROMPTS:
        m = next((m for m in MOTIONS.values() if prompt == f"The person {m.verb}."), None)
        rows = []
        if m is not None and m.envelope != "hold":
            for k in range(1, frames - 1):
                w = float(m.weight(u[k]))
                if abs(w) < threshold:
                    continue
                if m.aus:
                    sentence = f"The person is {m.gerund}."
                else:  # the hold motion whose head pose points the same way
                    pose = torch.tensor(m.pose) * (1 if w > 0 else -1)
                    best = max(
                        (h for h in holds if any(h.pose)),
                        key=lambda h: float(F.cosine_similarity(pose, torch.tensor(h.pose), 0)),
                    )
                    sentence = f"The person {best.verb}."
                if sentence not in sentences:
                    sentences.append(sentence)
                rows.append((k, sentences.index(sentence)))
        targets.append(rows)
    return sentences, targets


# ----------------------------------------------------------------------------- training


def training_faces(nets: Frozen, n: int, batch: int = 128) -> dict:
    """Inversions and CLIP image embeddings of the first n standard SynthFaces training faces."""
    from lgfa_lite.synthface.dataset import images_of, standard_faces

    faces = standard_faces("train", n, world=nets.generator.world)  # the faces its generator learnt
    images = images_of(faces, slice(0, n))
    with torch.no_grad():
        w = torch.cat([nets.encoder(images[i : i + batch]) for i in range(0, n, batch)])
        v = torch.cat([nets.clip.encode_image(images[i : i + batch]) for i in range(0, n, batch)])
    return {"image": images, "w": w, "v": v}


@torch.no_grad()
def motion_pairs(nets: Frozen, n_train: int, n_faces: int, frames: int, motions=HEAD_MOTIONS) -> dict:
    """Ground-truth motions in W+: each of the first `n_faces` SynthFaces training faces rendered
    along every motion named in `motions` (as `motion_clip` plays it over `frames` frames) and
    inverted by the encoder. -> {"w", "v": (F, L, D) inversions and (F, E) CLIP embeddings of the
    faces, "face", "prompt": (N,) rows of those and of PROMPTS, "frames": (K,) sampled frame
    indices, "delta": (N, K, L, D) each sampled frame's inversion minus frame 0's}."""
    from lgfa_lite.synthface import FaceParams, render
    from lgfa_lite.synthface.dataset import standard_faces
    from lgfa_lite.synthface.motions import motion_clip

    world = nets.generator.world
    faces = standard_faces("train", n_train, world=world)
    ks = sorted({round(u * (frames - 1)) for u in (0.25, 0.5, 0.75, 1.0)} - {0})
    out = {"w": [], "v": [], "face": [], "prompt": [], "delta": []}
    for i in range(min(n_faces, n_train)):
        face = FaceParams.from_data(faces, slice(i, i + 1))
        image = render(face, 64, world=world).image  # every motion's frame 0
        w0 = nets.encoder(image)
        out["w"].append(w0)
        out["v"].append(nets.clip.encode_image(image))
        seqs = [motion_clip(face, name, frames)[0][ks] for name in motions]
        w = nets.encoder(render(FaceParams.cat(seqs), 64, world=world).image)
        out["delta"].append(w.view(len(motions), len(ks), *w.shape[1:]) - w0[:, None])
        out["face"] += [i] * len(motions)
        out["prompt"] += [PROMPTS.index(f"The person {MOTIONS[name].verb}.") for name in motions]
    return {
        "w": torch.cat(out["w"]),
        "v": torch.cat(out["v"]),
        "face": torch.tensor(out["face"]),
        "prompt": torch.tensor(out["prompt"]),
        "frames": torch.tensor(ks),
        "delta": torch.cat(out["delta"]),
    }


def load_init(model: LGFA, name: str) -> None:
    """Start `model` from an LGFA checkpoint; a CLIP the checkpoint lacks, or holds in another
    architecture, keeps its current weights (a first fine-tuning stage from an animator trained on a
    frozen CLIP, or on an earlier CLIP: the animator's own layers still start from the checkpoint)."""
    config, state = hub.load_state(hub.resolve(name))
    if config.get("model_type") != "lgfa-animator":
        raise hub.CheckpointError(f"init {name!r} is a {config.get('model_type')!r} checkpoint, not an LGFA one")
    own = model.state_dict()
    if any(k.startswith("clip.") and (k not in own or own[k].shape != v.shape) for k, v in state.items()):
        # an animator trained with a CLIP of another architecture: its copy cannot serve this run's
        logging.getLogger(__name__).warning(
            "init %s: its CLIP copy has another architecture than this run's CLIP; this run's CLIP is used", name
        )
        state = {k: v for k, v in state.items() if not k.startswith("clip.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    wrong = unexpected + [k for k in missing if not k.startswith("clip.")]
    if wrong:
        raise hub.CheckpointError(f"init {name!r} does not fit this animator: {wrong[:10]}")


def apex_rows(which: torch.Tensor, apex: list, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(batch rows, frames, sentence indices): one random apex frame per out-and-back prompt in the batch."""
    rows = [
        (b, *apex[p][int(torch.randint(len(apex[p]), (1,), generator=generator))])
        for b, p in enumerate(which.tolist())
        if apex[p]
    ]
    return tuple(torch.tensor([r[i] for r in rows], dtype=torch.long) for i in range(3))


def uses_identity(loss_weights: dict) -> bool:
    """Whether these loss weights need the identity net (`Frozen.load(..., identity=True)`)."""
    return loss_weights.get("identity", 0) > 0 or loss_weights.get("identity_steps", 0) > 0


def train(
    config: LGFAConfig, *, nets: Frozen | None = None, data: dict | None = None
) -> tuple[LGFAPipeline, list[dict]]:
    """Train the animator on `config` (resumable) -> (pipeline, history); `lgfa_lite.methods.lgfa.train`
    calls it. `nets`, `data`: the frozen nets and training faces (default: the config's checkpoints and
    `training_faces`)."""
    c, wt = config, config.loss_weights
    torch.manual_seed(c.seed)
    nets = nets or Frozen.load(c.clip, c.generator, c.encoder, identity=uses_identity(wt))
    if uses_identity(wt) and nets.identity is None:
        log.warning(
            "loss_weights.identity / identity_steps are set but the frozen nets have no identity net: "
            "the terms are left out"
        )
    data = data or training_faces(nets, c.train_faces)
    pair_sets = {  # loss name -> true W+ paths of its motions
        key: motion_pairs(nets, c.train_faces, c.pair_faces, c.frames, motions)
        for key, motions in PAIR_MOTIONS.items()
        if wt.get(key, 0) > 0
    }
    G = nets.generator
    model = LGFA(
        data["v"].shape[1],
        G.n_latent,
        G.style_dim,
        c.hidden,
        clip=c.clip,
        generator=c.generator,
        encoder=c.encoder,
        clip_config=nets.clip.config if c.clip_lr > 0 else None,
        motion_norm_eps=c.motion_norm_eps,
    )
    with torch.no_grad():  # the contrastive term's texts: the named CLIP's, never fine-tuned (see `clip_lr`)
        judge_text = nets.clip.encode_text(PROMPTS)
    if model.clip is not None:  # the animator's own copy of the CLIP feeds the recurrence its prompts
        model.clip.load_state_dict(nets.clip.state_dict())
        nets = dataclasses.replace(nets, clip=model.clip)  # the caller's CLIP stays as it was
    if c.init:
        load_init(model, c.init)
    text_params = []
    if model.clip is not None:
        model.clip.requires_grad_(False)
        text_params = [p for n, p in model.clip.named_parameters() if "visual" not in n and "logit_scale" not in n]
        for p in text_params:
            p.requires_grad_(True)
    own = [p for n, p in model.named_parameters() if not n.startswith("clip.")]
    groups = [{"params": own, "lr": c.lr}] + ([{"params": text_params, "lr": c.clip_lr}] if text_params else [])
    opt = torch.optim.Adam(groups, betas=tuple(c.betas))
    loop = TrainLoop(c, {"lgfa": model}, {"lgfa": opt}, device_ready=True)
    for group, asked in zip(opt.param_groups, groups):  # a resumed optimizer brings its saved lrs: the config's win
        group["lr"] = asked["lr"]
    device = loop.device
    nets.to(device)
    data = {k: v.to(device) for k, v in data.items()}
    judge_text = judge_text.to(device)
    pair_sets = {key: {k: v.to(device) for k, v in pairs.items()} for key, pairs in pair_sets.items()}
    head_prompts = pair_sets["head_pairs"]["prompt"].unique() if "head_pairs" in pair_sets else None
    prompt_tokens = nets.clip.tokenize(PROMPTS).to(device)
    with torch.no_grad():
        prompt_emb = nets.clip.encode_text(prompt_tokens)
    apex = [[]] * len(PROMPTS)  # no apex frames unless the term is on
    if wt.get("clip_apex", 0) > 0:
        apex_sentences, apex = apex_targets(c.frames)
        with torch.no_grad():
            apex_emb = F.normalize(nets.clip.encode_text(apex_sentences), dim=-1)
    n = len(data["w"])
    for _ in loop:
        if text_params:  # the text tower trains: every prompt's embedding, with its gradient
            prompt_emb = nets.clip.encode_text(prompt_tokens)
        idx = torch.randint(n, (c.batch,), generator=loop.generator)
        which = torch.randperm(len(PROMPTS), generator=loop.generator)[: c.batch]  # distinct prompts per batch
        idx, which = idx.to(device), which.to(device)
        t, v, w, x = prompt_emb[which], data["v"][idx], data["w"][idx], data["image"][idx]
        # every draw comes from the loop's CPU generator, so a run's batches do not depend on the device
        h0 = 0.01 * torch.randn(c.batch, c.hidden, generator=loop.generator).to(device)
        out = model(w, t, v, c.frames, h0, c.schedule or None)
        logs = latent_losses(out, w)
        # the apex frames are guided like the last frame, so they keep the face as it does
        rows_b, rows_k, rows_j = (r.to(device) for r in apex_rows(which, apex, loop.generator))
        decoded = nets.decode(torch.cat([out["ws"][:, 0], out["ws"][:, -1], out["ws"][rows_b, rows_k]]))
        first, last, apex_frames = decoded[: c.batch], decoded[c.batch : 2 * c.batch], decoded[2 * c.batch :]
        kept = [(first, x), (last, x)] + ([(apex_frames, x[rows_b])] if len(rows_b) else [])
        if nets.perceptual is not None:  # first, last (and apex) frames, each a mean of its own
            logs["perceptual"] = sum(nets.perceptual(a, b).mean() for a, b in kept)
        if nets.identity is not None:
            logs["identity"] = sum((1 - nets.identity.similarity(a, b)).clamp(min=0).mean() for a, b in kept[1:])
        if nets.identity is not None and wt.get("identity_steps", 0) > 0:  # one random step t -> t+1 per clip
            rows = torch.arange(c.batch, device=device)
            k = torch.randint(c.frames - 1, (c.batch,), generator=loop.generator).to(device)
            pair = nets.decode(torch.cat([out["ws"][rows, k], out["ws"][rows, k + 1]]))
            logs["identity_steps"] = (
                (1 - nets.identity.similarity(pair[: c.batch], pair[c.batch :])).clamp(min=0).mean()
            )
        # with head_pairs on, the head-motion prompts follow their true paths: the last-frame CLIP term,
        # which sees neither roll nor a return (its text for "nods" is its text for "looks down"), leaves them
        # (expression prompts keep it beside their paths)
        anchors = ~torch.isin(which, head_prompts) if head_prompts is not None else None
        if wt.get("colour", 0) > 0:  # the expression prompts' colour change, last frame vs first
            logs["colour"] = mean_over((chroma(last) - chroma(first)).abs().flatten(1).mean(1), anchors)
        logs["clip"] = contrastive_clip_loss(nets.clip.encode_image(last), judge_text[which], rows=anchors)
        for key, pairs in pair_sets.items():  # true motions of training faces: their W+ path, frame by frame
            j = torch.randint(len(pairs["face"]), (c.batch,), generator=loop.generator).to(device)
            f = pairs["face"][j]
            moved = model(
                pairs["w"][f], prompt_emb[pairs["prompt"][j]], pairs["v"][f], c.frames, h0, c.schedule or None
            )
            logs[key] = F.mse_loss(moved["txt_ws"][:, pairs["frames"]], pairs["delta"][j])
        if wt.get("clip_apex", 0) > 0:
            logs["clip_apex"] = decoded.new_zeros(())
            if len(rows_b):
                image_emb = F.normalize(nets.clip.encode_image(apex_frames), dim=-1)
                logs["clip_apex"] = F.cross_entropy(image_emb @ apex_emb.T / TAU, rows_j)
        loss = sum(wt.get(k, 0.0) * value for k, value in logs.items())
        loop.step(opt, loss, model, clip=None)
        loop.log(**logs)
    model.cpu()
    if loop.is_main:
        out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / WEIGHTS
        before = init_minutes(c.init)  # an init checkpoint's own training time counts in the total
        hub.save(
            model.eval(),
            out_dir,
            dtype=torch.float16,
            card={
                "name": WEIGHTS,
                "description": "LGFA recurrent latent generator + W+ mappers (lite profile)"
                + (", with its fine-tuned CLIP." if model.clip is not None else "."),
                "task": "text-to-video",
                "metrics": {"train_minutes": round(before + loop.minutes, 1)},
                "training": (
                    f"`python -m lgfa_lite.methods.lgfa train` ({loop.state.step} steps, batch {c.batch}, "
                    f"{c.frames} frames, schedule {c.schedule or 'constant'}, lr {c.lr}, motion_norm_eps "
                    f"{c.motion_norm_eps}, {loop.minutes:.1f} min on {loop.hardware}"
                    + (f", from {c.init} ({before:.1f} min)" if c.init else "")
                    + f") on the inversions of {n} SynthFaces training faces with {len(PROMPTS)} prompts; "
                    f"loss weights {dict(wt)}"
                    + (f"; CLIP text tower lr {c.clip_lr}" if text_params else "")
                    + f"; frozen nets: CLIP {c.clip}, generator {c.generator}, encoder {c.encoder}."
                ),
            },
        )
    # the pipeline animates with the frozen nets (a fine-tuned CLIP is the animator's own), on the CPU
    return LGFAPipeline(model, dataclasses.replace(nets, perceptual=None, identity=None)).to("cpu"), loop.history
