"""Landmark projection (lgfa_lite.methods.projection) on the shipped lite nets, and One-Euro smoothing.
Short runs (tens of steps): each test checks a direction (less error, less loss), never a speed."""

import threading

import numpy as np
import pytest
import torch

from lgfa_lite.methods import projection as P
from lgfa_lite.nets.landmarks import inter_ocular
from lgfa_lite.smoothing import one_euro
from lgfa_lite.synthface.dataset import images_of, standard_faces

MOUTH = list(P.GROUPS["outer_lip"]) + list(P.GROUPS["inner_lip"])


@pytest.fixture(scope="module")
def pipe():
    return P.load()


@pytest.fixture(scope="module")
def faces(pipe):
    return standard_faces("test", 64, world=pipe.world)  # the faces its generator learnt


def pair(faces, a, b):
    """The look of test face a, the (exact) landmarks of test face b: another identity and expression."""
    assert faces["identity"][a] != faces["identity"][b]
    return images_of(faces, slice(a, a + 1)), faces["landmarks"][b].float()


def nme(points, target, idx=slice(None)):
    return float(
        (points[..., idx, :] - target[..., idx, :]).norm(dim=-1).mean() / inter_ocular(target.reshape(1, 68, 2))
    )


def test_loss_decreases(pipe, faces):
    look, target = pair(faces, 0, 1)
    steps = []
    res = pipe.project(look, target, steps=30, callback=steps.append)
    assert [s.step for s in steps] == list(range(1, 31)) and steps[-1].image.shape == (1, 3, 64, 64)
    h = res.history
    assert len(h) == 30 and not res.cancelled
    assert np.mean([x["landmarks"] for x in h[-5:]]) < 0.7 * np.mean([x["landmarks"] for x in h[:5]])
    assert np.mean([x["total"] for x in h[-5:]]) < np.mean([x["total"] for x in h[:5]])


@pytest.mark.parametrize("a,b", [(2, 13), (5, 20)])
def test_landmark_error_beats_the_mean_face(pipe, faces, a, b):
    look, target = pair(faces, a, b)
    res = pipe.project(look, target, steps=40)
    with torch.no_grad():
        start = pipe.fan(pipe.decode(pipe.G.to_wplus(pipe.w_avg[None])))
    assert nme(res.landmarks, target) < 0.8 * nme(start, target)
    assert res.landmarks.shape == (1, 68, 2) and torch.equal(res.target, target[None])


def test_mouth_weights_put_the_error_on_the_mouth(pipe, faces):
    look, target = pair(faces, 0, 1)
    uniform = {g: 1.0 for g in P.GROUPS}
    mouth = {g: (5.0 if g in ("outer_lip", "inner_lip") else 0.0) for g in P.GROUPS}
    err = {}
    for name, weights in (("uniform", uniform), ("mouth", mouth)):
        res = pipe.project(look, target, steps=40, group_weights=weights)
        err[name] = (nme(res.landmarks, target, MOUTH), nme(res.landmarks, target, slice(0, 48)))
    assert err["mouth"][0] < err["uniform"][0]  # the mouth is closer
    assert err["mouth"][1] > err["uniform"][1]  # the rest, left out, is further


def test_landmark_image_target(pipe, faces):
    look = images_of(faces, slice(0, 1))
    landmark_image = images_of(faces, slice(1, 2))
    res = pipe.project(look, landmark_image, steps=20)
    assert res.target is None and res.image.shape == (1, 3, 64, 64)
    assert res.history[-1]["landmarks"] < res.history[0]["landmarks"]


def test_cancelled_run_returns_a_valid_image(pipe, faces):
    look, target = pair(faces, 0, 1)
    stop = threading.Event()
    res = pipe.project(look, target, steps=50, callback=lambda s: s.step == 3 and stop.set(), cancel=stop)
    assert res.cancelled and len(res.history) == 3
    assert res.image.shape == (1, 3, 64, 64) and torch.isfinite(res.image).all()
    early = pipe.project(look, target, steps=50, cancel=lambda: True)  # stopped before the first step
    assert early.cancelled and early.history == [] and torch.isfinite(early.image).all()


def test_bad_inputs_are_clear_errors(pipe, faces):
    look, target = pair(faces, 0, 1)
    with pytest.raises(ValueError, match="group_weights.outer_lip must be a finite number"):
        pipe.project(look, target, steps=1, group_weights={"outer_lip": float("nan")})
    with pytest.raises(ValueError, match="unknown landmark group"):
        pipe.project(look, target, steps=1, group_weights={"ears": 1.0})
    with pytest.raises(ValueError, match="too small"):
        pipe.project(torch.rand(1, 3, 1, 1), target, steps=1)
    with pytest.raises(TypeError, match="look image must be"):
        pipe.project("face.png", target, steps=1)
    with pytest.raises(ValueError, match="NaN"):
        pipe.project(look, target * float("nan"), steps=1)
    with pytest.raises(ValueError, match="68 points"):
        pipe.project(look, target[:10], steps=1)
    with pytest.raises(ValueError, match="space"):
        pipe.project(look, target, steps=1, space="z")
    with pytest.raises(ValueError, match="lambda_landmarks"):
        pipe.project(look, target, steps=1, lambda_landmarks=float("inf"))


def test_animate_warm_starts_and_adds_mid_frames(pipe, faces):
    look = images_of(faces, slice(0, 1))
    seq = faces["landmarks"][1:4].float()
    seen = []
    anim = pipe.animate(look, seq, steps=6, later_steps=3, mid_frames=True, callback=lambda s: seen.append(s.frame))
    assert anim.frames.shape == (5, 3, 64, 64) and anim.ws.shape[0] == 5 and anim.landmarks.shape == (3, 68, 2)
    assert seen == [0] * 6 + [1] * 3 + [2] * 3
    assert torch.allclose(anim.ws[1], (anim.ws[0] + anim.ws[2]) / 2)
    stop = threading.Event()
    cut = pipe.animate(look, seq, steps=4, later_steps=3, callback=lambda s: s.frame == 1 and stop.set(), cancel=stop)
    assert cut.cancelled and len(cut.frames) == 1 and torch.isfinite(cut.frames).all()
    with pytest.raises(ValueError, match="landmark sequence"):
        pipe.animate(look, seq[0], steps=1)


def test_one_euro_smooths_jitter_and_keeps_still_signals():
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 4, 100)[:, None]  # 4 s at 25 fps: a slow motion with detector jitter
    clean = torch.sin(0.5 * torch.pi * t) * 5
    noisy = clean + 0.5 * torch.randn(100, 1, generator=g)
    smooth = one_euro(noisy, fps=25)
    accel = lambda x: (x[2:] - 2 * x[1:-1] + x[:-2]).abs().mean()  # noqa: E731
    assert accel(smooth) < 0.5 * accel(noisy)
    assert (smooth - clean).abs().mean() < (noisy - clean).abs().mean()
    still = torch.full((10, 68, 2), 3.0)
    assert torch.allclose(one_euro(still), still)
    arr = one_euro(noisy.numpy())
    assert isinstance(arr, np.ndarray) and arr.shape == (100, 1)
    with pytest.raises(ValueError):
        one_euro(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError):
        one_euro(noisy, fps=0)


def test_bench_group_quick():
    import math

    from lgfa_lite.bench.group_projection import projection

    res = projection(quick=True)
    keys = ["landmark_nme", "baseline_look_only_nme", "look_id_sim", "seconds_300_steps_64"]
    keys += [f"landmark_nme_{g}" for g in P.REPORT_GROUPS] + ["landmark_nme_encoder_init", "look_id_sim_encoder_init"]
    keys += ["animation_seconds_per_frame_64", "temporal_jitter", "temporal_jitter_unsmoothed"]
    assert all(k in res and math.isfinite(res[k]) for k in keys), sorted(set(keys) - set(res))
