"""GDPW: guidance rasterization, the generator's start as a mesh warp, editing, video I/O, bad inputs."""

import numpy as np
import pytest
import torch

from lgfa_lite import hub
from lgfa_lite.methods import gdpw as GD
from lgfa_lite.synthface import FaceParams, render
from lgfa_lite.train import gdpw as recipe


def _pair(n=4, seed=0, split="test", world="v1"):
    """Pairs in `world`: v1 is the world of `GDPWGenerator()`'s default pipeline (and of its
    fitter); tests of the shipped checkpoint pass its own (`shipped.world`)."""
    return recipe.sample_pairs(n, torch.Generator().manual_seed(seed), 64, world=world, split=split)


def test_rasterized_flow_of_a_known_shift():
    """Moving the camera by tx shifts every projected vertex by the same pixels: the backward
    flow is that constant on the driving face and zero off it."""
    source = FaceParams.identity(7)
    driving = source.replace(camera=source.camera + torch.tensor([0.0, 0.1, 0.0]))
    g = GD.rasterize_pair(source, driving, 64)
    r = GD._renderer(64, None)
    shift = (r.mesh(source)[1][..., :2] - r.mesh(driving)[1][..., :2]) * (2 / 64)  # grid units
    assert torch.allclose(shift, shift[:, :1], atol=1e-4)  # a pure translation
    inside = g["mask"][0, 0] > 0
    flow = g["flow"][0].permute(1, 2, 0)
    assert torch.allclose(flow[inside], shift[0, 0].expand(int(inside.sum()), 2), atol=1e-4)
    assert flow[~inside].abs().max() == 0
    assert inside.sum() > 500


def test_identity_warp_when_source_is_driving():
    source, _, image, _ = _pair()
    g = GD.rasterize_pair(source, source, 64)
    assert g["flow"].abs().max() == 0
    assert torch.allclose(GD.warp(image, g["flow"]), image, atol=1e-5)
    for guidance in GD.GUIDANCE:  # an untrained generator starts as the mesh warp
        out, flows = GD.GDPWGenerator(64, guidance).eval()(image, g)
        assert torch.allclose(out, image, atol=1e-5) and len(flows) == 4


def test_driving_geometry_keeps_the_source_shape():
    a, b = FaceParams.sample(3, seed=1), FaceParams.sample(3, seed=2)
    geom = GD.driving_geometry(a, b)
    assert torch.equal(geom.shape, a.shape) and torch.equal(geom.appearance, a.appearance)
    assert torch.equal(geom.pose, b.pose) and torch.equal(geom.aus, b.aus) and torch.equal(geom.camera, b.camera)
    assert GD.driving_geometry(a[:1], b).shape.shape == (3, 24)


def test_training_steps_and_checkpoint(tmp_path):
    config = GD.GDPWConfig(steps=2, batch=2, work_dir="", out_dir=str(tmp_path / "g"), progress=False, log_every=1)
    pipe, history = GD.train(config)
    assert {"l1", "perceptual", "warp", "g_gan", "feature_matching", "d"} <= set(history[-1])
    again = GD.load(str(tmp_path / "g"))
    source, driving, image, _ = _pair(2)
    a, _ = pipe(image[:1], source[:1], driving)
    b, _ = again(image[:1], source[:1], driving)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.fixture(scope="module")
def shipped():
    try:
        return GD.load()
    except hub.CheckpointError:
        pytest.skip("no GDPW checkpoint shipped")


def test_trained_model_beats_the_mesh_warp(shipped):
    """Held-out identities with true geometry: the trained net is closer to the exact driving
    render than the source warped by the mesh flow (an untrained net equals that warp)."""
    source, driving, image, truth = _pair(8, seed=5, world=shipped.world)
    ours, warped = [], []
    for i in range(8):
        ours.append(shipped(image[i : i + 1], source[i], driving[i])[0])
        warped.append(shipped.mesh_warp(image[i : i + 1], source[i], driving[i]))
    l1 = lambda x: float((torch.cat(x) - truth).abs().mean())  # noqa: E731
    assert l1(ours) < 0.9 * l1(warped)


def test_edits_move_the_geometry_and_reset(shipped):
    source, _, image, _ = _pair(1, seed=6, world=shipped.world)
    assert (shipped.edit(image, source) - image).abs().mean() < 0.02  # no edit: (almost) the input
    turned = shipped.edit(image, source, yaw=25, jaw=12, aus={"AU12": 0.9})
    assert turned.shape == image.shape and (turned - image).abs().mean() > 0.01
    p = GD.edited_params(source, yaw=400, shape={0: -9}, camera_scale=3)  # clamped to the demo's ranges
    assert p.pose[0, 0] == 45 and p.shape[0, 0] == -2 and p.camera[0, 0] == 1.3
    assert torch.equal(source.pose, FaceParams.cat([source]).pose)  # the input params are not changed
    for bad in (dict(yaw=float("nan")), dict(aus={"AU99": 1}), dict(shape={99: 1}), dict(zoom=2)):
        with pytest.raises(ValueError):
            GD.edited_params(source, **bad)


def test_photo_path_keeps_the_photo_resolution(shipped):
    source, driving, image, _ = _pair(3, seed=8, world=shipped.world)
    big = torch.nn.functional.interpolate(image[:1], size=(128, 128), mode="bilinear")
    frames = shipped.reenact_photo(big, source[0], driving)
    assert frames.shape == (3, 3, 128, 128) and torch.isfinite(frames).all()
    with pytest.raises(ValueError, match="at least 64x64"):
        shipped.reenact_photo(image[:1, :, :32, :32], source[0], driving)


def test_preset_sweep_and_smoothing():
    sweep = GD.preset_sweep(FaceParams.identity(3), steps=10)
    assert sweep.batch_size == 40 and sweep.pose[:, 0].abs().max() > 14
    noisy = FaceParams.identity(3).repeat(30)
    noisy.pose = noisy.pose + torch.randn(30, 3)
    smooth = GD.smooth_params(noisy)
    assert smooth.pose.diff(dim=0).abs().mean() < 0.5 * noisy.pose.diff(dim=0).abs().mean()


def test_reenactment_video_round_trip(tmp_path):
    from lgfa_lite import video

    source, driving, image, truth = _pair(5)
    panel = GD.side_by_side(image[:1], truth, image)
    assert panel.shape == (5, 3, 64, 192)
    path = video.write_mp4(panel, tmp_path / "r.mp4", fps=25)
    frames, fps, notes = GD.read_driving(path)
    assert frames.shape[0] == 5 and fps == 25 and notes == []
    frames, _, notes = GD.read_driving(path, max_frames=3)
    assert len(frames) == 3 and "first 3" in notes[0]  # a long video is capped, and says so
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(video.to_uint8_frames(truth)):
        from PIL import Image

        Image.fromarray(f).save(folder / f"{i:03d}.png")
    frames, fps, _ = GD.read_driving(folder)
    assert frames.shape == (5, 64, 64, 3) and fps == 25


def test_bad_driving_inputs(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="not a video file or the file is broken"):
        GD.read_driving(broken)
    with pytest.raises(ValueError, match="no such file"):
        GD.read_driving(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no frame images"):
        GD.read_driving(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.zeros((40, 32, 3), np.uint8)).save(mixed / "b.png")
    with pytest.raises(ValueError, match="different sizes"):
        GD.read_driving(mixed)
    image = render(FaceParams.identity(1)).image
    with pytest.raises(ValueError, match="result frames"):
        GD.side_by_side(image, image.repeat(3, 1, 1, 1), image.repeat(2, 1, 1, 1))


def test_bad_faces_are_refused():
    pipe = GD.GDPWPipeline(GD.GDPWGenerator())
    p = FaceParams.identity(1)
    for bad, match in (
        (torch.zeros(1, 3, 64, 48), "square"),
        (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
        (np.zeros((64, 64, 3)), "tensor"),
        (torch.zeros(1, 3, 32, 32), "64x64"),
    ):
        with pytest.raises(ValueError, match=match):
            pipe(bad, p, p)
    with pytest.raises(ValueError, match="one source face"):
        pipe(torch.zeros(2, 3, 64, 64), p.repeat(2), p)


def test_fit_reads_the_geometry_and_can_refine_it_towards_the_landmarks():
    from lgfa_lite.nets.fitter import landmarks_2d

    source, _, image, _ = _pair(6, seed=9)
    pipe = GD.GDPWPipeline(GD.GDPWGenerator())
    marks = hub.load("fan-synthfaces-64")(image).detach()
    truth = render(source, world="v1").landmarks
    error = lambda p, to: float((landmarks_2d(p, 64, "v1") - to).norm(dim=-1).mean())  # noqa: E731
    fitted, refined = pipe.fit(image), pipe.fit(image, refine_steps=30)
    assert error(fitted, truth) < 1.0  # pixels at 64 px: the fitter reads held-out faces
    assert error(refined, marks) < error(fitted, marks)  # the refinement moves towards the landmark net
