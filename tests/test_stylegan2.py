"""StyleGAN2 core: generator/discriminator behaviour, rosinality import, lite recipe, encoder."""

import argparse
import dataclasses
import re

import pytest
import torch

from lgfa_lite import hub
from lgfa_lite.nets import encoder as encoder_module
from lgfa_lite.nets import lite_weights
from lgfa_lite.nets import stylegan2 as lite
from lgfa_lite.nets.blocks import to_unit
from lgfa_lite.nets.encoder import LatentEncoder, invert
from lgfa_lite.nets.stylegan2 import Discriminator, Generator, convert_rosinality
from lgfa_lite.nets.stylegan2 import main as convert_main
from lgfa_lite.synthface import FaceParams, render
from lgfa_lite.train import stylegan2 as recipe

TINY = {4: 16, 8: 16, 16: 8}


def tiny_generator(**kw):
    torch.manual_seed(0)
    return Generator(16, style_dim=16, n_mlp=2, channels=TINY, **kw).eval()


def test_modulation_formulations_agree():
    G = tiny_generator()
    z = torch.randn(3, 16)
    with torch.no_grad():
        ours = G.set_fused(False)(z)
        grouped = G.set_fused(True)(z)
    assert ours.shape == (3, 3, 16, 16)
    assert torch.allclose(ours, grouped, atol=1e-5 * float(grouped.abs().max())), (ours - grouped).abs().max()
    # and the gradients the trainers use (ours fuses demodulation, noise, bias and gain into one pass)
    ws = G.to_wplus(G.mapping(z)).detach()
    noise = G.make_noise(torch.Generator().manual_seed(0))
    grads = []
    for fused in (False, True):
        G.set_fused(fused).zero_grad()
        w = ws.clone().requires_grad_(True)
        G.synthesis(w, noise).square().mean().backward()
        grads.append((w.grad, G.convs[0].conv.weight.grad.clone(), G.convs[0].noise.weight.grad.clone()))
    for a, b in zip(*grads):  # summation order differs by CPU and thread count: tolerance scaled to |b|
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max())), (a - b).abs().max()


def test_upsample_shortcut_is_upfirdn2d():
    from lgfa_lite.nets.stylegan2 import Upsample, upfirdn2d

    up, x = Upsample((1, 3, 3, 1)), torch.randn(2, 3, 5, 7)
    assert up.bilinear
    assert torch.allclose(up(x), upfirdn2d(x, up.kernel, up=2, pad=up.pad), atol=1e-6)


def test_z_w_and_wplus_inputs_agree_and_bad_shapes_are_refused():
    G = tiny_generator()
    z = torch.randn(2, 16)
    with torch.no_grad():
        w = G.mapping(z)
        a, b, c = G(z), G(w, input_is="w"), G(G.to_wplus(w), input_is="w+")
    assert torch.allclose(a, b) and torch.allclose(a, c)
    assert G.to_wplus(w).shape == (2, G.n_latent, 16)
    for bad, kind in ((torch.randn(2, 7), "z"), (torch.randn(2, 3, 16), "w+"), (torch.randn(2, 16), "latent")):
        with pytest.raises(ValueError):
            G(bad, input_is=kind)


def test_synthesis_skips_are_the_running_image_at_every_resolution():
    G = tiny_generator()
    ws = G.to_wplus(G.mapping(torch.randn(2, 16)))
    with torch.no_grad():
        skips = G.synthesis(ws, return_skips=True)
        assert [s.shape[-1] for s in skips] == [4, 8, 16]
        assert torch.equal(skips[-1], G.synthesis(ws))


def test_noise_modes_and_truncation():
    G = tiny_generator()
    for m in G.modules():  # noise strengths start at 0; make them matter
        if hasattr(m, "weight") and m.weight.shape == (1,):
            m.weight.data.fill_(0.5)
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(G(z), G(z))  # const noise: deterministic
        assert not torch.allclose(G(z, noise="random"), G(z, noise="random"))
        given = G.make_noise(torch.Generator().manual_seed(1))
        assert torch.equal(G(z, noise=given), G(z, noise=given))
        G.w_avg.normal_()
        same = G(torch.randn(4, 16), truncation=0.0)
    assert torch.allclose(same, same[:1].expand_as(same), atol=1e-6)  # everything collapses to w_avg


def test_w_avg_tracks_w_while_training_only():
    G = tiny_generator()
    z = torch.randn(64, 16)
    G.eval()(z)
    assert G.w_avg.abs().sum() == 0
    G.train()(z)
    assert G.w_avg.abs().sum() > 0


def test_discriminator_odd_batches_and_gradients():
    D = Discriminator(16, channels=TINY)
    x = torch.randn(6, 3, 16, 16, requires_grad=True)  # 6 is not a multiple of the stddev group 4
    out = D(x)
    assert out.shape == (6, 1)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def _rosinality_g_ema(size, style_dim, n_mlp, channel_multiplier=2):
    """A state dict with exactly rosinality's g_ema key names and shapes (written from its
    model.py layout, independently of our classes)."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier}
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g) * 0.1
    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"], sd[f"style.{i}.bias"] = r(style_dim, style_dim), r(style_dim)
    sd["input.input"] = r(1, ch[4], 4, 4)

    def styled(prefix, c_in, c_out, k=3, up=False, rgb=False):
        sd[f"{prefix}.conv.weight"] = r(1, c_out, c_in, k, k)
        sd[f"{prefix}.conv.modulation.weight"] = r(c_in, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = torch.ones(c_in)
        if up:
            sd[f"{prefix}.conv.blur.kernel"] = torch.ones(4, 4)
        if rgb:
            sd[f"{prefix}.bias"] = r(1, 3, 1, 1)
        else:
            sd[f"{prefix}.noise.weight"] = r(1)
            sd[f"{prefix}.activate.bias"] = r(c_out)

    styled("conv1", ch[4], ch[4])
    styled("to_rgb1", ch[4], 3, k=1, rgb=True)
    log_size = size.bit_length() - 1
    c_in, j = ch[4], 0
    for i in range(3, log_size + 1):
        c_out = ch[2**i]
        styled(f"convs.{2 * j}", c_in, c_out, up=True)
        styled(f"convs.{2 * j + 1}", c_out, c_out)
        styled(f"to_rgbs.{j}", c_out, 3, k=1, rgb=True)
        sd[f"to_rgbs.{j}.upsample.kernel"] = torch.ones(4, 4)
        c_in, j = c_out, j + 1
    for i in range((log_size - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        sd[f"noises.noise_{i}"] = r(1, 1, res, res)
    return sd


def test_convert_rosinality_layout(tmp_path):
    sd = _rosinality_g_ema(8, style_dim=32, n_mlp=2)
    G = convert_rosinality(sd, 8, style_dim=32, n_mlp=2, latent_avg=torch.full((1, 32), 0.5))
    assert torch.equal(G.convs[0].conv.weight, sd["convs.0.conv.weight"])
    assert torch.equal(G.style[2].weight, sd["style.2.weight"])
    assert torch.equal(G.noises.noise_2, sd["noises.noise_2"])
    assert torch.allclose(G.w_avg, torch.full((32,), 0.5))
    with torch.no_grad():
        assert torch.isfinite(G(torch.randn(1, 32))).all()
    broken = dict(sd)
    broken.pop("convs.1.noise.weight")
    with pytest.raises(ValueError, match="missing"):
        convert_rosinality(broken, 8, style_dim=32, n_mlp=2)

    # the CLI reads a rosinality .pt (args Namespace included) with weights_only and writes a Hub folder
    ckpt = tmp_path / "550000.pt"
    torch.save({"g_ema": sd, "args": argparse.Namespace(size=8), "latent_avg": torch.zeros(32)}, ckpt)
    convert_main([str(ckpt), str(tmp_path / "out"), "--size", "8", "--style-dim", "32", "--n-mlp", "2"])
    loaded = hub.load(tmp_path / "out")
    z = torch.randn(2, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(z), G(z), atol=1e-5)


def test_generator_hub_roundtrip(tmp_path):
    G = tiny_generator()
    hub.save(G, tmp_path / "g")
    back = hub.load(tmp_path / "g")
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(back(z), G(z))


def test_params_z_roundtrip():
    p = FaceParams.sample(8, seed=3)
    z = lite.params_to_z(p)
    assert z.shape == (8, lite.Z_DIM)
    assert abs(float(lite.sample_z(4096, seed=0).std()) - 1) < 0.25  # scaled to about unit variance
    back = lite.z_to_params(z)
    for k, v in p.clamped().tensors().items():
        assert torch.allclose(getattr(back, k), v, atol=1e-4), k


def test_generator_recipe_trains_and_resumes(tmp_path):
    c = recipe.GeneratorConfig(
        size=16,
        style_dim=16,
        n_mlp=2,
        channels={"4": 16, "8": 16, "16": 8},
        steps=3,
        batch=4,
        perceptual_weight=0.0,
        adv_weight=0.1,
        adv_after=1,
        multiscale_weight=1.0,
        r1_every=2,
        pl_weight=1.0,
        pl_every=2,
        work_dir=str(tmp_path / "state"),
        out_dir=str(tmp_path / "g"),
        progress=False,
        log_every=1,
        sample_every=2,
    )
    G, history = recipe.train_generator(c)
    assert [h["step"] for h in history] == [1, 2, 3]
    assert {"l1", "l1_coarse", "g_adv", "d", "r1", "path_length"} <= set().union(*history)
    assert "g_adv" not in history[0] and "g_adv" in history[-1]  # the discriminator joins after adv_after
    assert hub.load(tmp_path / "g").config["z_dim"] == lite.Z_DIM
    assert (tmp_path / "state-samples" / "000002.png").exists()
    _, history = recipe.train_generator(dataclasses.replace(c, steps=4))  # resumes at step 3
    assert history[-1]["step"] == 4 and len(history) == 4
    v2 = dataclasses.replace(c, steps=1, synthfaces="v2", work_dir=str(tmp_path / "v2"), out_dir=str(tmp_path / "g2"))
    recipe.train_generator(v2)
    assert "synthfaces-v2" in hub.read_card(tmp_path / "g2")["tags"]
    assert "(v2) render" in (tmp_path / "g2" / "README.md").read_text()


def test_au_pair_batches_differ_in_one_action_unit_and_train(tmp_path):
    """au_pair_weight: the second half of a batch is the first with one AU moved by >= 0.2, and
    nothing else; the recipe logs the pair-change loss."""
    z, images, landmarks = recipe.au_pair_batch(8, torch.Generator().manual_seed(0), 32)
    assert z.shape == (8, lite.Z_DIM) and images.shape == (8, 3, 32, 32) and landmarks.shape == (8, 68, 2)
    a, b = lite.z_to_params(z[:4]), lite.z_to_params(z[4:])
    moved = (a.aus - b.aus).abs()
    assert ((moved > 1e-4).sum(1) == 1).all() and (moved.amax(1) >= 0.2).all()
    for name in ("shape", "appearance", "jaw", "pose", "camera"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-5), name
    c = recipe.GeneratorConfig(size=16, style_dim=16, n_mlp=2, channels={"4": 16, "8": 16, "16": 8}, steps=2,
                               batch=4, adv_weight=0.0, au_pair_weight=5.0, work_dir=str(tmp_path / "a"),
                               out_dir=str(tmp_path / "g"), progress=False, log_every=1, sample_every=100)  # fmt: skip
    _, history = recipe.train_generator(c)
    assert all(h["au_pair"] > 0 for h in history)
    assert "5.0 x one-AU pair-change L1" in (tmp_path / "g" / "README.md").read_text()
    with pytest.raises(ValueError, match="even batch"):
        recipe.train_generator(dataclasses.replace(c, batch=3, work_dir=str(tmp_path / "odd")))
    assert not (tmp_path / "odd").exists()


def test_generator_and_encoder_recipes_start_from_a_checkpoint(tmp_path):
    """init: a new stage starts from a saved generator (D fresh) or encoder, not from scratch; a
    checkpoint of another architecture is refused before training."""
    c = recipe.GeneratorConfig(size=16, style_dim=16, n_mlp=2, channels={"4": 16, "8": 16, "16": 8}, steps=1,
                               batch=4, adv_weight=0.0, work_dir=str(tmp_path / "a"), out_dir=str(tmp_path / "g"),
                               progress=False, sample_every=100)  # fmt: skip
    recipe.train_generator(c)
    card = tmp_path / "g" / "README.md"  # say the start trained 100 minutes: the stage's card counts them
    card.write_text(re.sub(r"(type: train_minutes\n\s+value: )[\d.]+", r"\g<1>100.0", card.read_text()))
    assert hub.read_card(tmp_path / "g")["results"]["train_minutes"] == 100.0
    stage = dataclasses.replace(c, lr=0.0, seed=1, init=str(tmp_path / "g"), work_dir=str(tmp_path / "b"),
                                out_dir=str(tmp_path / "g2"))  # fmt: skip
    G, _ = recipe.train_generator(stage)  # lr 0: the stage's weights are its start's (w_avg moves on)
    assert f"started from `{tmp_path / 'g'}` (100.0 min before it)" in (tmp_path / "g2" / "README.md").read_text()
    assert hub.read_card(tmp_path / "g2")["results"]["train_minutes"] >= 100.0
    start = dict(hub.load(tmp_path / "g").named_parameters())
    assert all(torch.allclose(v.float(), start[k].float(), atol=1e-3) for k, v in G.named_parameters())
    with pytest.raises(ValueError, match="was built as"):
        recipe.train_generator(dataclasses.replace(stage, style_dim=8, work_dir=str(tmp_path / "c")))
    e = recipe.EncoderConfig(generator=str(tmp_path / "g"), steps=1, batch=2, work_dir=str(tmp_path / "e"),
                             out_dir=str(tmp_path / "enc"), progress=False)  # fmt: skip
    recipe.train_encoder(e)
    e2 = dataclasses.replace(e, lr=0.0, seed=1, init=str(tmp_path / "enc"), work_dir=str(tmp_path / "e2"),
                             out_dir=str(tmp_path / "enc2"))  # fmt: skip
    E, _ = recipe.train_encoder(e2)
    start = dict(hub.load(tmp_path / "enc").named_parameters())
    assert all(torch.allclose(v.float(), start[k].float(), atol=1e-3) for k, v in E.named_parameters())


def test_a_wider_generator_starts_drawing_what_the_narrow_one_draws(tmp_path):
    """init from a generator with fewer channels: the wider one draws the same images (new channels
    reach nothing yet), its new channels still get gradients, and narrower or other shapes are refused."""
    narrow = tiny_generator()
    wide = Generator(16, style_dim=16, n_mlp=2, channels={4: 16, 8: 32, 16: 16}).eval()
    recipe.widen_into(wide, narrow)
    z = torch.randn(3, 16)
    noise = narrow.make_noise(torch.Generator().manual_seed(0), 3)
    assert torch.allclose(wide(z, noise=noise), narrow(z, noise=noise), atol=1e-5)
    wide(z, noise=noise).square().mean().backward()
    grad = wide.to_rgbs[-1].conv.weight.grad[0, :, 8:]  # the last toRGB's weights on the 8 new channels
    assert wide.to_rgbs[-1].conv.weight[0, :, 8:].abs().max() == 0 and grad.abs().max() > 0
    hub.save(narrow, tmp_path / "narrow")
    recipe._start_from(wide, str(tmp_path / "narrow"))  # the training entry point's path
    assert torch.allclose(wide(z, noise=noise), narrow(z, noise=noise), atol=1e-3)  # fp16 weights
    hub.save(wide, tmp_path / "wide")
    for other in (narrow, tiny_generator(world="v2")):
        with pytest.raises(ValueError, match="was built as"):
            recipe._start_from(other, str(tmp_path / "wide"))


def test_encoder_shapes_and_refinement():
    G = tiny_generator()
    E = LatentEncoder(G.n_latent, 16, input_size=16, channels=(8, 8, 16, 16), hidden=32)
    images = torch.rand(2, 3, 16, 16)
    wplus, deltas = E(images, return_deltas=True)
    assert wplus.shape == (2, G.n_latent, 16) and deltas.shape == (2, G.n_latent - 1, 16)
    assert torch.allclose(wplus, wplus[:, :1].expand_as(wplus))  # deltas start at zero: codes in W
    with torch.no_grad():
        target = (G(torch.randn(2, 16)) + 1) / 2
        before = ((G.synthesis(invert(G, E, target)) + 1) / 2 - target).abs().mean()
    after = ((G.synthesis(invert(G, E, target, refine_steps=30, lr=0.05)) + 1) / 2 - target).abs().mean()
    assert after < before


def _shipped(name):
    try:
        return hub.resolve(name)
    except hub.CheckpointError:
        return None


WORLDS = ("v1", "v2")  # the shipped generator and encoder of each SynthFaces world (`lite_weights`)


def _world_checkpoint(name, world):
    """The world's checkpoint, or skip while it is not shipped."""
    if _shipped(lite_weights(name, world)) is None:
        pytest.skip(f"{lite_weights(name, world)} not shipped")
    return hub.load(lite_weights(name, world)).eval()


@pytest.mark.parametrize("world", WORLDS)
def test_shipped_generator_draws_the_faces_it_is_asked_for(world):
    G = _world_checkpoint(lite.GENERATOR_WEIGHTS, world)
    assert G.world == world
    p = FaceParams.sample(32, seed=777)
    with torch.no_grad():
        fake = to_unit(G(lite.params_to_z(p)))
    real = render(p, 64, world=G.world).image
    err = (fake - real).abs().mean()
    baseline = (real.mean(0, keepdim=True) - real).abs().mean()  # the mean face for everyone
    assert err < 0.6 * baseline, (err, baseline)


def test_shipped_v2_generator_draws_action_units_the_v1_one_does_not():
    """An AU of z set from 0 to 1 raises the AU regressor's reading of G(z) by more than 0.1 for
    several AUs (`au_response_readable`, each world read by its own regressor): on these 64 faces the
    shipped v2 generator 7 of 15 (4 before its perceptual leg), the v1 generator 1 (and 0 for an
    untrained one)."""
    from lgfa_lite.bench.group_generator import au_response

    G2 = _world_checkpoint(lite.GENERATOR_WEIGHTS, "v2")
    G1 = _world_checkpoint(lite.GENERATOR_WEIGHTS, "v1")
    readable = {
        w: au_response(G, 64, world=w, au_weights=lite_weights("au-synthfaces-64", w))["au_response_readable"]
        for w, G in (("v2", G2), ("v1", G1))
    }
    assert readable["v2"] >= 6 and readable["v1"] <= 2, readable


@pytest.mark.parametrize("world", WORLDS)
def test_shipped_encoder_reconstructs_held_out_faces(world):
    from lgfa_lite.synthface.dataset import identities

    G = _world_checkpoint(lite.GENERATOR_WEIGHTS, world)
    E = _world_checkpoint(encoder_module.ENCODER_WEIGHTS, world)
    p = FaceParams.sample(16, seed=5, identities=identities("test", 16))
    real = render(p, 64, world=G.world).image
    with torch.no_grad():
        recon = to_unit(G.synthesis(E(real)))
        avg = to_unit(G(G.w_avg[None].expand(16, -1), input_is="w"))
    assert (recon - real).abs().mean() < 0.6 * (avg - real).abs().mean()
