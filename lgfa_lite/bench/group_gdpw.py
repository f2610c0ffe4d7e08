"""Benchmark group ``gdpw``: reenactment of held-out SynthFaces identities against exact ground truth.

Same identity: two renders of one test identity (its colours, light and background) with their
own expression, jaw, pose and camera; the driving render is the ground truth. Cross identity: the
driving face is another test identity; the ground truth is the source identity rendered with the
driving expression, jaw, pose and camera (exact, as SynthFaces allows). Geometry is read from the
images by the lite 3D fitter, as a user's pipeline would (`*_true_geometry`: the exact parameters,
to separate the net from the fitter). Baselines: the source itself, and the
source warped by the mesh flow alone. AKD: lite FAN landmarks of the result vs of the ground truth,
in pixels at 64 px. LPIPS: the lite perceptual distance (no ImageNet trunk offline).
Real photo: `skimage.data.astronaut()` (128 px crop) driven by SynthFaces motions; FaceMesh
landmarks of the result against the driving geometry's projected landmarks (in 64 px units).
"""

from lgfa_lite.bench import card_minutes, median_seconds, register
from lgfa_lite.bench.group_ganimation import psnr

REAL_PHOTO_MOTIONS = ("turn left", "nod", "open mouth", "smile")


def _scores(name, images, truth, fan, perceptual, truth_marks) -> dict:
    import torch

    with torch.no_grad():
        marks = fan(images)
        return {
            f"{name}_l1": float((images - truth).abs().mean()),
            f"{name}_psnr": float(psnr(images, truth).mean()),
            f"{name}_lpips": float(perceptual(images, truth).mean()),
            f"{name}_akd_px": float((marks - truth_marks).norm(dim=-1).mean()),
        }


def _pairs(n, seed, cross: bool, world: str):
    """Source and driving params of test identities, and (source image, ground truth, driving image)."""
    import torch

    from lgfa_lite.methods.gdpw import driving_geometry
    from lgfa_lite.synthface import FaceParams, identities, render

    g = torch.Generator().manual_seed(seed)
    pool = identities("test", 4 * n)
    perm = torch.randperm(len(pool), generator=g).tolist()
    source = FaceParams.sample(n, generator=g, identities=[pool[i] for i in perm[:n]])
    other = FaceParams.sample(n, generator=g, identities=[pool[i] for i in perm[n : 2 * n]] if cross else None)
    driving = other if cross else driving_geometry(source, other)
    truth = driving_geometry(source, driving)
    images = (render(p, world=world).image for p in (source, truth, driving))  # the world the generator learnt
    return source, driving, *images


@register("gdpw")
def gdpw(quick: bool) -> dict:
    import torch

    from lgfa_lite import hub
    from lgfa_lite.methods import gdpw as GD
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.perceptual import PerceptualDistance

    try:
        pipe = GD.load()
    except hub.CheckpointError:
        return {"checkpoint_missing": 1.0}
    fan, identity = (hub.load(lite_weights(n, pipe.world)) for n in ("fan-synthfaces-64", "identity-synthfaces-64"))
    perceptual = PerceptualDistance("lite")
    n = 16 if quick else 256
    res = {"n_pairs": float(n)}
    for kind, cross in (("same_id", False), ("cross_id", True)):
        source, driving, src, truth, drv = _pairs(n, 1 if cross else 0, cross, pipe.world)
        out, warped = [], []
        for i in range(0, n, 32):
            s, d = src[i : i + 32], drv[i : i + 32]
            sp, dp = pipe.fit(s), pipe.fit(d)
            for j in range(len(s)):  # one source face per call, its own driving frame
                out.append(pipe(s[j : j + 1], sp[j], dp[j])[0])
                warped.append(pipe.mesh_warp(s[j : j + 1], sp[j], dp[j]))
        out, warped = torch.cat(out), torch.cat(warped)
        with torch.no_grad():
            truth_marks = fan(truth)
        res.update(_scores(kind, out, truth, fan, perceptual, truth_marks))
        res.update(_scores(f"baseline_source_{kind}", src, truth, fan, perceptual, truth_marks))
        res.update(_scores(f"baseline_mesh_warp_{kind}", warped, truth, fan, perceptual, truth_marks))
        with torch.no_grad():
            res[f"{kind}_id_sim"] = float(identity.similarity(out, src).mean())
        if not cross:  # the net alone: exact geometry instead of the fitter's reading
            exact = torch.cat([pipe(src[j : j + 1], source[j], driving[j])[0] for j in range(n)])
            scores = _scores(kind, exact, truth, fan, perceptual, truth_marks)
            res.update({f"{k}_true_geometry": v for k, v in scores.items()})
    res.update(_edits(pipe, 8 if quick else 64))
    one = _pairs(16, 2, False, pipe.world)
    sp, dp = one[0][:1], one[1]
    res["ms_per_frame_64"] = 1000 * median_seconds(lambda: pipe(one[2][:1], sp, dp), 2 if quick else 10) / 16
    res.update(_real_photo(pipe, quick))
    return {**res, **card_minutes(GD.WEIGHTS)}


def _edits(pipe, n) -> dict:
    """Edit yaw, pitch and two AUs of test faces; the lite fitter reads the results back."""
    import torch

    from lgfa_lite.methods.gdpw import edited_params
    from lgfa_lite.synthface import AU_INDEX

    _, _, src, _, _ = _pairs(n, 3, False, pipe.world)
    g = torch.Generator().manual_seed(4)
    yaw, pitch = (torch.rand(n, generator=g) * 40 - 20), (torch.rand(n, generator=g) * 24 - 12)
    smile = torch.rand(n, generator=g) * 0.8 + 0.2
    fitted = pipe.fit(src)
    out, asked = [], []
    for i in range(n):
        edit = dict(yaw=float(yaw[i]), pitch=float(pitch[i]), aus={"AU12": float(smile[i]), "AU01": 0.0})
        out.append(pipe.edit(src[i : i + 1], fitted[i], **edit))
        asked.append(edited_params(fitted[i], **edit))
    read = pipe.fit(torch.cat(out))
    asked = type(read).cat(asked)
    au = [AU_INDEX["AU12"], AU_INDEX["AU01"]]
    return {
        "edit_param_error_pose_deg": float((read.pose[:, :2] - asked.pose[:, :2]).abs().mean()),
        "edit_param_error_au": float((read.aus[:, au] - asked.aus[:, au]).abs().mean()),
        "edit_param_error_pose_deg_no_edit": float((fitted.pose[:, :2] - asked.pose[:, :2]).abs().mean()),
        "edit_param_error_au_no_edit": float((fitted.aus[:, au] - asked.aus[:, au]).abs().mean()),
    }


def _real_photo(pipe, quick: bool) -> dict:
    """Astronaut driven by SynthFaces motions at 128 px; FaceMesh reads the result."""
    import torch
    from skimage import data

    from lgfa_lite.faces import photo_landmarks
    from lgfa_lite.nets.fitter import landmarks_2d
    from lgfa_lite.synthface import motion_clip

    face, params, _ = pipe.fit_photo(data.astronaut(), 128)
    errors = []
    for motion in REAL_PHOTO_MOTIONS[: 2 if quick else None]:
        driving, _ = motion_clip(params, motion, 8)
        frames = pipe.reenact_photo(face, params, driving)
        with torch.no_grad():
            target = landmarks_2d(driving, 128, pipe.world)
        for frame, marks in zip(frames, target):
            found = photo_landmarks((frame.permute(1, 2, 0).numpy() * 255).astype("uint8"), max_faces=1)
            if len(found):
                errors.append(float((torch.from_numpy(found[0]) - marks).norm(dim=-1).mean()) / 2)  # 64 px units
    if not errors:
        return {"real_photo_faces_found": 0.0}
    return {"real_photo_akd_px": sum(errors) / len(errors), "real_photo_faces_found": float(len(errors))}
