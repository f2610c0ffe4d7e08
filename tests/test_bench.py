"""Benchmark runner: registry, merging into results.json, RESULTS.md, history, CLI."""

import json
import pathlib
import subprocess
import sys

import pytest

from lgfa_lite import bench
from lgfa_lite.bench import runner

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_group():
    calls = []

    @bench.register("fake")
    def fake(quick):
        calls.append(quick)
        return {"speed": 123.456, "count": 3}

    yield calls
    del bench.GROUPS["fake"]


def test_run_merges_and_renders(tmp_path, fake_group):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"other": {"x": 1.5}, "env": {"dates": {"other": "2020-01-01T00:00:00+00:00"}}}))
    data = runner.run(["fake"], quick=True, results=results, log=lambda *a: None)
    assert fake_group == [True]

    saved = json.loads(results.read_text())
    assert saved == data
    assert saved["other"] == {"x": 1.5}  # untouched
    assert saved["fake"] == {"speed": 123.456, "count": 3}
    env = saved["env"]
    assert env["dates"]["other"] == "2020-01-01T00:00:00+00:00" and env["dates"]["fake"]
    assert {"cpu", "cpu_count", "torch_threads", "torch", "python", "platform"} <= set(env)
    assert env["quick"] == ["fake"]

    md = (tmp_path / "RESULTS.md").read_text()
    assert "## fake" in md and "| speed | 123.5 |" in md and "| count | 3 |" in md
    assert "## other" in md and "| x | 1.5 |" in md and "quick run" in md

    runner.run(["fake"], results=results, log=lambda *a: None)  # a full run clears the quick mark
    assert json.loads(results.read_text())["env"]["quick"] == []
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [(h["group"], h["quick"], h["metrics"]["speed"]) for h in history] == [
        ("fake", True, 123.456),
        ("fake", False, 123.456),
    ]


def test_run_keeps_groups_a_parallel_run_merged(tmp_path):
    """Two bench runs at once: the one that ends last keeps what the other merged while it ran."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"env": {}}))

    @bench.register("slow")
    def slow(quick):
        runner.run(["quick_one"], results=results, log=lambda *a: None)  # finishes while "slow" runs
        return {"x": 1.0}

    bench.register("quick_one")(lambda quick: {"y": 2.0})
    try:
        runner.run(["slow"], results=results, log=lambda *a: None)
    finally:
        del bench.GROUPS["slow"], bench.GROUPS["quick_one"]
    saved = json.loads(results.read_text())
    assert saved["slow"] == {"x": 1.0} and saved["quick_one"] == {"y": 2.0}
    assert set(saved["env"]["dates"]) == {"slow", "quick_one"}


def test_unknown_group(tmp_path, fake_group):
    with pytest.raises(runner.UnknownGroupError, match=r"nope.*known.*'fake'"):
        runner.run(["nope"], results=tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_non_numeric_metrics_rejected(tmp_path):
    bench.register("badgroup")(lambda quick: {"x": "fast"})
    try:
        with pytest.raises(ValueError, match="non-numeric"):
            runner.run(["badgroup"], results=tmp_path / "r.json", log=lambda *a: None)
    finally:
        del bench.GROUPS["badgroup"]


def test_cli_list():
    out = subprocess.run(
        [sys.executable, "-m", "lgfa_lite.bench", "--list"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "synthface" in out.stdout.split() and "broken" not in out.stdout


def test_cli_unknown_group(capsys, tmp_path):
    from lgfa_lite.bench.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["nope", "--results", str(tmp_path / "r.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown benchmark group" in err and "synthface" in err


def test_synthface_group_quick(tmp_path):
    pytest.importorskip("lgfa_lite.synthface.render")
    runner.discover()
    metrics = bench.GROUPS["synthface"](True)
    speeds = {
        f"images_per_s_{r}{w}{s}" for r in (64, 128) for w in ("", "_v1") for s in ("", "_median_batch", "_best_batch")
    }
    from lgfa_lite.synthface import AU_NAMES

    legible = {
        f"legibility_{kind}_{au}{w}" for kind in ("pixels", "landmark_px") for au in AU_NAMES for w in ("", "_v1")
    }
    legible |= {"legibility_pixels_min", "legibility_pixels_min_v1"}
    assert set(metrics) == speeds | legible | {"cpu_steal_pct"}
    assert all(metrics[k] > 0 for k in speeds) and 0 <= metrics["cpu_steal_pct"] <= 100
    assert metrics["images_per_s_64_best_batch"] >= metrics["images_per_s_64"]
    assert metrics["legibility_pixels_min"] > metrics["legibility_pixels_min_v1"]


def test_perception_group_quick():
    """Both worlds are scored: v2 nets on v2 faces (no suffix), v1 nets on v1 faces (`_v1`)."""
    from lgfa_lite.train.perception import NET_WEIGHTS, is_shipped

    runner.discover()
    metrics = bench.GROUPS["perception"](True)
    baselines = {
        "au_mae_baseline_mean",
        "au_mae_baseline_median",
        "fan_nme_baseline_mean",
        "fitter_landmark_px_baseline_mean",
        "fitter_pose_deg_baseline_zero",
        "clip_zero_shot_chance",
        "n_test_faces",
    }
    for world, suffix in (("v2", ""), ("v1", "_v1")):
        assert {b + suffix for b in baselines} <= set(metrics) and metrics["n_test_faces" + suffix] == 64
        assert metrics["au_mae_baseline_median" + suffix] < metrics["au_mae_baseline_mean" + suffix]
        shipped = [n for n in NET_WEIGHTS if is_shipped(n, world)]
        for net in shipped:  # every shipped net is scored and timed
            assert metrics[f"ms_per_image_{net}{suffix}"] > 0 and f"train_minutes_{net}{suffix}" in metrics
        if "identity" in shipped:
            assert 0.5 < metrics["id_auc" + suffix] <= 1.0
        if "au" in shipped:
            assert metrics["au_mae" + suffix] < metrics["au_mae_baseline_median" + suffix]


def test_ganimation_group_quick(monkeypatch):
    """Scores edits (and the unpaired ablation's) against paired ground-truth renders of the world
    the generator learnt; tiny untrained generators stand in."""
    from lgfa_lite.bench.group_ganimation import ganimation
    from lgfa_lite.methods import ganimation as GA
    from lgfa_lite.synthface import N_AUS

    loaded = []

    def tiny(name=GA.WEIGHTS):
        loaded.append(name)
        return GA.GANimationPipeline(GA.Generator(N_AUS, 8, 1, world="v2"))

    monkeypatch.setattr(GA, "load", tiny)
    res = ganimation(quick=True)
    for key in ("psnr_vs_gt", "baseline_no_edit_psnr", "id_sim", "mask_mean", "ms_per_frame_64"):
        assert key in res and res[key] == res[key]
    assert 0 <= res["mask_mean"] <= 1 and res["baseline_no_edit_psnr"] > 10
    assert loaded[1] != GA.WEIGHTS and 0 <= res["ablation_unpaired_mask_mean"] <= 1


def test_kid_and_precision_recall_separate_distributions():
    import torch

    from lgfa_lite.bench.group_generator import kid, precision_recall

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g)
    far = torch.randn(300, 8, generator=g) * 0.3 + 2.0
    assert abs(kid(a, b, subsets=5, subset_size=200)) < 0.05 < kid(a, far, subsets=5, subset_size=200)
    p_same, r_same = precision_recall(a, b)
    p_far, r_far = precision_recall(a, far)
    assert p_same > 0.6 and r_same > 0.6 and p_far < 0.2 and r_far < 0.2


def test_kid_ratio_divides_by_the_floor_or_its_noise():
    """Two samples of one distribution: the unbiased real-vs-real KID sits at its noise (here below
    0); the ratio must then divide by that noise, not by a floor of 1e-12."""
    import torch

    from lgfa_lite.bench.group_generator import kid_keys

    g = torch.Generator().manual_seed(1)
    train, test = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    fake = torch.randn(400, 8, generator=g) * 0.3 + 2.0
    res = kid_keys(fake, test, train, subset_size=200)
    assert res["kid_real_vs_real_std"] > 0 and res["kid"] > 0.05
    assert res["kid_ratio"] == res["kid"] / max(res["kid_real_vs_real"], res["kid_real_vs_real_std"])
    assert res["kid_ratio"] < 1e4  # bounded by the noise; 1e-12 would read ~1e11
    same = kid_keys(torch.randn(400, 8, generator=g), test, train, subset_size=200)
    assert abs(same["kid_ratio"]) < 10 < res["kid_ratio"]


def test_generator_and_encoder_groups_quick(monkeypatch):
    """Speed keys need no checkpoint; quality keys run on a tiny untrained generator + encoder."""
    from lgfa_lite import hub
    from lgfa_lite.bench import group_generator
    from lgfa_lite.nets.encoder import LatentEncoder
    from lgfa_lite.nets.stylegan2 import Z_DIM, Generator

    G = Generator(64, 32, 2, {4: 16, 8: 16, 16: 8, 32: 8, 64: 8}, z_dim=Z_DIM, normalize_z=False).eval()
    E = LatentEncoder(G.n_latent, 32, channels=(8, 8, 16, 16), hidden=32).eval()
    monkeypatch.setattr(group_generator, "_load_generator", lambda name: (G, True))
    res = group_generator.generator(quick=True)
    assert {"kid", "kid_v1", "precision_v1"} <= set(res)  # both worlds' generators are scored
    assert res["images_per_s_64"] > 0 and res["ratio_vs_grouped_conv"] > 0
    assert 0 <= res["precision"] <= 1 and 0 <= res["recall"] <= 1 and res["kid"] > res["kid_real_vs_real"]
    from lgfa_lite.train.perception import is_shipped

    assert res["feature_space_clip" if is_shipped("clip", G.world) else "feature_space_fitter_identity"] == 1.0
    if is_shipped("au", G.world) and is_shipped("landmarks", G.world):  # follows_z: the untrained G draws nothing of z
        assert res["l1_vs_z_render"] > 0.1 and res["au_mae_vs_z_render"] < res["au_mae_vs_z_neutral_baseline"]
        assert res["landmark_nme_vs_z_eyes_mouth"] > res["landmark_nme_vs_z_eyes_mouth_neutral_baseline"]
    if is_shipped("clip", G.world):  # the lite CLIP reads the motions' end states in renders, not in an untrained G
        assert res["clip_motion_top1_render"] > 0.5 > res["clip_motion_top1"]

    real_load = hub.load
    monkeypatch.setattr(
        hub,
        "load",
        lambda name, **kw: (
            {"stylegan2-synthfaces2-64": G, "encoder-synthfaces2-64": E}.get(name) or real_load(name, **kw)
        ),
    )
    res = group_generator.encoder(quick=True)
    for key in ("psnr", "id_sim", "landmark_nme", "ms_per_image", "psnr_refined", "ms_per_image_refined"):
        assert key in res and res[key] == res[key]
    # refinement optimises the reconstruction's L1: it must not be worse than the encoder's guess
    assert res["psnr_refined"] > res["psnr_unrefined_same_faces"]
    assert "psnr_v1" in res  # the shipped v1 encoder with its generator
