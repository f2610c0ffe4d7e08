"""LGFA: recurrence, frame latents, losses, training steps and inference on tiny frozen nets."""

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from lgfa_lite import hub
from lgfa_lite.methods import lgfa as L
from lgfa_lite.nets import lite_weights
from lgfa_lite.nets.clip import TextImageModel
from lgfa_lite.nets.encoder import LatentEncoder
from lgfa_lite.nets.stylegan2 import Z_DIM, Generator
from lgfa_lite.train import lgfa as T


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    G = Generator(16, 16, 2, {4: 16, 8: 16, 16: 8}, z_dim=Z_DIM, normalize_z=False).eval()
    E = LatentEncoder(G.n_latent, 16, input_size=16, channels=(8, 8, 16, 16), hidden=32).eval()
    frozen = L.Frozen(TextImageModel().eval(), G, E)
    for m in (frozen.clip, G, E):
        m.requires_grad_(False)
    return frozen


def tiny_model(nets):
    torch.manual_seed(1)
    return L.LGFA(128, nets.generator.n_latent, 16, hidden=32, mapper_hidden=32)


def test_frame_zero_has_no_motion_and_frames_move(nets):
    model = tiny_model(nets)
    w = torch.randn(2, nets.generator.n_latent, 16)
    t, v = torch.nn.functional.normalize(torch.randn(2, 2, 128), dim=-1)
    out = model(w, t, None, frames=5)
    assert out["ws"].shape == (2, 5, nets.generator.n_latent, 16)
    assert torch.equal(out["ws"][:, 0], w)  # text only: frame 0 is the inversion itself
    assert (out["ws"][:, -1] - w).abs().sum() > 0
    fused = model(w, t, v, frames=5)
    assert torch.equal(fused["txt_ws"][:, 0], torch.zeros_like(w))
    assert torch.allclose(fused["ws"][:, 0], w + fused["img_ws"])


def test_motion_norm_eps_makes_the_first_step_small_and_is_saved(nets, tmp_path):
    """The original mapper's PixelNorm sends any small motion code to a unit vector, so frame 1 jumps
    as far for a tiny step as for a big one; a large eps keeps a small code's offset small."""
    w = torch.zeros(1, nets.generator.n_latent, 16)
    t = torch.nn.functional.normalize(torch.randn(1, 128), dim=-1)

    def first_offset(model, scale):  # |txt_ws| at frame 1 with the steps scaled down
        model.rnn.fc2.weight.data.mul_(scale), model.rnn.fc2.bias.data.mul_(scale)
        with torch.no_grad():
            return float(model(w, t, None, frames=3, h0=torch.zeros(1, 32))["txt_ws"][0, 1].norm())

    for eps, small in ((1e-8, False), (1.0, True)):
        torch.manual_seed(1)
        model = L.LGFA(128, nets.generator.n_latent, 16, hidden=32, mapper_hidden=32, motion_norm_eps=eps)
        big, tiny = first_offset(model, 1.0), first_offset(model, 1e-2)
        assert (tiny < 0.05 * big) == small, (eps, big, tiny)
    hub.save(model, tmp_path / "m")
    loaded = hub.load(tmp_path / "m")
    assert loaded.config["motion_norm_eps"] == 1.0 and loaded.text_mapper.net[0].eps == 1.0
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="motion_norm_eps"):
            L.LGFA(128, nets.generator.n_latent, 16, hidden=32, mapper_hidden=32, motion_norm_eps=bad)


def test_schedules_shrink_late_steps():
    assert L.schedule_factor("linear", 1, 16) == pytest.approx(15 / 16)
    for name in L.SCHEDULES:
        assert 0 <= L.schedule_factor(name, 15, 16) <= L.schedule_factor(name, 1, 16) <= 1
    with pytest.raises(ValueError, match="schedule"):
        L.schedule_factor("cubic", 1, 4)


def test_contrastive_loss_prefers_matching_pairs():
    e = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    assert T.contrastive_clip_loss(e, e) < T.contrastive_clip_loss(e, e.roll(1, 0))
    rows = torch.tensor([True] + [False] * (len(e) - 1))
    wrong_first = torch.cat([e.roll(1, 0)[:1], e[1:]])
    assert T.contrastive_clip_loss(e, e, rows=rows) < T.contrastive_clip_loss(wrong_first, e, rows=rows)
    other_wrong = torch.cat([e[:1], e.roll(1, 0)[1:]])  # the rows left out do not count
    assert torch.isclose(T.contrastive_clip_loss(other_wrong, e, rows=rows), T.contrastive_clip_loss(e, e, rows=rows))


def test_latent_losses():
    model_out = {"txt_ws": torch.zeros(2, 4, 3, 5), "ws": torch.ones(2, 4, 3, 5)}
    logs = T.latent_losses(model_out, torch.ones(2, 3, 5))
    assert all(float(v) == 0 for v in logs.values())
    model_out["txt_ws"] = torch.arange(4.0).view(1, 4, 1, 1).expand(2, 4, 3, 5)  # constant velocity
    assert float(T.latent_losses(model_out, torch.ones(2, 3, 5))["smoothness"]) == 0
    model_out["ws"] = torch.ones(2, 4, 3, 5) + 0.5  # every element off by 0.5: the mean square, not the sum
    assert float(T.latent_losses(model_out, torch.ones(2, 3, 5))["latent"]) == pytest.approx(0.25)


def test_pipeline_frames_seed_and_bad_input(nets):
    pipe = L.LGFAPipeline(tiny_model(nets), nets)
    face = torch.rand(1, 3, 16, 16)
    a = pipe(face, "The person is smiling.", frames=6, seed=3)
    assert a.shape == (6, 3, 16, 16) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, pipe(face, "The person is smiling.", frames=6, seed=3))
    assert not torch.equal(a, pipe(face, "The person is smiling.", frames=6, seed=4))
    assert pipe(None, "x" * 5000, frames=2, seed=0).shape[0] == 2  # long prompt, random face
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            pipe(face, bad)
    with pytest.raises(ValueError, match="frames"):
        pipe(face, "smile", frames=0)
    with pytest.raises(ValueError, match="schedule"):
        pipe(face, "smile", schedule="cubic")


def test_training_steps_and_resume(nets, tmp_path):
    images = torch.rand(6, 3, 16, 16)
    with torch.no_grad():
        data = {"image": images, "w": nets.encoder(images), "v": nets.clip.encode_image(images)}
    cfg = L.LGFAConfig(
        steps=2,
        batch=3,
        frames=3,
        hidden=32,
        log_every=1,
        progress=False,
        work_dir=str(tmp_path / "state"),
        out_dir=str(tmp_path / "lgfa"),
    )
    pipe, history = L.train(cfg, nets=nets, data=data)
    assert len(history) == 2 and {"smoothness", "loop", "latent", "clip"} <= set(history[-1])
    assert hub.load(tmp_path / "lgfa").config["hidden"] == 32
    assert pipe(data["image"][:1], "The person nods.", frames=3).shape == (3, 3, 16, 16)  # it animates at once
    _, history = L.train(dataclasses.replace(cfg, steps=3, lr=5e-4), nets=nets, data=data)
    assert history[-1]["step"] == 3
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["optimizers"]["lgfa"]["param_groups"][0]["lr"] == 5e-4  # a resumed stage runs at its own lr


def test_apex_targets_guide_out_and_back_motions_at_their_apex(nets, tmp_path):
    sentences, targets = T.apex_targets(16)
    by_prompt = {p: [(k, sentences[j]) for k, j in rows] for p, rows in zip(L.PROMPTS, targets)}
    assert {s for _, s in by_prompt["The person nods."]} == {"The person looks down."}
    shake = by_prompt["The person shakes the head."]
    assert [s for _, s in shake][0] == "The person turns left." and [s for _, s in shake][
        -1
    ] == "The person turns right."
    assert {s for _, s in by_prompt["The person winks."]} == {"The person is winking."}
    assert all(0 < k < 15 for rows in by_prompt.values() for k, _ in rows)
    assert (
        not by_prompt["The person smiles."] and not by_prompt["The person tilts the head."]
    )  # the last frame shows these
    # trains with the term on (and the inference schedule), logging it
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        data = {"image": images, "w": nets.encoder(images), "v": nets.clip.encode_image(images)}
    cfg = L.LGFAConfig(
        steps=3,
        batch=4,
        frames=16,
        hidden=32,
        log_every=1,
        progress=False,
        schedule="linear",
        loss_weights={**L.LOSS_WEIGHTS, "clip_apex": 1.0},
        work_dir=str(tmp_path / "s"),
        out_dir=str(tmp_path / "o"),
    )
    _, history = L.train(cfg, nets=nets, data=data)
    assert all(torch.isfinite(torch.tensor(h["clip_apex"])) for h in history)


def test_motion_pairs_hold_the_true_motions_in_w_plus(nets, tmp_path):
    assert set(T.HEAD_MOTIONS) == {"turn left", "turn right", "look up", "look down", "nod", "shake head", "tilt"}
    pairs = T.motion_pairs(nets, 40, 2, 16)
    n = len(T.HEAD_MOTIONS)
    assert pairs["w"].shape == (2, nets.generator.n_latent, 16) and pairs["v"].shape == (2, 128)
    assert pairs["face"].tolist() == [0] * n + [1] * n and pairs["frames"].tolist() == [4, 8, 11, 15]
    assert [L.PROMPTS[p] for p in pairs["prompt"][:n]] == [f"The person {L.MOTIONS[m].verb}." for m in T.HEAD_MOTIONS]
    assert pairs["delta"].shape == (2 * n, 4, nets.generator.n_latent, 16)
    # a nod comes back to the first frame's face, a look down stays down
    nod, down = pairs["delta"][T.HEAD_MOTIONS.index("nod")], pairs["delta"][T.HEAD_MOTIONS.index("look down")]
    assert nod[-1].abs().max() < 1e-4 < nod[1].abs().max() and down[-1].abs().max() > 1e-4
    # the expressions' paths: every motion with AUs, a wink (a pulse) back at its start at the end
    assert set(T.EXPRESSION_MOTIONS) == set(L.MOTIONS) - set(T.HEAD_MOTIONS) and "smile" in T.EXPRESSION_MOTIONS
    expr = T.motion_pairs(nets, 40, 1, 16, T.EXPRESSION_MOTIONS)
    wink = expr["delta"][T.EXPRESSION_MOTIONS.index("wink")]
    smile = expr["delta"][T.EXPRESSION_MOTIONS.index("smile")]
    assert wink[-1].abs().max() < 1e-7 < min(wink[1].abs().max(), smile[-1].abs().max())  # a random encoder: small
    # trains with the term on, logging it
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        data = {"image": images, "w": nets.encoder(images), "v": nets.clip.encode_image(images)}
    cfg = L.LGFAConfig(
        steps=2,
        batch=4,
        frames=16,
        hidden=32,
        log_every=1,
        progress=False,
        schedule="linear",
        train_faces=40,
        pair_faces=2,
        loss_weights={**L.LOSS_WEIGHTS, "head_pairs": 1.0, "expression_pairs": 1.0},
        work_dir=str(tmp_path / "s"),
        out_dir=str(tmp_path / "o"),
    )
    _, history = L.train(cfg, nets=nets, data=data)
    assert all(h["head_pairs"] > 0 and h["expression_pairs"] > 0 for h in history)


def train_term_alone(term, nets, data, tmp_path):
    """(animator after 1 step, after 25, history): trained on one loss term alone, 4 faces, 8 frames."""
    only = {k: 0.0 for k in L.LOSS_WEIGHTS} | {term: 1.0}
    cfg = L.LGFAConfig(
        steps=1,
        batch=4,
        frames=8,
        hidden=32,
        lr=3e-3,
        log_every=1,
        progress=False,
        schedule="linear",
        loss_weights=only,
        work_dir=str(tmp_path / "s"),
        out_dir=str(tmp_path / "o"),
    )
    first, _ = L.train(cfg, nets=nets, data=data)
    first = copy.deepcopy(first.model)
    pipe, history = L.train(dataclasses.replace(cfg, steps=25), nets=nets, data=data)  # resumes: 24 more steps
    return first, pipe.model, history


def test_identity_steps_term_keeps_the_identity_from_frame_to_frame(nets, tmp_path):
    from lgfa_lite.bench.group_lgfa import consecutive_distance
    from lgfa_lite.nets.identity import IdentityNet

    torch.manual_seed(2)
    with_id = dataclasses.replace(nets, identity=IdentityNet(16, (8, 8, 16, 16), 16).eval().requires_grad_(False))
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        data = {"image": images, "w": nets.encoder(images), "v": nets.clip.encode_image(images)}
    text = nets.clip.encode_text(L.PROMPTS[:4])

    def acd(model):  # mean over the 4 faces, each with its own prompt
        with torch.no_grad():
            ws = model(data["w"], text, data["v"], 8, torch.zeros(4, 32), "linear")["ws"]
            return sum(consecutive_distance(with_id.identity(with_id.decode(w))) for w in ws) / 4

    first, model, history = train_term_alone("identity_steps", with_id, data, tmp_path)
    assert history[-1]["step"] == 25 and all(h["identity_steps"] >= 0 for h in history)
    assert acd(model) < 0.5 * acd(first)


def test_colour_term_keeps_the_colours_of_the_first_frame(nets, tmp_path):
    from lgfa_lite.nets.blocks import chroma

    torch.manual_seed(3)
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        data = {"image": images, "w": nets.encoder(images), "v": nets.clip.encode_image(images)}
    text = nets.clip.encode_text(L.PROMPTS[:4])

    def colour_change(model):  # last frame vs first, mean |CbCr|
        with torch.no_grad():
            ws = model(data["w"], text, data["v"], 8, torch.zeros(4, 32), "linear")["ws"]
            return float((chroma(nets.decode(ws[:, -1])) - chroma(nets.decode(ws[:, 0]))).abs().mean())

    first, model, history = train_term_alone("colour", nets, data, tmp_path)
    assert history[-1]["step"] == 25 and all(h["colour"] >= 0 for h in history)
    assert colour_change(model) < 0.5 * colour_change(first)


def test_clip_fine_tuning_trains_the_text_tower_and_ships_it_with_the_animator(nets, tmp_path):
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        data = {"image": images, "w": nets.encoder(images), "v": nets.clip.encode_image(images)}
        text_before, image_before = nets.clip.encode_text(L.PROMPTS), nets.clip.encode_image(images)
    cfg = L.LGFAConfig(
        steps=3,
        batch=4,
        frames=3,
        hidden=32,
        log_every=1,
        progress=False,
        clip_lr=1e-3,
        work_dir=str(tmp_path / "s"),
        out_dir=str(tmp_path / "o"),
    )
    model = L.train(cfg, nets=nets, data=data)[0].model
    with torch.no_grad():
        assert torch.equal(nets.clip.encode_text(L.PROMPTS), text_before)  # the caller's CLIP is untouched
        assert (model.clip.encode_text(L.PROMPTS) - text_before).abs().max() > 1e-3  # the text tower moved
        assert torch.equal(model.clip.encode_image(images), image_before)  # the judge did not
        loaded = hub.load(tmp_path / "o")
        assert torch.allclose(loaded.clip.encode_text(L.PROMPTS), model.clip.encode_text(L.PROMPTS), atol=5e-3)
    # a later stage starts from it, and a fine-tuning stage starts from an animator with a frozen CLIP
    cfg2 = dataclasses.replace(
        cfg, steps=1, init=str(tmp_path / "o"), work_dir=str(tmp_path / "s2"), out_dir=str(tmp_path / "o2")
    )
    assert L.train(cfg2, nets=nets, data=data)[0].model.clip is not None
    frozen = dataclasses.replace(cfg, clip_lr=0.0, steps=1, work_dir="", out_dir=str(tmp_path / "f"))
    assert L.train(frozen, nets=nets, data=data)[0].model.clip is None
    again = dataclasses.replace(cfg2, init=str(tmp_path / "f"), work_dir="", out_dir=str(tmp_path / "o3"))
    start = hub.load(tmp_path / "f").state_dict()
    model3 = L.LGFA(128, nets.generator.n_latent, 16, hidden=32, clip_config=nets.clip.config)
    T.load_init(model3, str(tmp_path / "f"))
    assert torch.equal(model3.rnn.fc1.weight, start["rnn.fc1.weight"].float())
    assert L.train(again, nets=nets, data=data)[0].model.clip is not None
    with pytest.raises(hub.CheckpointError):
        T.load_init(model3, str(tmp_path / "nothing"))
    # an animator of another CLIP (its copy in another architecture): its own layers load, the CLIP stays
    wider = L.LGFA(128, nets.generator.n_latent, 16, hidden=32, clip_config={"model_name": "lgfa-small-clip"})
    clip_before = {k: v.clone() for k, v in wider.clip.state_dict().items()}
    T.load_init(wider, str(tmp_path / "o"))
    assert torch.equal(wider.rnn.fc1.weight, hub.load(tmp_path / "o").rnn.fc1.weight)
    assert all(torch.equal(v, wider.clip.state_dict()[k]) for k, v in clip_before.items())


def test_prompts_cover_lgfa_words_and_motions():
    assert "The person is smiling." in L.PROMPTS and "The person nods." in L.PROMPTS
    assert not any("wtf" in p for p in L.PROMPTS)  # words SynthFaces cannot show are left out


def test_command_line_reads_the_config_and_trains(monkeypatch):
    """`python -m lgfa_lite.methods.lgfa train --minutes N --opts KEY VAL ...`, as every method's."""
    seen = []
    monkeypatch.setattr(L, "train", seen.append)
    L.main(["train", "--minutes", "2", "--opts", "loss_weights.clip", "2.0", "schedule", "linear"])
    (c,) = seen
    assert (c.minutes, c.loss_weights["clip"], c.loss_weights["perceptual"], c.schedule) == (2.0, 2.0, 1.0, "linear")
    with pytest.raises(ValueError, match="unknown option 'weights.clip'"):  # the loss weights' old name
        L.main(["train", "--opts", "weights.clip", "2.0"])
    with pytest.raises(SystemExit):
        L.main(["--minutes", "2"])  # no command


def test_inference_imports_no_training_code():
    """The methods' pipelines and the Space's tabs run without `lgfa_lite.train` (the recipes import it)."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "import demos.ganimation, demos.lgfa\n"
        "from lgfa_lite.methods import ganimation, lgfa\n"
        "pipe = ganimation.GANimationPipeline(ganimation.Generator(conv_dim=8, repeat_num=1))\n"
        "pipe(torch.rand(1, 3, 16, 16), ganimation.PRESETS['smiling'])\n"
        f"if {(hub.default_weights_dir() / L.WEIGHTS).is_dir()}:\n"
        "    lgfa.load()(None, 'The person nods.', frames=2)\n"
        "print(sorted(m for m in sys.modules if m.startswith('lgfa_lite.train')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_benchmark_reads_every_motion_from_its_true_trajectory():
    """The `lgfa` benchmark's motion reader is right on ground truth (so its accuracy measures
    the animator, not the reader), including nod vs look down and shake head vs turn left."""
    from lgfa_lite.bench.group_lgfa import motion_templates, read_motion, trajectory_vector
    from lgfa_lite.synthface import FaceParams, motion_clip

    names, templates = motion_templates()
    assert len(names) >= 12
    for seed in range(3):
        face = FaceParams.sample(1, seed=seed)
        for name in names:
            seq, _ = motion_clip(face, name, 16)
            assert read_motion(trajectory_vector(seq.aus, seq.pose), names, templates) == name
    still = torch.zeros(16, 15), torch.zeros(16, 3)
    assert read_motion(trajectory_vector(*still), names, templates) in names  # no motion: still an answer


def test_benchmark_keyframe_walk_follows_a_clips_turns_in_straight_lines():
    from lgfa_lite.bench.group_lgfa import keyframe_walk

    t = torch.arange(9.0)
    nod = torch.stack([torch.minimum(t, 8 - t), 0.1 * t], 1)[:, None]  # down to frame 4 and back, (T, 1, 2)
    assert torch.allclose(keyframe_walk(nod, 1), nod)
    assert torch.allclose(keyframe_walk(nod, 0)[:, 0, 0], torch.zeros(9))  # first -> last: no nod at all
    shake = torch.sin(t * torch.pi / 4)[:, None, None]  # there (frame 2), through, back (frame 6)
    keys = keyframe_walk(shake, 2)[:, 0, 0]
    assert keys[2] == pytest.approx(1) and keys[6] == pytest.approx(-1) and keys[4] == pytest.approx(0, abs=1e-6)


def test_benchmark_keyframe_walk_is_a_floor_on_squared_steps():
    """Why the acd baseline is hard to beat: with a Euclidean step cost, no path through the same key
    frames at the same frame numbers has a smaller sum of squared steps than the walk."""
    from lgfa_lite.bench.group_lgfa import keyframe_walk

    def energy(p):  # sum of squared steps
        return float((p[1:] - p[:-1]).pow(2).sum())

    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        path = torch.randn(16, 3, 4, generator=g).cumsum(0)
        for keys in (0, 1, 2):
            walk = keyframe_walk(path, keys)
            assert energy(walk) <= energy(path) + 1e-9
            assert torch.allclose(walk[[0, -1]], path[[0, -1]])


def test_benchmark_change_vs_truth_tells_a_real_edit_from_paint():
    from lgfa_lite.bench.group_lgfa import change_vs_truth, summarize_changes, with_first_frame_colour
    from lgfa_lite.nets.blocks import chroma

    g = torch.Generator().manual_seed(0)
    first = torch.rand(1, 3, 16, 16, generator=g) * 0.5 + 0.25
    truth = torch.cat([first, first.clone()])
    truth[1, :, 4:8, 4:8] -= 0.2  # a grey, local change (a mouth opening)
    cos, size, true_size, colour, true_colour = change_vs_truth(truth.clone(), truth)
    assert cos == pytest.approx(1) and size == pytest.approx(true_size) and colour == pytest.approx(true_colour)
    paint = torch.cat([first, first.clone()])
    paint[1, 1, :, :] += 0.05  # a green wash over everything
    cos, size, true_size, colour, true_colour = change_vs_truth(paint, truth)
    assert abs(cos) < 0.3 and colour > 5 * true_colour
    assert torch.allclose(with_first_frame_colour(truth), truth, atol=1e-5)  # a grey change keeps its colour
    washed = with_first_frame_colour(paint)
    assert torch.allclose(chroma(washed[1:]), chroma(paint[:1]), atol=1e-5)  # the wash's colour is gone,
    assert not torch.allclose(washed[1], paint[0])  # its brightness is not
    summary = summarize_changes([change_vs_truth(paint, truth), change_vs_truth(truth, truth)])
    assert summary["size_vs_truth"] == pytest.approx((size + true_size) / (2 * true_size))  # totals, not per clip
    assert summary["colour_vs_truth"] == pytest.approx((colour + true_colour) / (2 * true_colour))
    assert summary["cosine"] == pytest.approx((cos + 1) / 2)


def test_benchmark_reads_rendered_motions_with_the_shipped_perception_nets():
    """The reader the benchmark applies to videos (AU regressor + fitter) on rendered ground-truth
    clips of faces it never saw: most of the 18 motions are read right, expressions included.
    (The fitter's own AU head read none of the 11 expression motions here: 7 of 18 at best.)"""
    from lgfa_lite.bench.group_lgfa import motion_templates, read_motion, read_video
    from lgfa_lite.synthface import MOTIONS, FaceParams, motion_clip, render

    fitter = hub.load("fitter-synthfaces-64").eval()
    au_net = hub.load("au-synthfaces-64").eval()
    names, templates = motion_templates()
    read = {n: 0 for n in names}
    with torch.no_grad():
        for seed in range(3):  # random faces: their own expression and pose are the clip's start
            face = FaceParams.sample(1, seed=700 + seed)
            for name in names:
                video = render(motion_clip(face, name, 16)[0], 64, world="v1").image  # the v1 judges' world
                read[name] += read_motion(read_video(video, fitter, au_net)[0], names, templates) == name
    # measured on 10 faces: 0.82 of all clips (the fitter's AU head: 0.37, no expression right)
    expressions = [n for n in names if MOTIONS[n].aus]
    assert sum(read.values()) >= 0.6 * 3 * len(names), read
    assert sum(read[n] for n in expressions) >= 0.5 * 3 * len(expressions), read


@pytest.mark.skipif(
    not (hub.default_weights_dir() / L.WEIGHTS / "config.json").exists(),
    reason="the lite LGFA checkpoint is not shipped",
)
def test_shipped_animator_turns_the_head_the_way_the_prompt_says():
    """On faces it never saw, "turns left" and "turns right" move the yaw the lite fitter reads
    in opposite directions (an untrained animator moves neither way)."""
    from lgfa_lite.synthface import FaceParams, render

    pipe = L.load()
    fitter = hub.load(lite_weights("fitter-synthfaces-64", pipe.world)).eval()
    p = FaceParams.sample(4, seed=2024)
    faces = render(p.replace(aus=torch.zeros_like(p.aus), pose=torch.zeros_like(p.pose)), 64, world=pipe.world).image
    with torch.no_grad():

        def yaw_change(prompt):
            videos = [pipe(face[None], prompt, 16, seed=0) for face in faces]
            return torch.stack([fitter(v[-1:]).pose[0, 0] - fitter(v[:1]).pose[0, 0] for v in videos])

        left, right = yaw_change("The person turns left."), yaw_change("The person turns right.")
    assert left.mean() > 5 and right.mean() < -5, (left, right)


def test_shipped_animator_nods_down_and_back_but_looks_down_and_stays():
    """A nod and a look down start alike (the frozen lite CLIP's texts for them are 0.998 alike); the
    shipped animator's fine-tuned text tower tells them apart: the nod's pitch, as the lite fitter reads
    it, comes back most of the way by the last frame, the look down's does not."""
    from lgfa_lite.synthface import FaceParams, render

    pipe = L.load()
    assert pipe.model.clip is not None and pipe.nets.clip is pipe.model.clip
    fitter = hub.load(lite_weights("fitter-synthfaces-64", pipe.world)).eval()
    p = FaceParams.sample(4, seed=2024)
    faces = render(p.replace(aus=torch.zeros_like(p.aus), pose=torch.zeros_like(p.pose)), 64, world=pipe.world).image
    with torch.no_grad():

        def pitch_path(prompt):  # pitch change at mid-clip and at the end, mean over the faces
            videos = [pipe(face[None], prompt, 16, seed=0) for face in faces]
            return torch.stack([fitter(v[[0, 8, 15]]).pose[:, 1] for v in videos]).diff(dim=1).cumsum(1).mean(0)

        nod, down = pitch_path("The person nods."), pitch_path("The person looks down.")
    assert nod[0] < -4 and down[0] < -4, (nod, down)  # both look down by mid-clip
    assert nod[1].abs() < 0.5 * nod[0].abs() and down[1].abs() > 0.7 * down[0].abs(), (nod, down)


def test_paraphrases_are_new_sentences_of_known_words():
    """`motion_accuracy_paraphrases` asks with one sentence per motion that no training prompt is, made
    of words the lite CLIP was trained on (an unknown word would test the tokenizer, not the animator)."""
    from lgfa_lite.bench.group_lgfa import PARAPHRASES
    from lgfa_lite.synthface.captions import caption_words, words

    assert list(PARAPHRASES) == list(L.MOTIONS)
    assert not set(PARAPHRASES.values()) & set(L.PROMPTS) and len(set(PARAPHRASES.values())) == len(PARAPHRASES)
    for sentence in PARAPHRASES.values():
        assert set(words(sentence)) <= caption_words(), sentence
