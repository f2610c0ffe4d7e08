"""AU-CLIP: layer groups, the magnitude fix (and the original's quirk), prompts, edits that follow the
target AUs once trained (and not before), animation, transfer, training and bad inputs."""

import pytest
import torch

from lgfa_lite.methods import auclip as A
from lgfa_lite.synthface import AU_INDEX, N_AUS
from lgfa_lite.synthface.captions import caption_words, words
from lgfa_lite.train import auclip as T


def mapper(**kw):
    torch.manual_seed(0)
    return A.AUMapper(**{"hidden": 16, "depth": 3, **kw})


def test_layer_groups_resplit_the_originals_coarse_medium_fine():
    assert A.layer_groups(18) == {"coarse": range(0, 4), "medium": range(4, 8), "fine": range(8, 18)}
    assert A.layer_groups(10) == {"coarse": range(0, 4), "medium": range(4, 8), "fine": range(8, 10)}
    assert len(A.layer_groups(8)["fine"]) == 0 and set(mapper(n_latent=8).mappers) == {"coarse", "medium"}


def test_mapper_shapes_one_offset_per_layer_group():
    m = mapper()
    out = m(torch.rand(3, N_AUS) - 0.5)
    assert out.shape == (3, 10, 128)
    for layers in A.layer_groups(10).values():  # a group's layers share its offset
        assert torch.equal(out[:, layers], out[:, layers.start : layers.start + 1].expand(-1, len(layers), -1))
    assert not torch.allclose(out[:, 0], out[:, 4]) and not torch.allclose(out[:, 4], out[:, 8])
    assert torch.equal(m(torch.zeros(2, N_AUS)), torch.zeros(2, 10, 128))  # zero increment: no edit


def test_magnitude_controls_the_offset_and_the_quirk_reduces_it_to_a_sign():
    g = torch.Generator().manual_seed(1)  # |elements| >= 0.1: PixelNorm's epsilon stays negligible at k = 0.25
    delta = (torch.rand(2, N_AUS, generator=g) * 0.4 + 0.1) * torch.randint(0, 2, (2, N_AUS), generator=g).mul(2).sub(1)
    for quirk in (False, True):
        m = mapper(sign_quirk=quirk)
        sizes = [float(m(k * delta).detach().norm()) for k in (0.25, 0.5, 1.0)]
        if quirk:  # the original: PixelNorm over identical layer copies = sign(Δau)
            assert sizes[0] == pytest.approx(sizes[2], rel=1e-4)
            assert torch.allclose(m.group_input(delta, 4), delta.sign(), atol=1e-4)
        else:
            assert sizes[0] < sizes[1] < sizes[2]
    linear = mapper(linear_magnitude=True)  # the recipe's: the offset scales exactly with Δau
    assert torch.allclose(linear(0.25 * delta), 0.25 * linear(delta), atol=1e-6)
    assert torch.equal(linear(torch.zeros(1, N_AUS)), torch.zeros(1, 10, 128))
    with pytest.raises(ValueError, match="excludes"):
        mapper(sign_quirk=True, linear_magnitude=True)
    quirk = linear.with_sign_quirk()  # the same weights, the original's normalisation
    assert quirk.sign_quirk and not quirk.linear_magnitude
    assert torch.allclose(quirk(0.25 * delta), quirk(delta), atol=1e-5)


def test_prompts_follow_the_original_and_use_the_lite_clips_words():
    aus = torch.zeros(2, N_AUS)
    aus[0, AU_INDEX["AU12"]], aus[0, AU_INDEX["AU06"]] = 0.9, 0.7
    aus[1, AU_INDEX["AU26"]], aus[1, AU_INDEX["AU25"]] = 0.9, 0.9
    (emo, au), (_, au_open) = A.prompts(aus, "original")
    assert emo == "smiling human face picture." and au.startswith("human face with lip corner puller")
    assert au.endswith("mouth closed, lips closed.") and "closed" not in au_open
    lite = A.prompts(aus)
    assert lite[0] == ("The person is smiling.", "The person is smiling. The person closes the mouth.")
    assert set(words(" ".join(p for pair in lite for p in pair))) <= caption_words()
    with pytest.raises(ValueError, match="prompt style"):
        A.prompts(aus, "poetic")


# ----------------------------------------------------------------------------- with the shipped nets


@pytest.fixture(scope="module")
def nets():
    return A.Frozen.load(
        "stylegan2-synthfaces2-64", "encoder-synthfaces2-64", "au-synthfaces2-64", "clip-synthfaces2-64",
        "identity-synthfaces2-64",
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(nets, tmp_path_factory):
    """A small mapper trained for 60 steps on 32 faces with the AU and latent terms (about 20 s)."""
    tmp = tmp_path_factory.mktemp("auclip")
    data = T.training_latents(nets, 32)
    cfg = A.AUCLIPConfig(
        steps=60,
        batch=8,
        lr=2.0,
        hidden=32,
        depth=2,
        loss_weights={"au": 1.0, "latent": 0.5},
        work_dir=str(tmp / "state"),
        out_dir=str(tmp / "out"),
        progress=False,
        log_every=20,
    )
    pipe, history = A.train(cfg, nets=nets, data=data)
    return pipe, history, cfg, data


def held_out():
    from lgfa_lite.synthface.dataset import images_of, standard_faces

    faces = standard_faces("test", 64, world="v1")  # the world of the v1 generator the tests use
    return images_of(faces, slice(0, 16)), faces["aus"][16:32].float()


def error_reduction(pipe, data) -> float:
    """1 - AU error of the edits / AU error of the reconstructions, on 32 random pairs of training faces."""
    g = torch.Generator().manual_seed(1)
    i, j = torch.randint(len(data["w"]), (2, 32), generator=g)
    target = data["aus"][j]
    edit = pipe(w=data["w"][i], delta=target - data["aus"][i])
    error = [float((pipe.read_aus(x) - target).abs().mean()) for x in (edit.image, edit.reconstruction)]
    return 1 - error[0] / error[1]


def test_all_four_losses_reach_the_mapper(nets, trained):
    data = trained[3]
    m = A.AUMapper(hidden=16, depth=2)
    logs = T.losses(m, nets, data["w"][:2], data["aus"][2:4] - data["aus"][:2], data["aus"][2:4],
                    data["text"][2:4], 0.2, A.LOSS_WEIGHTS)  # fmt: skip
    assert set(logs) == set(A.LOSS_WEIGHTS)
    sum(logs.values()).backward()
    weights = [p for name, p in m.named_parameters() if name.endswith("weight")]  # (the last bias cancels out)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_a_trained_edit_moves_the_au_reading_toward_the_target_and_an_untrained_one_does_not(nets, trained):
    pipe, history, _, data = trained
    assert history[-1]["au"] < history[0]["au"]
    torch.manual_seed(0)
    untrained = A.AUCLIPPipeline(A.AUMapper(hidden=32, depth=2), nets)
    assert error_reduction(pipe, data) > 0.05
    assert error_reduction(untrained, data) < 0.05


def test_training_resumes_and_writes_a_loadable_folder(trained):
    pipe, history, cfg, data = trained
    _, history2 = A.train(cfg, nets=pipe.nets, data=data)
    assert len(history2) == len(history)  # the saved state is at its step budget: no new step
    loaded = A.load(cfg.out_dir)
    delta = torch.rand(2, N_AUS) - 0.5
    assert torch.allclose(loaded.mapper(delta), pipe.mapper(delta), atol=1e-5)


def test_animation_goes_from_the_reconstruction_to_the_edit_and_transfer(trained):
    pipe = trained[0]
    x, target = held_out()
    edit = pipe(x[:1], target[0], alpha=0.3)
    for mode in ("delta", "alpha"):
        frames = pipe.animate(x[:1], target[0], frames=5, mode=mode, alpha=0.3)
        assert frames.shape == (5, 3, 64, 64)
        assert torch.allclose(frames[0], edit.reconstruction[0], atol=1e-5)
        assert torch.allclose(frames[-1], edit.image[0], atol=1e-5)
    assert pipe.transfer(x[:3], x[3:4]).image.shape == (3, 3, 64, 64)
    from_w = pipe(w=edit.w - 0.3 * pipe.mapper(edit.delta), delta=edit.delta, alpha=0.3)
    assert torch.allclose(from_w.image, edit.image, atol=1e-5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p, x: p(x, torch.rand(3)), "target AUs"),
        (lambda p, x: p(x, torch.full((N_AUS,), float("nan"))), "finite"),
        (lambda p, x: p(x, "smile"), "numbers"),
        (lambda p, x: p(x, torch.rand(N_AUS), alpha=float("inf")), "alpha"),
        (lambda p, x: p(x, torch.rand(N_AUS), alpha=50), "alpha"),
        (lambda p, x: p(x, torch.rand(N_AUS), alpha="much"), "alpha"),
        (lambda p, x: p(None, torch.rand(N_AUS)), "either a face"),
        (lambda p, x: p(x, torch.rand(N_AUS), w=torch.zeros(1, 10, 128)), "either a face"),
        (lambda p, x: p(w=torch.zeros(1, 9, 128), target_aus=torch.rand(N_AUS)), "W\\+ codes"),
        (lambda p, x: p(x), "either target AUs"),
        (lambda p, x: p(torch.rand(1, 1, 64, 64), torch.rand(N_AUS)), "shape"),
        (lambda p, x: p.animate(torch.cat([x, x]), torch.rand(N_AUS)), "one face"),
        (lambda p, x: p.animate(x, torch.rand(N_AUS), frames=1), "frames"),
        (lambda p, x: p.animate(x, torch.rand(N_AUS), mode="sideways"), "mode"),
        (lambda p, x: p.mapper(torch.rand(2, 3)), "Δau"),
    ],
)
def test_bad_inputs_raise_clear_errors(nets, call, match):
    pipe = A.AUCLIPPipeline(mapper(), nets)
    with pytest.raises(ValueError, match=match):
        call(pipe, torch.rand(1, 3, 64, 64))


def test_bench_spearman():
    from lgfa_lite.bench.group_auclip import spearman

    k = torch.tensor([0.25, 0.5, 0.75, 1.0])
    assert spearman(k, k * 3 + 1) == pytest.approx(1.0)
    assert spearman(k, -k) == pytest.approx(-1.0)
    assert spearman(k, torch.ones(4)) == 0.0  # the quirk's constant edit: no order at all
