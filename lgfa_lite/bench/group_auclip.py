"""Benchmark group ``auclip``: the AU-CLIP mapper on GANimation's held-out edit set (`held_out_edits`:
the same faces, target AUs and ground-truth renders, so the two groups compare key for key).

The pipeline reads each source face's AUs with the lite AU regressor, Δau = target - that reading,
and edits the encoder's W+ code. AUs of the result are read by the same regressor (the one the
mapper was trained against; `au_mae_ground_truth_render` is its floor). Two no-edit baselines: the
input face (`baseline_no_edit_*`, as in `ganimation`) and its reconstruction G(E(x))
(`reconstruction_*`: what the generator gives before any edit).

`expression_nme` (as in `ganimation`): brow, eye and mouth landmarks of the edit against the ground
truth's, read by the lite landmark net, which the mapper never trained against (an edit that fools
the AU regressor does not fool it).

`magnitude_spearman`: per face, the rank correlation of the Δau scale k (0.25, 0.5, 0.75, 1) with
the AU change achieved along Δau, averaged; `_of_mean`: of the change averaged over faces first;
`_original_quirk`: the same mapper weights with the original's sign normalisation.

`ms_per_edit_64`: mapper + synthesis for one inverted face; `_from_face`: the whole call from a
photo (inversion, AU reading, reconstruction and edit).
"""

from lgfa_lite.bench import card_minutes, median_seconds, register
from lgfa_lite.bench.group_ganimation import expression_nme, held_out_edits, in_batches, psnr

SCALES = (0.25, 0.5, 0.75, 1.0)


def spearman(x, y):
    """Spearman rank correlation of two 1-D tensors (0 when either is constant: no order to follow)."""
    import torch

    rx, ry = (v.argsort().argsort().float() for v in (x, y))
    if float(x.std()) == 0 or float(y.std()) == 0:
        return 0.0
    return float(torch.corrcoef(torch.stack([rx, ry]))[0, 1])


def magnitude_spearman(pipe, x, target, read) -> tuple[float, float]:
    """spearman(k, AU change along Δau) for Δau scaled by k in SCALES: the mean over faces, and that of
    the change averaged over faces."""
    import torch

    w, recon, delta = pipe.source(x, target)
    base = read(recon)
    unit = delta / delta.norm(dim=1, keepdim=True).clamp(min=1e-6)
    achieved = torch.stack([((read(pipe(w=w, delta=k * delta).image) - base) * unit).sum(1) for k in SCALES], 1)
    scales = torch.tensor(SCALES)
    return sum(spearman(scales, row) for row in achieved) / len(achieved), spearman(scales, achieved.mean(0))


@register("auclip")
def auclip(quick: bool) -> dict:
    import torch

    from lgfa_lite import hub
    from lgfa_lite.methods import auclip as AC
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.synthface import AU_NAMES

    try:
        pipe = AC.load()
    except hub.CheckpointError:
        return {"checkpoint_missing": 1.0}
    id_net = hub.load(lite_weights("identity-synthfaces-64", pipe.world))
    au_net = pipe.nets.au
    read = lambda imgs: in_batches(au_net, imgs)  # noqa: E731
    faces, src, x, target, renders = held_out_edits(quick, pipe.world)  # the world its generator learnt
    gt = torch.cat([r.image for r in renders])
    with torch.no_grad():
        edits = [pipe(x[i : i + 64], target[i : i + 64]) for i in range(0, len(x), 64)]
        out = torch.cat([e.image for e in edits])
        recon = torch.cat([e.reconstruction for e in edits])
        err, base_err, recon_err = ((read(imgs) - target).abs() for imgs in (out, x, recon))
        res = {
            "n_edits": float(len(x)),
            "au_mae": float(err.mean()),
            "baseline_no_edit_au_mae": float(base_err.mean()),
            "reconstruction_au_mae": float(recon_err.mean()),
            "au_mae_ground_truth_render": float((read(gt) - target).abs().mean()),
            **{f"au_mae_{name}": float(err[:, k].mean()) for k, name in enumerate(AU_NAMES)},
            **{f"baseline_no_edit_au_mae_{name}": float(base_err[:, k].mean()) for k, name in enumerate(AU_NAMES)},
            "psnr_vs_gt": float(psnr(out, gt).mean()),
            "baseline_no_edit_psnr": float(psnr(x, gt).mean()),
            "reconstruction_psnr_vs_gt": float(psnr(recon, gt).mean()),
            "id_sim": float((id_net(out) * id_net(recon)).sum(-1).mean()),
        }
        nme = expression_nme(faces, src, renders, pipe.world)  # a judge the mapper never trained against
        if nme is not None:
            res["expression_nme"] = nme(out)
            res["baseline_no_edit_expression_nme"] = nme(x)
            res["reconstruction_expression_nme"] = nme(recon)
        m = 32 if quick else 128
        quirk = pipe.mapper.with_sign_quirk()
        for suffix, p in (("", pipe), ("_original_quirk", AC.AUCLIPPipeline(quirk, pipe.nets, pipe.alpha))):
            per_face, of_mean = magnitude_spearman(p, x[:m], target[:m], read)
            res[f"magnitude_spearman{suffix}"] = per_face
            res[f"magnitude_spearman_of_mean{suffix}"] = of_mean
        one, aus = x[:1], target[:1]
        reps = 3 if quick else 30
        w1, d1 = pipe.source(one, aus)[::2]
        # one edit of an inverted face: mapper + synthesis (as the original edits stored e4e codes)
        res["ms_per_edit_64"] = 1000 * median_seconds(lambda: pipe.nets.decode(w1 + pipe.alpha * pipe.mapper(d1)), reps)
        # the Space's path: inversion, AU reading, reconstruction and edit
        res["ms_per_edit_64_from_face"] = 1000 * median_seconds(lambda: pipe(one, aus), reps)
    return {**res, **card_minutes(AC.WEIGHTS)}
