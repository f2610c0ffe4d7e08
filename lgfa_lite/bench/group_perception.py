"""Benchmark group ``perception``: the lite perception nets on held-out SynthFaces identities.

Each net is loaded from `weights/` and scored on renders of test identities (never seen in
training), next to a trivial baseline that a net has to beat:
- au: predicting the training-set mean AUs (`au_mae_baseline_mean`) or their median
  (`au_mae_baseline_median`, the better constant for the L1 error: AUs are sparse);
- landmarks: the mean training landmark layout (`fan_nme_baseline_mean`);
- fitter: the neutral frontal pose and mean landmarks (`fitter_pose_deg_baseline_zero`);
- identity: chance is an AUC of 0.5; clip: chance is 1 / the expression vocabulary.
Worlds: the keys without a suffix are the v2 nets (`*-synthfaces2-64`) on v2 renders, the default
world; `<key>_v1` the v1 nets on v1 renders, kept while shipped checkpoints still use them.
`train_minutes_<net>` are read from each model card (measured by the trainer on this machine).
"""

from lgfa_lite.bench import card_results, median_seconds, register

WORLDS = {"v2": "", "v1": "_v1"}  # world -> key suffix


def score_world(world: str, quick: bool) -> dict:
    """Every shipped net of `world` on that world's held-out faces, with the trivial baselines."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.nets.landmarks import inter_ocular
    from lgfa_lite.synthface import EXPRESSIONS
    from lgfa_lite.synthface.dataset import TEST_SIZE, TRAIN_IDS, images_of, load_faces, standard_faces
    from lgfa_lite.train.perception import NET_WEIGHTS, evaluate, weights_name

    # quick (tests): 64 test faces; the numbers only prove the pipeline runs.
    n = 64 if quick else TEST_SIZE
    test = standard_faces("test", n, world=world)
    if quick:
        train = standard_faces("train", 256, world=world)
    else:
        train = load_faces("train", 1024, 64, TRAIN_IDS, world=world)  # the cached chunks
    out = {"n_test_faces": float(n)}
    for net in NET_WEIGHTS:
        name = weights_name(net, world)
        try:
            model = hub.load(name)
        except hub.CheckpointError:
            continue  # not trained yet: its keys are absent from the results
        with torch.no_grad():
            out.update(evaluate(net, model, test))
            run, one = (model.encode_image if net == "clip" else model), images_of(test, slice(0, 1))
            out[f"ms_per_image_{net}"] = 1000 * median_seconds(lambda run=run, one=one: run(one), 2 if quick else 20)
        card = card_results(name)
        if f"train_minutes_{net}" in card:
            out[f"train_minutes_{net}"] = float(card[f"train_minutes_{net}"])

    out["au_mae_baseline_mean"] = float((test["aus"] - train["aus"].mean(0)).abs().mean())
    out["au_mae_baseline_median"] = float((test["aus"] - train["aus"].median(0).values).abs().mean())
    mean_lmk = train["landmarks"].mean(0)
    out["fan_nme_baseline_mean"] = float(
        ((test["landmarks"] - mean_lmk).norm(dim=-1).mean(1) / inter_ocular(test["landmarks"])).mean()
    )
    out["fitter_landmark_px_baseline_mean"] = float((test["landmarks"] - mean_lmk).norm(dim=-1).mean())
    out["fitter_pose_deg_baseline_zero"] = float(test["pose"].abs().mean())
    out["clip_zero_shot_chance"] = 1.0 / len(EXPRESSIONS)
    return out


@register("perception")
def perception(quick: bool) -> dict:
    out = {}
    for world, suffix in WORLDS.items():
        out.update({k + suffix: v for k, v in score_world(world, quick).items()})
    return out
