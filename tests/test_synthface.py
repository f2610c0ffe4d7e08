"""SynthFaces: ground truth agrees with the pixels, AUs are local, conventions hold."""

import numpy as np
import pytest
import torch

from lgfa_lite.synthface import (
    AU_NAMES,
    MOTIONS,
    FaceParams,
    Renderer,
    SynthFaceClips,
    SynthFaceImages,
    au_vector,
    caption,
    draw_landmarks,
    identities,
    motion_clip,
    render,
)
from lgfa_lite.synthface import head as H

JAW, BROWS, NOSE, EYES, LIPS = range(0, 17), range(17, 27), range(27, 36), range(36, 48), range(48, 68)


def face(seed=3, **change):
    return FaceParams.identity(seed).replace(**change) if change else FaceParams.identity(seed)


def test_render_shapes_and_range():
    out = render(FaceParams.sample(3, seed=0), 64)
    assert out.image.shape == (3, 3, 64, 64) and out.mask.shape == (3, 1, 64, 64)
    assert out.landmarks.shape == (3, 68, 2) and out.visibility.shape == (3, 68)
    assert 0 <= out.image.min() and out.image.max() <= 1
    assert out.visibility.float().mean() > 0.8
    for res in (128, 256):
        assert render(FaceParams.sample(1, seed=0), res).image.shape[-1] == res


def test_landmarks_sit_on_the_surface_they_name():
    """Rasterise canonical coordinates; at each visible landmark pixel they must match the
    landmark's own canonical coordinates (the landmark is a point of the rendered mesh)."""
    p = FaceParams.sample(4, seed=11)
    r = Renderer(128, ssaa=1)
    uv_map, cover = r.rasterize_attributes(p, r.uv.expand(4, -1, -1))
    out = r(p)
    lm_uv = H.landmark_uv(p.clamped())
    x = out.landmarks[..., 0].long().clamp(0, 127)
    y = out.landmarks[..., 1].long().clamp(0, 127)
    b = torch.arange(4)[:, None].expand_as(x)
    got = uv_map[b, :, y, x]  # (4, 68, 2)
    ok = out.visibility & (cover[b, 0, y, x] > 0.99)
    err = (got - lm_uv).norm(dim=-1)[ok]
    assert ok.sum() > 200
    # one pixel at 128 px is ~0.02 rad on the face; allow two.
    assert torch.quantile(err, 0.9) < 0.04, err.max()


def test_pupils_are_dark_and_lips_are_red():
    p = face(pose=torch.zeros(1, 3))
    out = render(p, 256)
    img = out.image[0].permute(1, 2, 0)
    lm = out.landmarks[0]
    for eye in (EYES[:6], EYES[6:]):
        c = lm[list(eye)].mean(0)
        assert img[int(c[1]), int(c[0])].mean() < 0.35  # iris/pupil
    lip = lm[[51, 57]].mean(0) * 0.2 + lm[51] * 0.8  # inside the upper lip
    skin = lm[[1, 15]].mean(0) * 0.5 + lm[30] * 0.5
    r_lip, r_skin = img[int(lip[1]), int(lip[0])], img[int(skin[1]), int(skin[0])]
    assert (r_lip[0] - r_lip[1]) > (r_skin[0] - r_skin[1])


# Which landmark groups each AU may move (the rest must stay within tolerance).
AU_REGIONS = {
    "AU01": [BROWS],
    "AU02": [BROWS],
    "AU04": [BROWS],
    "AU05": [EYES],
    "AU06": [EYES],
    "AU07": [EYES],
    "AU09": [NOSE, LIPS],
    "AU12": [LIPS],
    "AU15": [LIPS],
    "AU18": [LIPS],
    "AU20": [LIPS],
    "AU25": [LIPS, JAW],
    "AU26": [LIPS, JAW],
    "AU45": [EYES],
    "AU46": [EYES[6:]],
}


@pytest.mark.parametrize("au", AU_NAMES)
def test_each_au_moves_its_region_and_no_other(au):
    """On v1's fixed camera: v2 frames each face by its own landmarks, so an AU that moves the eyes
    or mouth shifts the crop and with it every point (v2's own test: `test_v2_each_au_is_legible...`)."""
    base = face(7)
    moved = base.replace(aus=au_vector({au: 1.0}))
    a, b = render(FaceParams.cat([base, moved]), 64, world="v1").landmarks
    shift = (b - a).norm(dim=-1)
    allowed = sorted({i for group in AU_REGIONS[au] for i in group})
    others = [i for i in range(68) if i not in allowed]
    assert shift[allowed].max() > 0.5, f"{au} barely moves its landmarks"
    assert shift[others].max() < 0.6, f"{au} moves landmarks {[i for i in others if shift[i] >= 0.6]}"
    img = render(FaceParams.cat([base, moved]), 64, world="v1").image
    assert (img[0] - img[1]).abs().sum(0).gt(0.1).sum() >= 4, f"{au} is not visible at 64 px"


def test_blink_closes_the_lids_and_wink_only_the_left_eye():
    base = face(5)
    closed = render(
        FaceParams.cat([base, base.replace(aus=au_vector({"AU45": 1.0})), base.replace(aus=au_vector({"AU46": 1.0}))]),
        128,
    ).landmarks

    def opening(lm, upper, lower):
        return (lm[lower, 1] - lm[upper, 1]).mean()

    right, left = ([37, 38], [41, 40]), ([43, 44], [47, 46])
    assert opening(closed[0], *right) > 1.5 and opening(closed[0], *left) > 1.5
    assert abs(opening(closed[1], *right)) < 0.3 and abs(opening(closed[1], *left)) < 0.3
    assert opening(closed[2], *right) > 1.5 and abs(opening(closed[2], *left)) < 0.3


def test_pose_sign_conventions():
    lm = render(
        FaceParams.cat(
            [
                face(2),
                face(2, pose=torch.tensor([[25.0, 0, 0]])),
                face(2, pose=torch.tensor([[0, 15.0, 0]])),
                face(2, pose=torch.tensor([[0, 0, 15.0]])),
            ]
        ),
        128,
    ).landmarks
    nose, eyes_mid = 30, lambda points: points[[39, 42]].mean(0)
    # yaw > 0: the person turns to their own left, the nose moves to the image right.
    assert (lm[1, nose, 0] - eyes_mid(lm[1])[0]) > (lm[0, nose, 0] - eyes_mid(lm[0])[0]) + 2
    # pitch > 0: looks up, the nose tip comes closer to the eyes in the image.
    assert (lm[2, nose, 1] - eyes_mid(lm[2])[1]) < (lm[0, nose, 1] - eyes_mid(lm[0])[1]) - 1
    # roll > 0: counter-clockwise in the image, the image-right eye goes up.
    assert lm[3, 45, 1] < lm[3, 36, 1] - 3 and abs(lm[0, 45, 1] - lm[0, 36, 1]) < 1
    # turning hides the far side of the jaw.
    vis = render(face(2, pose=torch.tensor([[40.0, 0, 0]])), 128).visibility[0]
    assert not vis[list(range(12, 17))].all() and vis[list(range(0, 5))].all()


def test_attribute_rasterisation_matches_geometry():
    p = FaceParams.sample(2, seed=3)
    r = Renderer(64, ssaa=1)
    verts = r.vertices(p)  # pixel x, y, depth
    xmap, cover = r.rasterize_attributes(p, verts[..., :1])
    out = r(p)
    inside = cover[:, 0] > 0.999
    cols = torch.arange(64).float() + 0.5
    assert inside.sum() > 1000
    assert (xmap[:, 0][inside] - cols.expand(2, 64, 64)[inside]).abs().max() < 0.05
    assert torch.equal(cover > 0.5, out.mask > 0.5)
    # a 16-channel constant code comes back as itself wherever covered
    code = torch.randn(16)
    cmap, cover = r.rasterize_attributes(p, code.expand(2, r.n_vertices, 16))
    assert torch.allclose(cmap.permute(0, 2, 3, 1)[cover[:, 0] > 0.5], code, atol=1e-4)
    with pytest.raises(ValueError):
        r.rasterize_attributes(p, torch.zeros(2, 10, 2))


def test_deterministic_by_seed():
    a = render(FaceParams.sample(4, seed=9), 64).image
    b = render(FaceParams.sample(4, seed=9), 64).image
    c = render(FaceParams.sample(4, seed=10), 64).image
    assert torch.equal(a, b) and not torch.equal(a, c)
    ds = SynthFaceImages("val", size=8, resolution=64, seed=1)
    assert torch.equal(ds[3]["image"], ds[3]["image"]) and ds[3]["caption"] == ds[3]["caption"]


def test_splits_are_disjoint_and_cache_roundtrips(tmp_path):
    tr, va, te = (set(identities(s, 300)) for s in ("train", "val", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    direct = SynthFaceImages("test", size=6, resolution=64, seed=2)
    cached = SynthFaceImages("test", size=6, resolution=64, seed=2, cache_dir=tmp_path)
    a, b = direct.batch([4, 1]), cached.batch([4, 1])
    assert (a["image"] - b["image"]).abs().max() <= 1 / 255 + 1e-6
    assert torch.allclose(a["landmarks"], b["landmarks"]) and a["caption"] == b["caption"]
    assert list(tmp_path.glob("*.npz"))
    assert set(a["identity"].tolist()) <= set(identities("test", 6))


def test_motions_start_at_the_face_and_move():
    base = face(4)
    assert len(MOTIONS) >= 12
    for name in MOTIONS:
        seq, text = motion_clip(base, name, frames=12)
        assert seq.batch_size == 12 and text.startswith("The person ")
        assert torch.equal(seq.aus[0], base.aus[0]) and torch.equal(seq.pose[0], base.pose[0])
        lm = render(seq, 64).landmarks
        assert (lm - lm[0]).norm(dim=-1).max() > 0.6, name  # px at 64: expressions are small
    seq, text = motion_clip(base, ["smile", "turn left"], frames=16)
    assert text == "The person smiles, then turns left."
    assert seq.pose[:8, 0].abs().max() < 1e-6 and seq.pose[-1, 0] > 20 and seq.aus[-1].max() > 0.5
    with pytest.raises(ValueError, match="unknown motion"):
        motion_clip(base, "moonwalk")
    with pytest.raises(ValueError):
        motion_clip(base, "smile", frames=1)


def test_clip_dataset_and_captions():
    ds = SynthFaceClips("train", size=3, frames=6, resolution=64, seed=0)
    item = ds[1]
    assert item["video"].shape == (6, 3, 64, 64) and item["caption"].endswith(".")
    caps = caption(FaceParams.cat([face(1), face(1).replace(aus=au_vector({"AU12": 1.0, "AU06": 0.8}))]))
    assert "neutral" in caps[0] and caps[1].startswith("The person is smiling.")


def test_captions_name_a_mouth_the_jaw_opened():
    """The jaw parameter opens the mouth as AU26 does: a face with neutral AUs and its jaw open
    12 degrees is captioned opening its mouth; 3 degrees stays neutral."""
    still = face(1).replace(aus=torch.zeros(1, 15))
    caps = caption(FaceParams.cat([still.replace(jaw=[[12.0, 0, 0]]), still.replace(jaw=[[3.0, 0, 0]])]))
    assert caps[0].startswith("The person is opening mouth.") and caps[1].startswith("The person has a neutral")


def test_cached_chunks_are_captioned_from_their_parameters(tmp_path):
    """A cache written with other caption wording serves the current wording."""
    ds = SynthFaceImages("train", size=4, resolution=32, seed=0, n_identities=2, cache_dir=tmp_path)
    fresh = ds.chunk(0)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as z:
        np.savez_compressed(path, **{**dict(z), "caption": np.array(["old words"] * 4)})
    again = ds.chunk(0)
    assert list(again["caption"]) == list(fresh["caption"]) == caption(FaceParams.from_data(ds.batch(range(4))))
    assert (again["image"] == fresh["image"]).all()
    assert ds.batch([2, 0])["caption"] == [fresh["caption"][2], fresh["caption"][0]]


def test_bad_values_are_clamped_not_fatal():
    p = FaceParams.sample(2, seed=0).replace(
        aus=torch.tensor([[float("nan")] * 15, [7.0] * 15]), pose=torch.tensor([[1e6, -1e6, float("inf")]] * 2)
    )
    out = render(p, 64)
    assert torch.isfinite(out.image).all() and torch.isfinite(out.landmarks).all()
    with pytest.raises(ValueError):
        Renderer(4)


def test_draw_landmarks_overlay():
    out = render(face(1), 64)
    img = (out.image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    drawn = draw_landmarks(img, out.landmarks[0].numpy(), out.visibility[0].numpy())
    assert drawn.shape == img.shape and (drawn != img).any() and img is not drawn


# ---- world v2: landmark framing, legible AUs -------------------------------------------------
# v2 draws each AU a few times larger: brow AUs drag the upper lids, a smile parts the lips (the
# jaw follows a little), a wink lowers its brow.
V2_REGIONS = dict(
    AU_REGIONS, AU01=[BROWS, EYES], AU02=[BROWS, EYES], AU04=[BROWS, EYES], AU12=[LIPS, JAW], AU46=[EYES[6:], BROWS[5:]]
)


@pytest.mark.parametrize("au", AU_NAMES)
def test_v2_each_au_is_legible_at_64_px_and_stays_in_its_region(au):
    base = face(7)
    out = render(FaceParams.cat([base, base.replace(aus=au_vector({au: 1.0}))]), 64, world="v2")
    shift = (out.landmarks[1] - out.landmarks[0]).norm(dim=-1)
    allowed = sorted({i for group in V2_REGIONS[au] for i in group})
    others = [i for i in range(68) if i not in allowed]
    assert shift[allowed].max() > 1.0, f"{au} barely moves its landmarks"
    assert shift[others].max() < 0.6, f"{au} moves landmarks {[i for i in others if shift[i] >= 0.6]}"
    changed = (out.image[1] - out.image[0]).abs().amax(0).gt(0.1).sum()
    assert changed >= 60, f"{au} changes {int(changed)} pixels at 64 px (the legibility target is 60)"


def test_v2_is_legible_where_v1_is_not():
    from lgfa_lite.bench.group_synthface import legibility

    v1, v2 = legibility("v1", 3), legibility("v2", 3)
    assert v1["legibility_pixels_min"] < 30 <= 60 <= v2["legibility_pixels_min"]


@pytest.mark.parametrize(
    "yaw,pitch,roll", [(0, 0, 0), (40, 0, 0), (-40, 10, 0), (0, 25, 0), (0, -25, 0), (20, -10, 20), (-15, 15, -20)]
)
def test_v2_framing_puts_eyes_and_mouth_where_the_crop_says(yaw, pitch, roll):
    """Rendered with the default camera, a relaxed face's own landmarks give back the whole image
    as their `align_crop`: the crop the real-photo path computes is the framing of the world."""
    from lgfa_lite.synthface.world import align_crop

    p = FaceParams.sample(6, seed=yaw * 7 + pitch * 3 + roll)
    p = p.replace(
        aus=torch.zeros_like(p.aus),
        jaw=torch.zeros_like(p.jaw),
        camera=torch.tensor([1.0, 0.0, 0.0]),
        pose=torch.tensor([[float(yaw), float(pitch), float(roll)]]),
    )
    for res in (64, 128):
        lm = render(p, res, world="v2").landmarks
        centre, half = align_crop(lm)
        assert torch.allclose(centre, torch.full_like(centre, res / 2), atol=0.01 * res), centre
        assert torch.allclose(half, torch.full_like(half, res / 2), atol=0.01 * res), half
    eyes = (lm[:, 42:48].mean(1) - lm[:, 36:42].mean(1)).norm(dim=1)
    if yaw == 0 and roll == 0:
        assert (eyes / 128 >= 0.28).all(), eyes / 128  # inter-ocular distance: tighter than v1's 0.21


def test_v2_is_the_default_world_and_v1_is_kept():
    from lgfa_lite.synthface.world import DEFAULT_WORLD, V2, get_world

    p = FaceParams.sample(2, seed=4)
    assert DEFAULT_WORLD is V2 and get_world(None) is V2
    assert torch.equal(render(p, 64).image, render(p, 64, world="v2").image)
    assert not torch.allclose(render(p, 64).image, render(p, 64, world="v1").image)
    with pytest.raises(ValueError, match="unknown SynthFaces world"):
        render(p, 64, world="v9")


def test_checkpoints_carry_their_world(tmp_path):
    """A generator records the world it was taught; one saved before the record loads as v1, so
    code serving it (benches, tabs, trainers downstream) keeps using v1 faces."""
    import json

    from lgfa_lite import hub
    from lgfa_lite.methods.gdpw import GDPWGenerator, GDPWPipeline
    from lgfa_lite.nets.stylegan2 import Generator

    G = Generator(16, 32, 1, channels={4: 8, 8: 8, 16: 8}, world="v2")
    hub.save(G, tmp_path / "g2")
    assert hub.load(tmp_path / "g2").world == "v2"
    config = json.loads((tmp_path / "g2" / "config.json").read_text())
    del config["config"]["world"]
    (tmp_path / "g2" / "config.json").write_text(json.dumps(config))
    assert hub.load(tmp_path / "g2").world == "v1"
    assert GDPWPipeline(GDPWGenerator(world="v2")).world == "v2" and GDPWPipeline(GDPWGenerator()).world == "v1"


def test_a_chunk_cached_by_a_smaller_dataset_is_rendered_again_whole(tmp_path):
    small = SynthFaceImages("test", size=8, n_identities=4, cache_dir=tmp_path)
    first = small.chunk(0)
    assert len(first["image"]) == 8
    big = SynthFaceImages("test", size=20, n_identities=4, cache_dir=tmp_path)
    whole = big.chunk(0)  # was: the 8 cached rows, silently
    assert len(whole["image"]) == 20 and np.array_equal(whole["image"][:8], first["image"])
    assert len(small.chunk(0)["image"]) == 8  # the small one reads its rows from the bigger chunk
