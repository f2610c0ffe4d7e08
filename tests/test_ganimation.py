"""GANimation: composition, shapes, losses, saturation detection, animation, training, bad input."""

import math

import pytest
import torch

from lgfa_lite import hub
from lgfa_lite.methods import ganimation as GA
from lgfa_lite.synthface import AU_INDEX, N_AUS
from lgfa_lite.train import ganimation as T

TINY = dict(n_aus=N_AUS, conv_dim=8, repeat_num=1)


def test_output_is_attention_blend_of_input_and_colour():
    G = GA.Generator(**TINY).eval()
    x, aus = torch.rand(2, 3, 64, 64), torch.rand(2, N_AUS)
    out, A, C = G(x, aus)
    assert torch.allclose(out, A * x + (1 - A) * C, atol=1e-5)
    assert float(A.min()) >= 0 and float(A.max()) <= 1 and float(C.min()) >= 0 and float(C.max()) <= 1


@pytest.mark.parametrize("size", [64, 128])
def test_shapes(size):
    G, D = GA.Generator(**TINY), T.Critic(size, N_AUS, conv_dim=8)
    out, A, C = G(torch.rand(2, 3, size, size), torch.rand(2, N_AUS))
    assert out.shape == C.shape == (2, 3, size, size) and A.shape == (2, 1, size, size)
    patch, aus = D(out)
    assert patch.shape == (2, 1, size // 16, size // 16) and aus.shape == (2, N_AUS)


def test_losses_give_gradients_to_both_nets():
    G, D = GA.Generator(**TINY), T.Critic(64, N_AUS, conv_dim=8)
    real, real_aus, target = torch.rand(2, 3, 64, 64), torch.rand(2, N_AUS), torch.rand(2, N_AUS)
    d_loss, d_logs = T.critic_loss(G, D, real, real_aus, target)
    d_loss.backward()
    assert all(p.grad is not None for p in D.parameters()) and all(p.grad is None for p in G.parameters())
    g_loss, g_logs = T.generator_loss(G, D, real, real_aus, target)
    g_loss.backward()
    assert all(p.grad is not None for p in G.parameters())
    assert math.isfinite(float(g_loss)) and 0 <= float(g_logs["mask_mean"]) <= 1


def test_saturation_detection():
    assert GA.mask_saturated(0.995) and "all ones" in GA.mask_saturated(0.995)
    assert GA.mask_saturated(0.001) and "all zeros" in GA.mask_saturated(0.001)
    assert GA.mask_saturated(0.4) is None


def test_interpolation_and_animation_length():
    src, dst = torch.zeros(N_AUS), torch.ones(N_AUS)
    seq = GA.interpolate_aus(src, dst, 9)
    assert seq.shape == (9, N_AUS) and torch.equal(seq[0], src) and torch.equal(seq[-1], dst)
    assert (seq[1:, 0] >= seq[:-1, 0]).all()
    pipe = GA.GANimationPipeline(GA.Generator(**TINY))
    face = torch.rand(1, 3, 64, 64)
    frames = pipe.animate(face, seq, batch=4)
    assert frames.shape == (9, 3, 64, 64)
    assert torch.equal(frames[-1:], pipe(face, dst).image)  # frame k is the edit with AUs k


def test_openface_mapping():
    of = torch.zeros(1, len(GA.OPENFACE_AUS))
    of[0, GA.OPENFACE_AUS.index("AU12")] = 0.8
    of[0, GA.OPENFACE_AUS.index("AU10")] = 0.5  # not in SynthFaces: dropped
    sf = GA.openface_to_synthfaces(of)
    assert (
        sf.shape == (1, N_AUS)
        and float(sf[0, AU_INDEX["AU12"]]) == pytest.approx(0.8)
        and float(sf.sum()) == pytest.approx(0.8)
    )


@pytest.mark.parametrize(
    "images, aus",
    [
        (torch.rand(3, 64, 64), torch.rand(1, N_AUS)),  # no batch dim
        (torch.rand(1, 1, 64, 64), torch.rand(1, N_AUS)),  # grey
        (torch.rand(1, 3, 62, 62), torch.rand(1, N_AUS)),  # not a multiple of 4
        (torch.rand(1, 3, 64, 64), torch.rand(1, 3)),  # wrong AU count
        (torch.rand(1, 3, 64, 64), torch.full((1, N_AUS), float("nan"))),
        ("face.png", torch.rand(1, N_AUS)),
    ],
)
def test_bad_inputs_raise_clear_errors(images, aus):
    with pytest.raises(ValueError):
        GA.Generator(**TINY)(images, aus)


def test_pipeline_edits_with_one_target_or_one_per_face_and_checks_inputs():
    pipe = GA.GANimationPipeline(GA.Generator(**TINY))
    faces, target = torch.rand(2, 3, 64, 64), torch.rand(N_AUS)
    image, attention, colour = pipe(faces, target)  # one target for every face
    assert image.shape == colour.shape == (2, 3, 64, 64) and attention.shape == (2, 1, 64, 64)
    assert torch.equal(image, pipe(faces, target.expand(2, -1)).image)
    with pytest.raises(ValueError):
        pipe(faces, torch.rand(3, N_AUS))
    with pytest.raises(ValueError):
        pipe.animate(torch.rand(2, 3, 64, 64), torch.rand(4, N_AUS))
    with pytest.raises(ValueError):
        GA.interpolate_aus(torch.zeros(N_AUS), torch.ones(N_AUS), 1)


def test_training_runs_resumes_and_writes_a_hub_folder(tmp_path):
    from lgfa_lite.synthface.dataset import standard_faces

    data = standard_faces("train", 32)
    cfg = GA.GANimationConfig(
        steps=4,
        batch=2,
        conv_dim=8,
        repeat_num=1,
        critic_dim=8,
        n_critic=2,
        log_every=2,
        work_dir=str(tmp_path / "state"),
        out_dir=str(tmp_path / "out"),
        progress=False,
    )
    pipe, history = GA.train(cfg, data=data)
    assert len(history) == 2 and "mask_mean" in history[-1] and "d_au" in history[-1]
    assert pipe(data["image"][:1].float() / 255, GA.PRESETS["smiling"]).image.shape == (1, 3, 64, 64)
    pipe2, history2 = GA.train(GA.GANimationConfig(**{**cfg.__dict__, "steps": 6}), data=data)
    assert len(history2) == 3  # resumed: 4 -> 6
    loaded = GA.load(str(tmp_path / "out"))
    assert isinstance(loaded.generator, GA.Generator) and loaded.generator.config == pipe2.generator.config


def test_critic_warmup_holds_the_generator_back(tmp_path):
    from lgfa_lite.synthface.dataset import standard_faces

    cfg = GA.GANimationConfig(
        steps=6,
        batch=2,
        conv_dim=8,
        repeat_num=1,
        critic_dim=8,
        n_critic=1,
        log_every=1,
        critic_warmup=4,
        out_dir=str(tmp_path / "out"),
        work_dir=str(tmp_path / "state"),
        progress=False,
    )
    _, history = GA.train(cfg, data=standard_faces("train", 32))
    assert [("g_au" in row) for row in history] == [False] * 4 + [True] * 2


def test_command_line_reads_the_config_and_trains(monkeypatch):
    """`python -m lgfa_lite.methods.ganimation train --minutes N --opts KEY VAL ...`, as every method's."""
    seen = []
    monkeypatch.setattr(GA, "train", seen.append)
    GA.main(["train", "--steps", "9", "--minutes", "3", "--opts", "loss_weights.au", "40", "critic_warmup", "5"])
    (c,) = seen
    assert (c.steps, c.minutes, c.loss_weights["au"], c.loss_weights["cycle"], c.critic_warmup) == (
        9,
        3.0,
        40.0,
        10.0,
        5,
    )


# ------------------------------------------------------------------ the shipped checkpoint


@pytest.mark.skipif(not (hub.default_weights_dir() / GA.WEIGHTS).is_dir(), reason=f"{GA.WEIGHTS} is not shipped yet")
def test_shipped_edit_moves_aus_and_landmarks_toward_target():
    """On held-out faces of the world it learnt, asking for a smile moves the AU regressor's AU12
    reading up from asking for neutral, and edits toward other faces' AUs bring the brow, eye and
    mouth landmarks closer to the ground truth's than no edit; an untrained generator does neither."""
    from lgfa_lite.bench.group_ganimation import expression_nme, held_out_edits
    from lgfa_lite.nets import lite_weights

    pipe = GA.load()
    regressor = hub.load(lite_weights("au-synthfaces-64", pipe.world))
    faces, src, x, target, renders = held_out_edits(True, pipe.world)
    nme = expression_nme(faces, src, renders, pipe.world)
    x32, smile, neutral = x[:32], GA.PRESETS["smiling"], torch.zeros(N_AUS)

    def au12(G, aus):
        with torch.no_grad():
            return float(regressor(G(x32, aus).image)[:, AU_INDEX["AU12"]].mean())

    def closer(G):
        with torch.no_grad():
            return nme(G(x, target).image) < nme(x)

    assert au12(pipe, smile) > au12(pipe, neutral) + 0.15 and closer(pipe)
    untrained = GA.GANimationPipeline(GA.Generator(**pipe.generator.config))
    assert not au12(untrained, smile) > au12(untrained, neutral) + 0.15 and not closer(untrained)


def test_paired_term_is_zero_for_a_perfect_edit_and_trains_towards_the_pair(tmp_path):
    from lgfa_lite.synthface import FaceParams, au_vector, render
    from lgfa_lite.synthface.dataset import standard_faces

    face = FaceParams.identity(7)
    real = render(face, 64).image
    truth = render(face.replace(aus=au_vector({"AU12": 1.0, "AU06": 0.8})), 64).image
    mask = T.pair_mask(real, truth)
    assert 0.0 < float(mask.mean()) < 1.0  # a smile changes some pixels, not all
    perfect = mask * real + (1 - mask) * truth
    l1, mask_l1 = T.paired_loss(perfect, mask, real, truth)
    no_edit = float(T.paired_loss(real, torch.ones_like(mask), real, truth)[0])
    # v2 (measured): 0.0012 for the perfect edit (the mask's soft edge), 0.013 for no edit
    assert float(l1) < 0.15 * no_edit and float(mask_l1) == 0.0
    # focus weighs the changed pixels more: no edit costs more, a perfect edit still almost nothing
    assert float(T.paired_loss(perfect, mask, real, truth, focus=10)[0]) < 0.15 * no_edit
    plain, focused = (float(T.paired_loss(real, mask, real, truth, focus=f)[0]) for f in (0, 10))
    assert focused > 5 * plain
    # the truth of a dataset face is that face rendered again with the target AUs
    data = standard_faces("train", 32)
    idx = torch.tensor([3, 5])
    same = T.paired_truth(data, idx, data["aus"][idx].float(), 64)
    assert (same - data["image"][idx].float() / 255).abs().max() < 0.01
    cfg = GA.GANimationConfig(
        steps=2,
        batch=2,
        conv_dim=8,
        repeat_num=1,
        critic_dim=8,
        n_critic=1,
        log_every=1,
        out_dir=str(tmp_path / "out"),
        work_dir=str(tmp_path / "state"),
        progress=False,
        loss_weights={**GA.LOSS_WEIGHTS, "paired": 10.0, "paired_mask": 1.0, "paired_perceptual": 1.0},
    )
    _, history = GA.train(cfg, data=data)
    assert all("paired" in row and "paired_mask" in row and "paired_perceptual" in row for row in history)
    assert "paired (loss weights" in (tmp_path / "out" / "README.md").read_text()
