"""Benchmark group ``projection``: landmark projection of held-out SynthFaces faces.

Each pair: the look of one test face (identity A) and the exact landmarks of another test face
(identity B, its own random expression, pose and camera). The result's landmarks are read by the
lite FAN and compared with the target points, normalised by the target's inter-ocular distance;
the baseline is no projection (the look image's own landmarks). Identity similarity to the look:
the lite identity net. Both starts (w_avg, the encoder's inversion) are measured.

Animation: a SynthFaces motion clip of identity B, its landmarks read from the rendered frames by
the lite FAN (a detector on a driving video, jitter included), projected on the look of A with and
without One-Euro smoothing (at its default 25 fps). The lite FAN reads renders almost exactly, so
the same track with Gaussian jitter added (`*_jittered_track`) stands for a noisier detector.
`temporal_jitter` = mean |second difference| of the achieved landmarks over the frames /
inter-ocular (lower = steadier; real motion counts too: see `temporal_jitter_targets_exact`).
"""

from lgfa_lite.bench import register

MOTION = ["open mouth", "shake head"]
JITTER_PX = 0.5  # the jittered track: detections + N(0, 0.5 px), a noisier detector than the lite FAN on renders


def nme(points, target, idx=slice(None)):
    """Mean point error / inter-ocular distance of the target, per face (B,)."""
    from lgfa_lite.nets.landmarks import inter_ocular

    return (points[:, idx] - target[:, idx]).norm(dim=-1).mean(1) / inter_ocular(target)


def jitter(points):
    """(T, 68, 2) -> mean frame-to-frame landmark acceleration / inter-ocular."""
    from lgfa_lite.nets.landmarks import inter_ocular

    accel = (points[2:] - 2 * points[1:-1] + points[:-2]).norm(dim=-1).mean(1)
    return float((accel / inter_ocular(points[1:-1])).mean())


@register("projection")
def projection(quick: bool) -> dict:
    import statistics

    import torch

    from lgfa_lite import hub
    from lgfa_lite.methods import projection as P
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.synthface import FaceParams, motion_clip, render
    from lgfa_lite.synthface.dataset import images_of, standard_faces

    pipe = P.load()
    id_net = hub.load(lite_weights("identity-synthfaces-64", pipe.world)).eval()
    n, steps = (1, 8) if quick else (6, 300)
    early = max(1, steps // 3)  # "faster": the error after a third of the steps, per start
    faces = standard_faces("test", 64, world=pipe.world)  # the faces its generator learnt
    res, seconds = {}, []
    for init in ("w_avg", "encoder"):
        rows = []
        for k in range(n):
            a, b = 2 * k, 2 * k + 1  # neighbours are different identities (ids cycle through the split)
            look, target = images_of(faces, slice(a, a + 1)), faces["landmarks"][b : b + 1].float()
            snap = {}

            def at_early(s, snap=snap, target=target):
                if s.step == early:
                    snap["nme"] = float(nme(pipe.fan(s.image), target)[0])

            with torch.no_grad():
                base = float(nme(pipe.fan(look), target)[0])
            out = pipe.project(look, target, steps=steps, init=init, callback=at_early)
            with torch.no_grad():
                sim = float(id_net.similarity(out.image, look)[0])
            groups = {g: float(nme(out.landmarks, target, list(idx))[0]) for g, idx in P.REPORT_GROUPS.items()}
            rows.append(
                {
                    "nme": float(nme(out.landmarks, target)[0]),
                    "base": base,
                    "sim": sim,
                    "early": snap["nme"],
                    **{f"g_{g}": v for g, v in groups.items()},
                }
            )
            if init == "w_avg":
                seconds.append(out.seconds)
        mean = {key: statistics.fmean(r[key] for r in rows) for key in rows[0]}
        suffix = "" if init == "w_avg" else "_encoder_init"
        res[f"landmark_nme{suffix}"] = mean["nme"]
        res[f"look_id_sim{suffix}"] = mean["sim"]
        res[f"landmark_nme_after_{early}_steps{suffix}"] = mean["early"]
        if init == "w_avg":
            res["baseline_look_only_nme"] = mean["base"]
            res.update({f"landmark_nme_{g}": mean[f"g_{g}"] for g in P.REPORT_GROUPS})
    res["n_pairs"] = float(n)
    res["steps"] = float(steps)
    res["seconds_300_steps_64"] = statistics.median(seconds) * 300 / steps

    # animation: a motion of identity B driven onto the look of A
    frames, first, later = (3, 4, 2) if quick else (16, 300, 50)
    clip, _ = motion_clip(FaceParams.identity(int(faces["identity"][1])), MOTION, frames)
    with torch.no_grad():
        video = render(clip, 64, world=pipe.world)
        detected = pipe.fan(video.image)
    look = images_of(faces, slice(0, 1))
    g = torch.Generator().manual_seed(0)
    jittered = detected + JITTER_PX * torch.randn(detected.shape, generator=g)
    runs = [("", detected, True), ("_unsmoothed", detected, False)]
    runs += [("_jittered_track", jittered, True), ("_jittered_track_unsmoothed", jittered, False)]
    for name, track, smooth in runs:
        anim = pipe.animate(look, track, steps=first, later_steps=later, smooth=smooth)
        res[f"temporal_jitter{name}"] = jitter(anim.landmarks)
        res[f"animation_landmark_nme{name}"] = float(nme(anim.landmarks, video.landmarks.float()).mean())
        if smooth:
            res[f"temporal_jitter_targets_smoothed{name}"] = jitter(anim.targets)
        if name == "":
            res["animation_seconds_per_frame_64"] = anim.seconds / frames
    res["temporal_jitter_targets_detected"] = jitter(detected)
    res["temporal_jitter_targets_jittered"] = jitter(jittered)
    res["temporal_jitter_targets_exact"] = jitter(video.landmarks.float())
    res["animation_frames"] = float(frames)
    return res
