"""Train and evaluate the lite perception nets on SynthFaces.

    python -m lgfa_lite.train.perception train --minutes 10 --opts net au   # or clip, landmarks, identity, fitter
    python -m lgfa_lite.train.perception train --opts net au synthfaces v2 init au-synthfaces-64

`PerceptionConfig` holds every option (`--opts KEY VAL`); `train(config)` runs one net.
Training is resumable: every `save_every_s` seconds the model, optimizer, RNG and step are
written to `work_dir` (safetensors + JSON); the same command continues where it stopped.
At the end the net is scored on held-out test identities (`evaluate`, also used by the
`perception` benchmark) and saved as a Hub-style folder whose model card holds the numbers.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite import hub
from lgfa_lite.nets import lite_weights
from lgfa_lite.nets.au import AURegressor
from lgfa_lite.nets.clip import TextImageModel
from lgfa_lite.nets.fitter import FaceFitter, landmarks_2d, params_from_raw, raw_from_params
from lgfa_lite.nets.identity import IdentityNet
from lgfa_lite.nets.landmarks import LandmarkNet, decode_heatmaps, inter_ocular, target_heatmaps
from lgfa_lite.synthface import AU_NAMES, EXPRESSIONS, FaceParams, expression_name, expression_sentence, visible_aus
from lgfa_lite.synthface.captions import caption_variant
from lgfa_lite.synthface.dataset import TEST_SIZE, TRAIN_SIZE, images_of, load_faces, standard_faces
from lgfa_lite.train.loop import TrainConfig, TrainLoop, cosine_lr, method_cli

# --------------------------------------------------------------------------- evaluation


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    order = torch.argsort(scores)
    ranks = torch.empty_like(scores, dtype=torch.float64)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    # average ranks of ties
    uniq, inv = torch.unique(scores, return_inverse=True)
    if len(uniq) < len(scores):
        sums = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inv, ranks)
        cnt = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inv, torch.ones_like(ranks))
        ranks = (sums / cnt)[inv]
    pos = labels.bool()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def _batched(fn, data, batch=128):
    outs = [fn(images_of(data, slice(i, i + batch))) for i in range(0, len(data["image"]), batch)]
    if isinstance(outs[0], torch.Tensor):
        return torch.cat(outs)
    return outs


@torch.no_grad()
def evaluate(net: str, model: nn.Module, data: dict) -> dict:
    """Held-out metrics of one net (the `perception` benchmark keys)."""
    model.eval()
    if net == "au":
        pred = _batched(model, data)
        return {"au_mae": float((pred - data["aus"]).abs().mean())}
    if net == "identity":
        emb = _batched(model, data)
        sim = emb @ emb.T
        same = data["identity"][:, None] == data["identity"][None, :]
        iu = torch.triu_indices(len(emb), len(emb), 1)
        return {"id_auc": roc_auc(sim[iu[0], iu[1]], same[iu[0], iu[1]])}
    if net == "landmarks":
        pred = _batched(model, data)
        err = (pred - data["landmarks"]).norm(dim=-1).mean(1) / inter_ocular(data["landmarks"])
        return {"fan_nme": float(err.mean())}
    if net == "fitter":
        res = data["image"].shape[-1]
        p = FaceParams.cat(_batched(model, data))
        px = (landmarks_2d(p, res, model.world) - data["landmarks"]).norm(dim=-1).mean()
        return {"fitter_landmark_px": float(px), "fitter_pose_deg": float((p.pose - data["pose"]).abs().mean())}
    if net == "clip":
        return evaluate_clip(model, data)
    raise ValueError(f"unknown net {net!r}")


def expression_classes(aus: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
    """Each face's zero-shot class: the index in EXPRESSIONS of the expression it shows (its AUs
    and its jaw's opening, as its caption names it), -1 for "making a face" (no prompt)."""
    vocab = list(EXPRESSIONS)
    names = map(expression_name, visible_aus(aus.float(), jaw.float()))
    return torch.tensor([vocab.index(n) if n in vocab else -1 for n in names], dtype=torch.long)


@torch.no_grad()
def evaluate_clip(model: TextImageModel, data: dict) -> dict:
    img = _batched(model.encode_image, data)
    classes = expression_classes(data["aus"], data["jaw"])
    keep = (classes >= 0).nonzero().flatten()
    txt = model.encode_text([expression_sentence(e) for e in EXPRESSIONS])
    pred = (img[keep] @ txt.T).argmax(1)
    truth = classes[keep]
    right = pred == truth
    # Faces whose jaw parameter is open (1 in 5, up to 15 degrees) are reported apart as well.
    jaw_closed = data["jaw"][keep, 0] < 1.0
    # image -> text retrieval among 100 test captions (distinct), each image's own among them
    seen, uniq = set(), []
    for i, c in enumerate(data["caption"]):
        if c not in seen:
            seen.add(c)
            uniq.append(i)
        if len(uniq) == 100:
            break
    cap = model.encode_text([data["caption"][i] for i in uniq])
    r1 = (img[uniq] @ cap.T).argmax(1) == torch.arange(len(uniq))
    return {
        "clip_zero_shot_top1": float(right.float().mean()),
        "clip_zero_shot_top1_jaw_closed": float(right[jaw_closed].float().mean()),
        "clip_retrieval_r1": float(r1.float().mean()),
    }


# --------------------------------------------------------------------------- nets


class CosFace(nn.Module):
    """Additive-margin softmax over training identities (the classifier is not shipped)."""

    def __init__(self, dim, n_classes, scale=24.0, margin=0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, emb, labels):
        cos = emb @ F.normalize(self.weight, dim=-1).T
        cos = cos - self.margin * F.one_hot(labels, cos.shape[1])
        return F.cross_entropy(self.scale * cos, labels)


@dataclass
class NetSpec:
    weights: str  # checkpoint folder name in weights/
    build: Callable[[int, int], nn.Module]  # (resolution, width; 0 = the net's default) -> the net
    loss: Callable  # (model, aux, data, idx, rng) -> (loss, logs)
    lr: float
    steps: int
    batch: int
    description: str
    aux: Callable[[nn.Module, dict], nn.Module] | None = None  # trained with the net, not shipped
    batch_indices: Callable[..., torch.Tensor] | None = None  # (data, batch, generator=) -> indices; default uniform


def mirror_faces(images: torch.Tensor, aus: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror half the faces at random: a mirrored face keeps its AUs (SynthFaces AUs act on
    both sides alike), except a wink (AU46 closes the subject's left eye only), never mirrored."""
    mirror = torch.rand(len(images), generator=generator) < 0.5
    mirror &= aus[:, AU_NAMES.index("AU46")] < 0.02
    return torch.where(mirror[:, None, None, None], images.flip(-1), images)


def _au_loss(model, aux, data, idx, rng):
    target = data["aus"][idx]
    images = images_of(data, idx)
    images = mirror_faces(images, target, torch.Generator().manual_seed(rng.getrandbits(62)))
    logits = model.logits(images)
    pred = torch.sigmoid(logits)
    loss = F.binary_cross_entropy_with_logits(logits, target) + (pred - target).abs().mean()
    return loss, {"mae": float((pred.detach() - target).abs().mean())}


def _identity_loss(model, aux, data, idx, rng):
    loss = aux(model(images_of(data, idx)), aux.labels[idx])
    return loss, {}


def _identity_aux(model, data, config):
    ids = data["identity"]
    uniq = torch.unique(ids)
    head = CosFace(model.config["dim"], len(uniq))
    head.labels = torch.searchsorted(uniq, ids)
    return head


def _landmark_loss(model, aux, data, idx, rng):
    images, target = images_of(data, idx), data["landmarks"][idx]
    outs = model.fan(images)  # the lite net sees its training images at input_size
    size = outs[-1].shape[-1]
    hm_target = target_heatmaps(target * (model.input_size / images.shape[-1]), size, model.stride)
    loss = sum(F.mse_loss(o, hm_target) for o in outs) * 100
    pts = decode_heatmaps(outs[-1]) * model.stride
    coord = (pts - target).abs().mean()
    return loss + 0.05 * coord, {"px": float((pts.detach() - target).norm(dim=-1).mean())}


def _fitter_loss(model, aux, data, idx, rng):
    gt = FaceParams.from_data(data, idx)
    raw = model.raw(images_of(data, idx))
    raw_gt = raw_from_params(gt)
    param_loss = F.smooth_l1_loss(raw, raw_gt)
    res = data["image"].shape[-1]
    lmk = landmarks_2d(params_from_raw(raw), res, model.world)
    px = (lmk - data["landmarks"][idx]).norm(dim=-1).mean()
    return param_loss + 0.2 * px, {"px": float(px.detach())}


def _clip_loss(model, aux, data, idx, rng):
    captions = [caption_variant(data["caption"][i], rng, float(data["pose"][i, 2])) for i in idx.tolist()]
    features = model.encode_image(images_of(data, idx), normalize=False)
    txt = model.encode_text(captions)
    loss = aux.clip_loss(F.normalize(features, dim=-1), txt, model.logit_scale)
    # Expressions are a few pixels at 64 px: with ClipLoss alone the image tower learns hair and
    # pose (big, easy) and stays blind to them. An AU head on the image features (trained with
    # the net, not shipped) makes the embedding carry the expression for ClipLoss to name.
    target, logits = data["aus"][idx], aux.au_head(features)
    au = F.binary_cross_entropy_with_logits(logits, target) + (torch.sigmoid(logits) - target).abs().mean()
    logs = {"scale": float(model.logit_scale.detach()), "au_loss": float(au.detach())}
    loss = loss + aux.au_weight * au
    if aux.prompt_weight:
        # The still captions open with their expression's sentence; ClipLoss contrasts it with the
        # batch's other captions only (mostly the same few expressions). This contrasts each face
        # with all expression sentences at once: cross-entropy over the zero-shot prompts.
        prompts = model.encode_text([expression_sentence(e) for e in EXPRESSIONS])
        scores = model.logit_scale * F.normalize(features, dim=-1) @ prompts.T
        prompt = F.cross_entropy(scores, aux.expression[idx], ignore_index=-1)
        loss = loss + aux.prompt_weight * prompt
        logs["prompt_loss"] = float(prompt.detach())
    return loss, logs


class _ClipAux(nn.Module):
    def __init__(self, embed_dim: int, aus: torch.Tensor, jaw: torch.Tensor, au_weight: float, prompt_weight: float):
        super().__init__()
        from open_clip.loss import ClipLoss

        self.clip_loss, self.au_head, self.au_weight = ClipLoss(), nn.Linear(embed_dim, aus.shape[1]), au_weight
        self.prompt_weight = prompt_weight
        self.expression = expression_classes(aus, jaw) if prompt_weight else None


def _clip_aux(model, data, config):
    # The 49408-row token table would be most of each step's CPU time (a dense gradient and
    # Adam update); its random rows are distinct codes already, so the lite text tower learns
    # on top of them.
    model.model.token_embedding.weight.requires_grad_(False)
    return _ClipAux(model.model.visual.output_dim, data["aus"], data["jaw"], CLIP_AU_WEIGHT, config.clip_prompt_weight)


# Names `freeze` expands to several modules. "text_tower": CLIP's text tower, what LGFA's prompts
# go through at inference (CLIP_TEXT_TOWER: the same list as one `freeze` value).
_TEXT_TOWER = ("transformer", "token_embedding", "ln_final", "positional_embedding", "text_projection", "logit_scale")
FREEZE_GROUPS = {"text_tower": [f"model.{n}" for n in _TEXT_TOWER]}
CLIP_TEXT_TOWER = ",".join(FREEZE_GROUPS["text_tower"])


def freeze(model: nn.Module, name: str) -> nn.Module | nn.Parameter:
    """Stop training one submodule or parameter of `model` (by its dotted name)."""
    try:
        part = model.get_submodule(name)
    except AttributeError:
        try:
            part = model.get_parameter(name)
        except AttributeError:
            kind = type(model).__name__
            raise ValueError(f"freeze: {name!r} is neither a submodule nor a parameter of the {kind}") from None
    return part.requires_grad_(False)


def identity_groups(
    data: dict, batch: int, per_identity: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A batch of `batch // per_identity` identities with `per_identity` renders each: negatives
    of the same person differ by expression and pose, not by hair or skin."""
    ids = data["identity"]
    order = torch.argsort(ids, stable=True)  # ~1 ms for 65k renders: not worth caching
    counts = torch.unique_consecutive(ids[order], return_counts=True)[1]
    starts = torch.cumsum(counts, 0) - counts
    pick = torch.randint(len(starts), (max(1, batch // per_identity),), generator=generator)
    offs = (torch.rand(len(pick), per_identity, generator=generator) * counts[pick, None]).long()
    return order[(starts[pick, None] + offs).flatten()][:batch]


def widths(first: int) -> tuple[int, ...]:
    """A small ResNet's stage widths: `first`, doubling over four stages."""
    return tuple(first * 2**k for k in range(4))


CLIP_AU_WEIGHT = 4.0  # BCE + L1 as the AU regressor's loss; x4 to weigh about as much as ClipLoss


NETS: dict[str, NetSpec] = {
    "au": NetSpec(
        "au-synthfaces-64",
        lambda r, w: AURegressor(input_size=r, channels=widths(w or 24)),
        _au_loss,
        2e-3,
        8000,
        16,
        "Lite AU regressor: small ResNet, BCE + L1 on SynthFaces AU intensities.",
    ),
    "identity": NetSpec(
        "identity-synthfaces-64",
        lambda r, w: IdentityNet(input_size=r, channels=widths(w or 24)),
        _identity_loss,
        2e-3,
        8000,
        16,
        "Lite identity embedding: small ResNet, CosFace loss over SynthFaces training identities.",
        aux=_identity_aux,
    ),
    "fitter": NetSpec(
        "fitter-synthfaces-64",
        lambda r, w: FaceFitter(input_size=r, channels=widths(w or 24)),
        _fitter_loss,
        2e-3,
        8000,
        16,
        "Lite 3D fitter: small ResNet regressing SynthFaces parameters; parameter + landmark reprojection loss.",
    ),
    "landmarks": NetSpec(
        "fan-synthfaces-64",
        lambda r, w: LandmarkNet(num_modules=1, input_size=r, width=w or 64),
        _landmark_loss,
        1e-3,
        8000,
        16,
        "Lite FAN: face_alignment's FAN, one hourglass, 64 features wide, heatmap MSE + sub-pixel coordinate loss.",
    ),
    "clip": NetSpec(
        "clip-synthfaces-64",
        lambda r, w: TextImageModel(),  # its width is its open_clip config's
        _clip_loss,
        1e-3,
        3000,
        64,
        # a template: `_clip_description` names the open_clip config and its image tower
        "Lite open_clip `{model}`: ModifiedResNet image tower (64 px, {tower}); text 3 layers; ClipLoss on "
        "SynthFaces captions with LGFA-word synonyms, + an AU head on the image features (not shipped); "
        "batches of 16 identities x 4 renders.",
        aux=_clip_aux,
        batch_indices=identity_groups,
    ),
}

NET_WEIGHTS = {name: spec.weights for name, spec in NETS.items()}  # net -> checkpoint folder name


def weights_name(net: str, synthfaces: str = "v2") -> str:
    """The checkpoint folder of a net trained on a SynthFaces world: v2 nets are `*-synthfaces2-64`."""
    return lite_weights(NET_WEIGHTS[net], synthfaces)


def is_shipped(net: str, synthfaces: str) -> bool:
    """Whether `weights/` holds this net's lite checkpoint for that SynthFaces world."""
    return (hub.default_weights_dir() / weights_name(net, synthfaces) / "config.json").exists()


@dataclass
class PerceptionConfig(TrainConfig):
    """One lite net's training run (`train`; `--opts KEY VAL` on the command line). steps, batch
    and lr 0 = the net's defaults (`NETS`)."""

    net: str = "au"  # clip, landmarks, au, identity or fitter
    steps: int = 0
    batch: int = 0
    lr: float = 0.0
    resolution: int = 64
    width: int = 0  # the first stage's channels (doubling per stage; the FAN's features); 0 = the net's default
    train_size: int = TRAIN_SIZE
    test_size: int = TEST_SIZE
    identities: int = 0  # training identities the renders spread over; 0 = the standard faces (~20 each)
    init: str = ""  # start from this checkpoint's weights (a weights name or Hub folder)
    # submodules or parameters kept as they are (comma-separated), batch-norm statistics included:
    # "model.visual", CLIP's image tower, to teach the text tower new words without moving the image
    # embeddings others rely on; "text_tower" (CLIP_TEXT_TOWER), to move the image tower only
    freeze: str = ""
    # CLIP only: cross-entropy of each face over the zero-shot expression prompts (`_clip_loss`)
    clip_prompt_weight: float = 0.0
    # CLIP only: its open_clip config (lgfa_lite/nets/configs; "" = lgfa-tiny-clip). With an `init`
    # of another config, only the text tower and logit scale load: a new image tower learns to
    # meet the prompts' embeddings the init CLIP already gives (LGFA's words included).
    clip_model: str = ""
    synthfaces: str = "v2"  # the SynthFaces world; v2 nets are saved as *-synthfaces2-64, v1 as *-synthfaces-64
    cache_dir: str = ""  # rendered faces; "" = $LGFA_CACHE_DIR or ~/.cache/lgfa_lite/synthfaces
    out_dir: str = ""  # "" = weights/<the net's checkpoint name>
    work_dir: str = ""  # "" = ~/.cache/lgfa_lite/train/<net>-<resolution>[-<world>]
    log_every: int = 50


def train(config: PerceptionConfig) -> tuple[nn.Module, dict]:
    """Train one lite net (resumable) and score it on held-out test identities -> (model, metrics).
    Writes `out_dir` with a model card whose numbers are those metrics. `minutes` is a wall-time
    budget summed over resumed runs; the learning-rate schedule follows steps or minutes, whichever
    is further along."""
    c = config
    if c.net not in NETS:
        raise ValueError(f"unknown net {c.net!r}; choose from {sorted(NETS)}")
    if c.width and c.net == "clip":
        raise ValueError("width: the lite CLIP's size is its open_clip config (lgfa_lite/nets/configs)")
    if c.clip_model and c.net != "clip":
        raise ValueError("clip_model: only the CLIP (net clip) has an open_clip config")
    spec = NETS[c.net]
    steps, batch, lr = int(c.steps or spec.steps), int(c.batch or spec.batch), float(c.lr or spec.lr)
    name = weights_name(c.net, c.synthfaces)
    out_dir = Path(c.out_dir) if c.out_dir else hub.default_weights_dir() / name
    suffix = "" if c.synthfaces == "v1" else f"-{c.synthfaces}"
    work_dir = c.work_dir or str(Path.home() / ".cache" / "lgfa_lite" / "train" / f"{c.net}-{c.resolution}{suffix}")
    cache_dir = c.cache_dir or None
    torch.manual_seed(c.seed)
    data = (
        load_faces("train", c.train_size, c.resolution, c.identities, cache_dir, c.synthfaces)
        if c.identities
        else standard_faces("train", c.train_size, c.resolution, cache_dir, c.synthfaces)
    )
    model = TextImageModel(c.clip_model) if c.clip_model else spec.build(c.resolution, c.width)
    if c.net == "fitter":
        model = FaceFitter(**{**model.config, "world": c.synthfaces})
    if c.init:
        init = hub.load(c.init)
        if c.net == "clip" and init.config["model_name"] != model.config["model_name"]:
            text = {k: v for k, v in init.state_dict().items() if not k.startswith("model.visual.")}
            model.load_state_dict(text, strict=False)
            print(f"init: the text tower of {c.init} ({init.config['model_name']}); a new image tower")
        else:
            model.load_state_dict(init.state_dict())
    names = [n for name in c.freeze.split(",") if name for n in FREEZE_GROUPS.get(name, [name])]
    frozen = [freeze(model, name) for name in names]
    aux = spec.aux(model, data, c) if spec.aux else nn.Module()
    trainable = nn.ModuleDict({"model": model, "aux": aux})
    opt = torch.optim.AdamW(
        [p for p in trainable.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4 if c.net != "clip" else 0.05
    )
    run = dataclasses.replace(c, steps=steps, batch=batch, lr=lr, work_dir=work_dir)
    loop = TrainLoop(run, dict(trainable), {"opt": opt}, desc=f"train {c.net}")
    rng = random.Random(c.seed * 1000003 + loop.state.step)
    warmup = max(1, min(200, steps // 10))
    n = len(data["image"])
    for step in loop:
        for part in frozen:
            if isinstance(part, nn.Module):
                part.eval()  # the loop put every module in training mode
        # linear warm-up over the first steps, then cosine decay over the run's progress
        loop.set_lr(opt, lr * (step + 1) / warmup if step < warmup else cosine_lr(lr, loop.progress, warmup=0.0))
        g = loop.generator  # seeded per rank and step: each torchrun rank draws its own batches
        idx = (
            spec.batch_indices(data, batch, generator=g)
            if spec.batch_indices
            else torch.randint(n, (batch,), generator=g)
        )
        loss, logs = spec.loss(model, aux, data, idx, rng)
        loop.step(opt, loss, trainable, clip=5.0)
        loop.log(loss=loss, **logs)
    state = loop.state

    model.eval()
    test = standard_faces("test", c.test_size, c.resolution, cache_dir, c.synthfaces)
    metrics = evaluate(c.net, model, test)
    metrics[f"train_minutes_{c.net}"] = state.seconds / 60
    # the command line that reproduces this run: the options that differ from the defaults
    default = PerceptionConfig()
    keep = (
        "net",
        "steps",
        "batch",
        "lr",
        "resolution",
        "width",
        "train_size",
        "identities",
        "init",
        "freeze",
        "clip_prompt_weight",
        "clip_model",
        "synthfaces",
    )
    opts = " ".join(f"{k} {getattr(run, k)}" for k in keep if getattr(run, k) != getattr(default, k) or k == "net")
    minutes = f" --minutes {c.minutes:g}" if c.minutes else ""
    hub.save(
        model,
        out_dir,
        dtype=torch.float16,
        card={
            "name": name,
            "description": _clip_description(model) if c.net == "clip" else spec.description,
            "tags": [f"synthfaces-{c.synthfaces}"],
            "metrics": metrics,
            "task": "face-perception",
            "training": (
                f"`python -m lgfa_lite.train.perception train{minutes} --opts {opts}` on "
                f"{c.train_size} SynthFaces ({c.synthfaces}) training renders at {c.resolution} px "
                f"({len(data['identity'].unique())} identities); AdamW lr {lr}, warm-up + cosine; "
                f"{state.step} steps, {state.seconds / 60:.1f} min on {loop.hardware}. "
                f"Metrics on {c.test_size} renders of held-out test identities."
            ),
        },
    )
    return model, metrics


def _clip_description(model: TextImageModel) -> str:
    """The CLIP spec's description, naming the open_clip config and image tower this model was built with."""
    name = model.config["model_name"]
    visual = open_clip.get_model_config(name)["vision_cfg"]
    return NETS["clip"].description.format(model=name, tower=f"layers {visual['layers']}, width {visual['width']}")


def main(argv=None):
    c = method_cli(
        "lgfa_lite.train.perception", "Train one lite perception net on SynthFaces.", PerceptionConfig(), argv
    )
    for k, v in train(c)[1].items():
        print(f"{k}: {v:.4f}")


if __name__ == "__main__":
    main()
