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


def held_out_edits(quick: bool):
    """The held-out edit set every AU-editing group scores (`ganimation`, `auclip`): the first n test faces,
    each with the AUs of test face n + i as its target, and the ground truth, each face rendered again
    with its target AUs -> (faces dict, source slice, x (n, 3, 64, 64), target AUs (n, n_aus), renders)."""
    import torch

    from lgfa_lite.synthface import FaceParams, render
    from lgfa_lite.synthface.dataset import TEST_SIZE, images_of, standard_faces

    n = 64 if quick else TEST_SIZE // 2
    faces = standard_faces("test", 2 * n)
    src = slice(0, n)
    x = images_of(faces, src)
    target = faces["aus"][n : 2 * n].float()  # another face's expression
    params = FaceParams.from_data(faces, src)
    with torch.no_grad():
        renders = [render(params[i : i + 64].replace(aus=target[i : i + 64]), x.shape[-1]) for i in range(0, n, 64)]
    return faces, src, x, target, renders


def expression_nme(faces: dict, src: slice, renders):
    """-> nme(images): the lite landmark net's brow, eye and mouth landmarks on edits of `held_out_edits`
    against the renders' exact landmarks, normalised by the input face's inter-ocular distance
    (None while the landmark net is not shipped)."""
    from lgfa_lite import hub
    from lgfa_lite.nets.landmarks import inter_ocular

    try:
        landmark_net = hub.load("fan-synthfaces-64")
    except hub.CheckpointError:
        return None
    import torch

    true = torch.cat([r.landmarks.float() for r in renders])[:, EXPRESSION_LANDMARKS]
    scale = inter_ocular(faces["landmarks"][src].float())

    def nme(images) -> float:
        pred = in_batches(landmark_net, images)
        return float(((pred[:, EXPRESSION_LANDMARKS] - true).norm(dim=-1).mean(1) / scale).mean())

    return nme


@register("ganimation")
def ganimation(quick: bool) -> dict:
    import torch

    from lgfa_lite import hub
    from lgfa_lite.methods import ganimation as GA

    try:
        pipe = GA.load()
    except hub.CheckpointError:
        return {"checkpoint_missing": 1.0}  # not trained yet: nothing to measure
    id_net = hub.load("identity-synthfaces-64")
    try:
        au_net = hub.load("au-synthfaces-64")
    except hub.CheckpointError:
        au_net = None  # the AU keys need the lite AU regressor: absent until it is shipped
    faces, src, x, target, renders = held_out_edits(quick)
    n, gt = len(x), torch.cat([r.image for r in renders])
    out, masks = [], []
    with torch.no_grad():
        for i in range(0, n, 64):
            y, a, _ = pipe(x[i : i + 64], target[i : i + 64])
            out.append(y)
            masks.append(a.flatten(1).mean(1))
        out, masks = torch.cat(out), torch.cat(masks)
        res = {
            "n_edits": float(n),
            "psnr_vs_gt": float(psnr(out, gt).mean()),
            "baseline_no_edit_psnr": float(psnr(x, gt).mean()),
            "id_sim": float((id_net(out) * id_net(x)).sum(-1).mean()),
            "mask_mean": float(masks.mean()),
            "mask_saturated_fraction": float(((masks > 0.98) | (masks < 0.02)).float().mean()),
        }
        if au_net is not None:
            read = lambda imgs: in_batches(au_net, imgs)
            res["au_mae"] = float((read(out) - target).abs().mean())
            res["baseline_no_edit_au_mae"] = float((read(x) - target).abs().mean())
            res["au_mae_ground_truth_render"] = float((read(gt) - target).abs().mean())  # the regressor's floor
        nme = expression_nme(faces, src, renders)
        if nme is not None:
            res["expression_nme"] = nme(out)
            res["baseline_no_edit_expression_nme"] = nme(x)
            res["expression_nme_ground_truth_render"] = nme(gt)  # the landmark net's floor
        one, aus = x[:1], target[:1]
        res["ms_per_frame_64"] = 1000 * median_seconds(lambda: pipe(one, aus), 3 if quick else 30)
    return {**res, **card_minutes(GA.WEIGHTS)}
