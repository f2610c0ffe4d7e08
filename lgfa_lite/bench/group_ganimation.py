"""Benchmark group ``ganimation``: AU edits of held-out SynthFaces faces against paired ground truth.

Each test face gets the AUs of another test face as its target; the ground truth is the same
face rendered with those AUs (everything else unchanged). The trivial baseline is no edit
(output = input). AUs are read by the lite AU regressor, identity by the lite identity net.
A generator can learn to fool an AU reader with colour (docs/experiments/ganimation.md), so
the edit is also judged by a net no generator is trained against: the lite landmark net's brow,
eye and mouth landmarks against the exact landmarks of the ground truth (`expression_nme`,
normalised by the inter-ocular distance).
"""

from lgfa_lite.bench import card_minutes, median_seconds, register

# brows, eyes and mouth of the 68-point layout: the landmarks that AUs move
EXPRESSION_LANDMARKS = list(range(17, 27)) + list(range(36, 68))


def in_batches(net, images, size: int = 128):
    import torch

    return torch.cat([net(images[i : i + size]) for i in range(0, len(images), size)])


def psnr(a, b):
    import torch

    mse = (a - b).pow(2).flatten(1).mean(1).clamp(min=1e-10)
    return 10 * torch.log10(1 / mse)


def held_out_edits(quick: bool, world: str):
    """The held-out edit set every AU-editing group scores (`ganimation`, `auclip`): the first n test faces
    of a SynthFaces world, each with the AUs of test face n + i as its target, and the ground truth, each
    face rendered again with its target AUs -> (faces dict, source slice, x (n, 3, 64, 64), target AUs
    (n, n_aus), renders). Both worlds draw the same identities, poses and AUs."""
    import torch

    from lgfa_lite.synthface import FaceParams, render
    from lgfa_lite.synthface.dataset import TEST_SIZE, images_of, standard_faces

    n = 64 if quick else TEST_SIZE // 2
    faces = standard_faces("test", 2 * n, world=world)
    src = slice(0, n)
    x = images_of(faces, src)
    target = faces["aus"][n : 2 * n].float()  # another face's expression
    params = FaceParams.from_data(faces, src)
    with torch.no_grad():
        renders = [
            render(params[i : i + 64].replace(aus=target[i : i + 64]), x.shape[-1], world=world)
            for i in range(0, n, 64)
        ]
    return faces, src, x, target, renders


def expression_nme(faces: dict, src: slice, renders, world: str):
    """-> nme(images): the lite landmark net (of that world)'s brow, eye and mouth landmarks on edits of
    `held_out_edits` against the renders' exact landmarks, normalised by the input face's inter-ocular
    distance (None while the landmark net is not shipped)."""
    from lgfa_lite import hub
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.landmarks import inter_ocular

    try:
        landmark_net = hub.load(lite_weights("fan-synthfaces-64", world))
    except hub.CheckpointError:
        return None
    import torch

    true = torch.cat([r.landmarks.float() for r in renders])[:, EXPRESSION_LANDMARKS]
    scale = inter_ocular(faces["landmarks"][src].float())

    def nme(images) -> float:
        pred = in_batches(landmark_net, images)
        return float(((pred[:, EXPRESSION_LANDMARKS] - true).norm(dim=-1).mean(1) / scale).mean())

    return nme


def score_edits(pipe, x, target, gt, read_aus, nme, id_net) -> dict:
    """A GANimation pipeline's edits of the held-out set against their paired ground truth `gt`:
    PSNR, identity kept, mask statistics, AU error (`read_aus`: the AU regressor, or None) and the
    expression landmark error (`nme`, or None)."""
    import torch

    out, masks = [], []
    with torch.no_grad():
        for i in range(0, len(x), 64):
            y, a, _ = pipe(x[i : i + 64], target[i : i + 64])
            out.append(y)
            masks.append(a.flatten(1).mean(1))
        out, masks = torch.cat(out), torch.cat(masks)
        res = {
            "psnr_vs_gt": float(psnr(out, gt).mean()),
            "id_sim": float((in_batches(id_net, out) * in_batches(id_net, x)).sum(-1).mean()),
            "mask_mean": float(masks.mean()),
            "mask_saturated_fraction": float(((masks > 0.98) | (masks < 0.02)).float().mean()),
        }
        if read_aus is not None:
            res["au_mae"] = float((read_aus(out) - target).abs().mean())
        if nme is not None:
            res["expression_nme"] = nme(out)
    return res


ABLATION_UNPAIRED = "ganimation-synthfaces-64-unpaired"  # the original recipe, trained for the same minutes


@register("ganimation")
def ganimation(quick: bool) -> dict:
    """The shipped generator's edits (and, when its checkpoint is there, the unpaired ablation's:
    `ablation_unpaired_*`) against the no-edit baseline and the ground-truth renders."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.methods import ganimation as GA
    from lgfa_lite.nets import lite_weights

    try:
        pipe = GA.load()
    except hub.CheckpointError:
        return {"checkpoint_missing": 1.0}  # not trained yet: nothing to measure
    world = pipe.world  # scored on the world it learnt, read by that world's AU regressor and landmark net
    id_net = hub.load(lite_weights("identity-synthfaces-64", world))
    try:
        au_net = hub.load(lite_weights("au-synthfaces-64", world))
        read = lambda imgs: in_batches(au_net, imgs)
    except hub.CheckpointError:
        read = None  # the AU keys need the lite AU regressor: absent until it is shipped
    faces, src, x, target, renders = held_out_edits(quick, world)
    gt = torch.cat([r.image for r in renders])
    nme = expression_nme(faces, src, renders, world)
    res = {"n_edits": float(len(x)), "synthfaces_world": float(world[1:])}  # the edit set's world (1 or 2)
    res.update(score_edits(pipe, x, target, gt, read, nme, id_net))
    with torch.no_grad():
        res["baseline_no_edit_psnr"] = float(psnr(x, gt).mean())
        if read is not None:
            res["baseline_no_edit_au_mae"] = float((read(x) - target).abs().mean())
            res["au_mae_ground_truth_render"] = float((read(gt) - target).abs().mean())  # the regressor's floor
        if nme is not None:
            res["baseline_no_edit_expression_nme"] = nme(x)
            res["expression_nme_ground_truth_render"] = nme(gt)  # the landmark net's floor
        one, aus = x[:1], target[:1]
        res["ms_per_frame_64"] = 1000 * median_seconds(lambda: pipe(one, aus), 3 if quick else 30)
    try:
        unpaired = GA.load(ABLATION_UNPAIRED)
    except hub.CheckpointError:
        unpaired = None
    if unpaired is not None and unpaired.world == world:
        scores = score_edits(unpaired, x, target, gt, read, nme, id_net)
        res.update({f"ablation_unpaired_{k}": v for k, v in scores.items()})
        res.update({f"ablation_unpaired_{k}": v for k, v in card_minutes(ABLATION_UNPAIRED).items()})
    return {**res, **card_minutes(GA.WEIGHTS)}
