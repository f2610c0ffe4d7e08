"""Benchmark groups ``generator`` and ``encoder``: the lite StyleGAN2 and its W+ encoder.

generator: speed of our modulation vs the grouped-conv formulation (same weights, same run,
interleaved, medians), and sample quality against held-out SynthFaces test faces: KID and
k-NN precision/recall (Kynkaenniemi et al. 2019, k=3) in a feature space of the lite nets.
Feature space: the lite CLIP's unit image embeddings (`feature_space_clip`); without a shipped
CLIP, the pooled features of the lite 3D fitter (geometry, expression, pose) and identity net
(appearance), each unit-normalised and concatenated (`feature_space_fitter_identity`). `kid_real_vs_real`
is the floor: KID between training and test faces; `kid_ratio` divides by it, or by the spread of
its subset estimates (`kid_real_vs_real_std`) where that is larger: an unbiased KID of two samples
of one distribution sits at its noise and can be 0 or below, which would make any ratio meaningless.
`follows_z`: is G(z) the face z describes?
`clip_reads_motions`: can the lite CLIP read LGFA's motions in G's images?
Every comparison uses the SynthFaces world G learnt (`G.world`): its faces, renders and the lite
nets trained on that world (`lite_weights`).

encoder: reconstructions G(E(x)) of held-out test faces: PSNR, identity similarity,
landmark error (lite FAN on the reconstruction vs the input's true landmarks, / inter-ocular),
AU error (lite AU regressor, when shipped), and encoder time per image; the same after
`REFINE_STEPS` of W+ optimisation from the encoder's guess (`*_refined`).
"""

import statistics

from lgfa_lite._memory import keep_freed_memory
from lgfa_lite.bench import card_minutes, median_seconds, register

CLIP_WEIGHTS = "clip-synthfaces-64"
FEATURE_NETS = ("fitter-synthfaces-64", "identity-synthfaces-64")  # without a shipped CLIP


def feature_extractor(world: str = "v1"):
    """(name, images (N, 3, H, W) in [0, 1] -> (N, D)): the lite CLIP's unit image embeddings,
    or the fitter's and identity net's pooled features, unit-normalised and concatenated; the
    nets trained on `world`."""
    import torch
    import torch.nn.functional as F

    from lgfa_lite import hub
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.blocks import resize

    try:
        clip = hub.load(lite_weights(CLIP_WEIGHTS, world)).eval()
        embed, name = clip.encode_image, "clip"
    except hub.CheckpointError:
        nets = [hub.load(lite_weights(n, world)).eval() for n in FEATURE_NETS]
        embed = lambda x: torch.cat([F.normalize(net.encoder(resize(x, net.input_size)), dim=1) for net in nets], 1)
        name = "fitter_identity"

    def features(images):
        with torch.no_grad():
            return torch.cat([embed(images[i : i + 128]) for i in range(0, len(images), 128)])

    return name, features


def kid_estimates(a, b, subsets: int = 50, subset_size: int = 500, seed: int = 0) -> list[float]:
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) of `subsets` random subsets."""
    import torch

    g = torch.Generator().manual_seed(seed)
    d, m = a.shape[1], min(subset_size, len(a), len(b))
    vals = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=g)[:m]].double()
        y = b[torch.randperm(len(b), generator=g)[:m]].double()
        kxx, kyy, kxy = [(p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y))]
        off = 1 - torch.eye(m, dtype=torch.float64)
        vals.append(float((kxx * off).sum() / (m * (m - 1)) + (kyy * off).sum() / (m * (m - 1)) - 2 * kxy.mean()))
    return vals


def kid(a, b, subsets: int = 50, subset_size: int = 500, seed: int = 0) -> float:
    """KID: the mean of `kid_estimates`."""
    return statistics.mean(kid_estimates(a, b, subsets, subset_size, seed))


def kid_keys(fake, test, train, subset_size: int = 500) -> dict:
    """`kid` (fake vs test), its floor `kid_real_vs_real` (train vs test) with the spread of that
    floor's subset estimates (`kid_real_vs_real_std`), and `kid_ratio`: KID over the larger of the
    two, so a floor at its noise (near 0, or below: the estimate is unbiased) divides by the noise."""
    floor = kid_estimates(train, test, subset_size=subset_size)
    res = {"kid": kid(fake, test, subset_size=subset_size), "kid_real_vs_real": statistics.mean(floor)}
    res["kid_real_vs_real_std"] = statistics.stdev(floor)
    res["kid_ratio"] = res["kid"] / max(res["kid_real_vs_real"], res["kid_real_vs_real_std"], 1e-12)
    return res


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision (fakes inside the real manifold) and recall (reals inside the fake one)."""
    import torch

    def radii(x):
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # +1: the point itself

    def covered(manifold, queries):
        return float((torch.cdist(queries, manifold) <= radii(manifold)[None]).any(1).float().mean())

    return covered(real, fake), covered(fake, real)


WORLDS = {"v2": "", "v1": "_v1"}  # the generator (and encoder) of each SynthFaces world -> key suffix


def checkpoints(world: str) -> tuple[str, str]:
    """The lite generator and encoder of a world: `stylegan2-synthfaces-64` (v1), `...synthfaces2-64` (v2)."""
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.encoder import ENCODER_WEIGHTS
    from lgfa_lite.nets.stylegan2 import GENERATOR_WEIGHTS

    return lite_weights(GENERATOR_WEIGHTS, world), lite_weights(ENCODER_WEIGHTS, world)


def _load_generator(name: str):
    from lgfa_lite import hub

    try:
        return hub.load(name), True
    except hub.CheckpointError:
        from lgfa_lite.nets.stylegan2 import Z_DIM, Generator

        return Generator(64, 128, 4, z_dim=Z_DIM, normalize_z=False), False  # speed needs no weights


@register("generator")
def generator(quick: bool) -> dict:
    """Speed (once: the same architecture in both worlds), then the quality keys of each world's
    shipped generator: no suffix for v2 (the default world), `_v1` for v1."""
    res = {}
    for world, suffix in WORLDS.items():
        G, trained = _load_generator(checkpoints(world)[0])
        if "images_per_s_64" not in res:
            res.update(generator_speed(G.eval(), quick))
        if trained:
            res.update({k + suffix: v for k, v in generator_quality(G.eval(), quick).items()})
            res.update({k + suffix: v for k, v in card_minutes(checkpoints(world)[0]).items()})
    if not any(k.startswith("kid") for k in res):
        res["checkpoint_missing"] = 1.0
    return res


def generator_speed(G, quick: bool) -> dict:
    """Our modulation vs the grouped-conv formulation, same weights, interleaved (medians)."""
    import torch

    from lgfa_lite.nets.stylegan2 import sample_z

    z = sample_z(32, seed=1)
    res = {}
    # Time both under the allocator setting the Space and the trainers run with (freed pages kept):
    # without it the grouped formulation pays page faults for its per-sample weights on every call,
    # and the ratio depended on whether an earlier group in the same process had rendered faces
    # (measured on 2 cores: 1.43-1.53 kept, 2.07-2.29 not, for the same code).
    keep_freed_memory()
    with torch.no_grad():
        ours, grouped = [], []
        for _ in range(2 if quick else 5):  # interleaved: both see the same machine load
            ours.append(median_seconds(lambda: G.set_fused(False)(z), 2 if quick else 5))
            grouped.append(median_seconds(lambda: G.set_fused(True)(z), 1 if quick else 3))
        G.set_fused(False)
    res["images_per_s_64"] = 32 / statistics.median(ours)
    res["images_per_s_64_grouped_conv"] = 32 / statistics.median(grouped)
    res["ratio_vs_grouped_conv"] = statistics.median(grouped) / statistics.median(ours)
    return res


def generator_quality(G, quick: bool) -> dict:
    """Samples against held-out faces of G's world (KID, precision/recall), and how faithfully
    G(z) draws z (`follows_z`, `au_response`, `au_change_follows`, `clip_reads_motions`)."""
    import torch

    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.blocks import to_unit
    from lgfa_lite.nets.stylegan2 import sample_z
    from lgfa_lite.synthface.dataset import images_of, load_faces

    res = {}
    n = 128 if quick else 1024
    # the standard cached sets (100 test identities; the training set's first n faces, 800 identities)
    test = images_of(load_faces("test", n, n_identities=100, world=G.world), slice(0, n))
    train = images_of(load_faces("train", n, n_identities=800, world=G.world), slice(0, n))
    with torch.no_grad():
        fake = torch.cat([to_unit(G(sample_z(64, seed=1000 + i))) for i in range(0, n, 64)])[:n]
    space, features = feature_extractor(G.world)
    f_test, f_train, f_fake = (features(x) for x in (test, train, fake))
    res.update(kid_keys(f_fake, f_test, f_train, subset_size=min(500, n)))
    res["precision"], res["recall"] = precision_recall(f_test, f_fake)
    res[f"feature_space_{space}"] = 1.0
    res.update(follows_z(G, n))
    res.update(au_response(G, world=G.world, au_weights=lite_weights("au-synthfaces-64", G.world)))
    res.update(au_change_follows(G, G.world))
    res.update(clip_reads_motions(G))
    return res


def follows_z(G, n: int) -> dict:
    """How closely G(z) draws the SynthFaces face whose parameters z are: pixel L1 to the render
    of z, and the expression and landmarks the lite nets read from G(z) against z's own. A
    realistic but unfaithful G scores well on KID and badly here, and the methods (inversion,
    latent editing) need a faithful one. `au_mae_vs_z_render` is the AU regressor's floor: its
    error on the renders themselves; `au_mae_vs_z_neutral_baseline` predicts no AUs (the better
    constant: AUs are sparse). A generator trained against the AU regressor could fool that net;
    `landmark_nme_vs_z_eyes_mouth` (lite FAN, eye and mouth points, which expressions move) is
    the independent check, and `..._neutral_baseline` is the same error of a perfect drawing of
    the face without its AUs (the renderer's own landmarks)."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.blocks import to_unit
    from lgfa_lite.nets.landmarks import inter_ocular
    from lgfa_lite.nets.stylegan2 import sample_z, z_to_params
    from lgfa_lite.synthface.render import render

    try:
        au_net, fan = (hub.load(lite_weights(n, G.world)).eval() for n in ("au-synthfaces-64", "fan-synthfaces-64"))
    except hub.CheckpointError:
        return {}
    l1, au_g, au_r, au_zero, nme, nme_inner, nme_neutral = [], [], [], [], [], [], []
    with torch.no_grad():
        for i in range(0, n, 128):
            z = sample_z(128, seed=5000 + i)
            p = z_to_params(z)
            truth = render(p, G.size, world=G.world)
            fake = to_unit(G(z))
            l1.append((fake - truth.image).abs().flatten(1).mean(1))
            au_g.append((au_net(fake) - p.aus).abs().mean(1))
            au_r.append((au_net(truth.image) - p.aus).abs().mean(1))
            au_zero.append(p.aus.abs().mean(1))
            lmk = truth.landmarks.float()
            point_error = lambda points, lmk=lmk: (points - lmk).norm(dim=-1) / inter_ocular(lmk)[:, None]
            err = point_error(fan(fake))
            nme.append(err.mean(1))
            nme_inner.append(err[:, 36:].mean(1))  # eyes 36-47, mouth 48-67
            neutral = render(p.replace(aus=torch.zeros_like(p.aus)), G.size, world=G.world).landmarks.float()
            nme_neutral.append(point_error(neutral)[:, 36:].mean(1))
    mean = lambda parts: float(torch.cat(parts).mean())
    return {
        "l1_vs_z_render": mean(l1),
        "au_mae_vs_z": mean(au_g),
        "au_mae_vs_z_render": mean(au_r),
        "au_mae_vs_z_neutral_baseline": mean(au_zero),
        "landmark_nme_vs_z": mean(nme),
        "landmark_nme_vs_z_eyes_mouth": mean(nme_inner),
        "landmark_nme_vs_z_eyes_mouth_neutral_baseline": mean(nme_neutral),
    }


def au_response(G, n: int = 64, world=None, au_weights: str = "au-synthfaces-64") -> dict:
    """Does G draw each AU? For n faces with no AUs, set one AU of z to 1 and ask the lite AU
    regressor how much its reading of that AU rises. `au_response_readable`: how many of the 15
    AUs rise by more than 0.1 (renders of the same faces: `..._render`); `au_response_mean`: the
    mean rise. A generator that ignores an AU, or draws it too faintly to read, scores ~0 on it.
    `world` and `au_weights`: the SynthFaces world G learnt and an AU regressor trained on it."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.nets.blocks import to_unit
    from lgfa_lite.nets.stylegan2 import params_to_z
    from lgfa_lite.synthface import N_AUS, FaceParams
    from lgfa_lite.synthface.render import render

    try:
        au_net = hub.load(au_weights).eval()
    except hub.CheckpointError:
        return {}
    faces = FaceParams.sample(n, seed=123)
    faces = faces.replace(aus=torch.zeros(n, N_AUS))
    draws = {"": lambda p: to_unit(G(params_to_z(p))), "_render": lambda p: render(p, G.size, world=world).image}
    res = {}
    with torch.no_grad():
        for suffix, draw in draws.items():
            base = au_net(draw(faces))
            rises = []
            for k in range(N_AUS):
                aus = torch.zeros(n, N_AUS)
                aus[:, k] = 1
                rises.append(float((au_net(draw(faces.replace(aus=aus)))[:, k] - base[:, k]).mean()))
            res[f"au_response_readable{suffix}"] = float(sum(r > 0.1 for r in rises))
            res[f"au_response_mean{suffix}"] = sum(rises) / N_AUS
    return res


def au_change_follows(G, world=None, n: int = 64) -> dict:
    """Judge-free twin of `au_response`: does G's change when one AU of z goes 0 -> 1 look like
    the renderer's change for the same faces? Per AU, the cosine between the two pixel changes
    (`au_change_cosine_<AU>`, mean over n faces with no AUs) and the size of G's change over the
    render's (`au_change_size_<AU>`); `au_change_followed`: AUs with cosine >= 0.5. Needs no AU
    regressor, so it compares generators taught by different SynthFaces worlds (`world`)."""
    import torch

    from lgfa_lite.nets.blocks import to_unit
    from lgfa_lite.nets.stylegan2 import params_to_z
    from lgfa_lite.synthface import AU_NAMES, N_AUS, FaceParams
    from lgfa_lite.synthface.render import render

    faces = FaceParams.sample(n, seed=123)
    faces = faces.replace(aus=torch.zeros(n, N_AUS))
    res, cosines = {}, []
    with torch.no_grad():
        g0, r0 = to_unit(G(params_to_z(faces))), render(faces, G.size, world=world).image
        for k, name in enumerate(AU_NAMES):
            aus = torch.zeros(n, N_AUS)
            aus[:, k] = 1
            moved = faces.replace(aus=aus)
            dg = (to_unit(G(params_to_z(moved))) - g0).flatten(1)
            dr = (render(moved, G.size, world=world).image - r0).flatten(1)
            cos = torch.nn.functional.cosine_similarity(dg, dr, dim=1).mean()
            res[f"au_change_cosine_{name}"] = float(cos)
            res[f"au_change_size_{name}"] = float(dg.norm(dim=1).mean() / dr.norm(dim=1).mean().clamp(min=1e-8))
            cosines.append(float(cos))
    res["au_change_cosine_mean"] = sum(cosines) / N_AUS
    res["au_change_followed"] = float(sum(c >= 0.5 for c in cosines))
    return res


REFINE_STEPS = 20  # the encoder group's refined inversion: encoder guess + this many W+ steps


@register("encoder")
def encoder(quick: bool) -> dict:
    """Each world's encoder with its generator (no suffix: v2, `_v1`: v1), `encoder_world`."""
    from lgfa_lite import hub

    res = {}
    for world, suffix in WORLDS.items():
        g_name, e_name = checkpoints(world)
        try:
            G, E = hub.load(g_name).eval(), hub.load(e_name).eval()
        except hub.CheckpointError:
            continue
        scores = {**encoder_world(G, E, quick), **card_minutes(e_name)}
        res.update({k + suffix: v for k, v in scores.items()})
    return res or {"checkpoint_missing": 1.0}


def encoder_world(G, E, quick: bool) -> dict:
    """Reconstructions of held-out faces of G's world, from the encoder alone and refined (`invert(...,
    refine_steps=REFINE_STEPS)`, keys `*_refined`, on the first 64 faces; `ms_per_image_refined`)."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.bench.group_ganimation import psnr
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.blocks import to_unit
    from lgfa_lite.nets.encoder import invert
    from lgfa_lite.nets.landmarks import inter_ocular
    from lgfa_lite.synthface.dataset import images_of, load_faces

    n, n_refined = (64, 8) if quick else (512, 64)
    faces = load_faces("test", n, n_identities=100, world=G.world)  # the faces its generator learnt
    x = images_of(faces, slice(0, n))
    fan, ident = (hub.load(lite_weights(name, G.world)) for name in ("fan-synthfaces-64", "identity-synthfaces-64"))
    try:
        au_net = hub.load(lite_weights("au-synthfaces-64", G.world))
    except hub.CheckpointError:
        au_net = None  # the AU key needs the lite AU regressor

    def scores(recon, k: int, suffix: str = "") -> dict:
        with torch.no_grad():
            lmk_true = faces["landmarks"][:k].float()
            lmk = torch.cat([fan(recon[i : i + 128]) for i in range(0, k, 128)])
            sim = torch.cat([ident.similarity(recon[i : i + 128], x[:k][i : i + 128]) for i in range(0, k, 128)])
            res = {
                f"psnr{suffix}": float(psnr(recon, x[:k]).mean()),
                f"id_sim{suffix}": float(sim.mean()),
                f"landmark_nme{suffix}": float(((lmk - lmk_true).norm(dim=-1).mean(1) / inter_ocular(lmk_true)).mean()),
            }
            if au_net is not None:
                aus = torch.cat([au_net(recon[i : i + 128]) for i in range(0, k, 128)])
                res[f"au_mae{suffix}"] = float((aus - faces["aus"][:k].float()).abs().mean())
        return res

    with torch.no_grad():
        recon = torch.cat([to_unit(G.synthesis(E(x[i : i + 64]))) for i in range(0, n, 64)])
    res = {"n_faces": float(n), "n_faces_refined": float(n_refined), **scores(recon, n)}
    refined = to_unit(G.synthesis(invert(G, E, x[:n_refined], refine_steps=REFINE_STEPS)).detach())
    res.update(scores(refined, n_refined, "_refined"))
    res.update({f"{k}_unrefined_same_faces": v for k, v in scores(recon[:n_refined], n_refined).items()})
    one = x[:1]
    with torch.no_grad():
        res["ms_per_image"] = 1000 * median_seconds(lambda: E(one), 3 if quick else 20)
        res["ms_per_image_with_synthesis"] = 1000 * median_seconds(lambda: G.synthesis(E(one)), 3 if quick else 20)
    res["ms_per_image_refined"] = 1000 * median_seconds(
        lambda: invert(G, E, one, refine_steps=REFINE_STEPS), 1 if quick else 5
    )
    return res


def clip_reads_motions(G, n_faces: int = 16) -> dict:
    """LGFA's guidance test: n_faces faces drawn at the end state of every 'hold' motion (its AUs
    and pose); the lite CLIP should retrieve "The person {verb}." among all motion prompts.
    `clip_motion_top1` on G(z), `..._render` on the renders of the same parameters (the ceiling),
    `..._chance` = 1 / motions. LGFA can only learn what CLIP can read in G's images."""
    import torch

    from lgfa_lite import hub
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.blocks import to_unit
    from lgfa_lite.nets.stylegan2 import params_to_z
    from lgfa_lite.synthface import MOTIONS, FaceParams
    from lgfa_lite.synthface.params import au_vector
    from lgfa_lite.synthface.render import render

    try:
        clip = hub.load(lite_weights(CLIP_WEIGHTS, G.world)).eval()
    except hub.CheckpointError:
        return {}
    names = list(MOTIONS)
    base = FaceParams.sample(n_faces, seed=4242)
    parts, labels = [], []
    for i, m in enumerate(MOTIONS.values()):
        if m.envelope == "hold":  # pulses and swings end where they started
            parts.append(
                base.replace(
                    aus=au_vector(m.aus)[0].expand(n_faces, -1).clone(),
                    pose=torch.tensor(m.pose).float().expand(n_faces, -1).clone(),
                )
            )
            labels += [i] * n_faces
    p = FaceParams.cat(parts)
    labels = torch.tensor(labels)
    with torch.no_grad():
        text = clip.encode_text([f"The person {m.verb}." for m in MOTIONS.values()])
        top1 = lambda images: float(((clip.encode_image(images) @ text.T).argmax(1) == labels).float().mean())
        return {
            "clip_motion_top1": top1(to_unit(G(params_to_z(p)))),
            "clip_motion_top1_render": top1(render(p, G.size, world=G.world).image),
            "clip_motion_top1_chance": 1 / len(names),
        }
