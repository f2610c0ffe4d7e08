"""Benchmark group ``lgfa``: videos of held-out SynthFaces faces animated with the motion vocabulary.

Each of 16 test faces (4 with --quick) is animated, 16 frames, with "The person {verb}." for every
SynthFaces motion (18, chance 1/18), and so is a true render of the same face and motion. Reading a
clip (`read_video`): the lite AU regressor reads AUs, the lite 3D fitter pose; the change from frame
0 at a quarter, half, three quarters and the end (AUs, pose / 20 degrees) is compared (cosine) with
every motion's own trajectory (`motion_templates`), and the most similar is the motion read.

motion_accuracy (_expressions, _head): read == prompted; _ground_truth_renders: the same reader on
  the true renders (its ceiling); _fitter_aus: AUs read by the fitter's own AU head (the old reader);
  _colour_reset: the expression clips read again with every frame's colour (CbCr) set to frame 0's.
motion_accuracy_paraphrases: the same clips prompted with `PARAPHRASES`, one new sentence per motion
  made of words the lite CLIP knows (it was trained on none of these sentences).
*_inverted_truth (motion_accuracy_expressions, _expressions_colour_reset, change_*_expressions): the
  true expression clip inverted frame by frame by the encoder and decoded, G(E(truth)): an animator that follows
  the true motion's W+ path exactly. What the generator and encoder let any animator show, its ceiling
  on the paint-free keys (an animator that paints can beat it on motion_accuracy, not on those).
clip_r_precision: the last frame, embedded by the named lite CLIP, retrieves its prompt among all.
id_sim_first_last: lite identity net, first vs last frame.
acd (_head, _expressions, _one_way): mean 1 - cosine of the identity net between consecutive frames
  (the original's ACD, a sum of squared distances of unit features, is 2 (T - 1) acd). Baselines built
  from the clip's own frames: acd_baseline_linear_w, a linear W+ walk from frame 0 to the last frame;
  acd_baseline_linear_w_keyframes, a linear walk through its key frames too (`keyframe_walk`), close
  to a floor for any path through them; acd_ground_truth_renders: the true renders.
change_{cosine,size_vs_truth,colour_vs_truth}_{expressions,head}: for the motions that end at their
  apex, the first-to-last-frame change against the true render's (`change_vs_truth`).
seconds_16_frames_64: a face in, an mp4 out (inversion, CLIP, 16 frames, encoding), CPU.
What the keys mean for the shipped animator: docs/lgfa.md; their history: docs/experiments/lgfa.md.
"""

import statistics
import tempfile
import time
from pathlib import Path

from lgfa_lite.bench import card_minutes, register

# One sentence per motion, words from the SynthFaces captions in sentences no training prompt has.
PARAPHRASES = {
    "smile": "The face smiles.",
    "frown": "The face is frowning.",
    "surprise": "A surprised face.",
    "open mouth": "The face opens the mouth.",
    "raise eyebrows": "The person is raising the eyebrows.",
    "close eyes": "A person closing the eyes.",
    "wink": "The face winks.",
    "pout": "The face pouts.",
    "angry": "The face looks angry.",
    "sad": "A sad face.",
    "disgust": "A disgusted face.",
    "turn left": "The head turns to the left.",
    "turn right": "The head turns to the right.",
    "look up": "The face looks up.",
    "look down": "The face looks down.",
    "nod": "The head nods.",
    "shake head": "A person shakes the head.",
    "tilt": "The head tilts.",
}
POSE_SCALE = 20.0  # degrees of head rotation that count as much as a full AU
SAMPLE_AT = (0.25, 0.5, 0.75, 1.0)  # where in the clip a trajectory is compared


def motion_templates():
    """(names, (M, 4 * 18)): each motion's change from frame 0 (AUs, pose / POSE_SCALE) at a
    quarter, half, three quarters and all of the clip, so a nod (down and back) and a look
    down (down and stay) differ."""
    import torch

    from lgfa_lite.synthface import MOTIONS
    from lgfa_lite.synthface.params import au_vector

    names = list(MOTIONS)
    rows = []
    for m in MOTIONS.values():
        apex = torch.cat([au_vector(m.aus)[0], torch.tensor(m.pose) / POSE_SCALE])
        rows.append(torch.cat([float(m.weight(torch.tensor(u))) * apex for u in SAMPLE_AT]))
    return names, torch.stack(rows)


def trajectory_vector(aus, pose):
    """Per-frame AUs (T, 15) and pose (T, 3) -> their change from frame 0 at SAMPLE_AT, (4 * 18,)."""
    import torch

    traj = torch.cat([aus, pose / POSE_SCALE], 1)
    last = len(traj) - 1
    return torch.cat([traj[round(u * last)] - traj[0] for u in SAMPLE_AT])


def read_video(video, fitter, au_net):
    """Frames (T, 3, H, W) in [0, 1] -> their trajectory vector (AUs read by the AU regressor, pose
    by the fitter), and the one with the fitter's own AU head (the reader before 2026-11-26)."""
    fit = fitter(video)
    return trajectory_vector(au_net(video), fit.pose), trajectory_vector(fit.aus, fit.pose)


def consecutive_distance(emb) -> float:
    """Identity embeddings (T, E), unit -> mean 1 - cosine between consecutive frames (the acd)."""
    return float((1 - (emb[1:] * emb[:-1]).sum(1)).mean())


KEY_FRAMES = {"hold": 0, "pulse": 1, "swing": 2}  # interior key frames of each motion envelope


def keyframe_walk(ws, interior: int):
    """Frame latents (T, ...) -> a linear walk in W+ through frame 0, `interior` key frames and the last
    frame, each key at its own frame number. The keys are the clip's own: in turn, the frame farthest
    from the walk so far (a nod's lowest frame; a shake's two turns)."""
    import torch

    flat = ws.flatten(1)

    def walk(keys):
        t = torch.arange(len(flat), dtype=flat.dtype)
        out = torch.empty_like(flat)
        for a, b in zip(keys[:-1], keys[1:]):
            u = ((t[a : b + 1] - a) / (b - a))[:, None]
            out[a : b + 1] = flat[a] + u * (flat[b] - flat[a])
        return out

    keys = [0, len(flat) - 1]
    for _ in range(interior):
        keys = sorted(set(keys) | {int((flat - walk(keys)).norm(dim=1).argmax())})
    return walk(keys).view_as(ws)


def with_first_frame_colour(video):
    """Frames (T, 3, H, W) in [0, 1] -> the same luminance with frame 0's colour (CbCr) in every frame."""
    from lgfa_lite.nets.blocks import chroma, from_luma_chroma, luma

    return from_luma_chroma(luma(video), chroma(video[:1])).clamp(0, 1)


def change_vs_truth(video, truth) -> tuple[float, float, float, float, float]:
    """Two clips (T, 3, H, W) of one face and motion -> (cosine of their last-minus-first-frame changes,
    the clip's change size (L2), the truth's, the clip's colour change (mean |CbCr|), the truth's).
    Their frames 0 differ a little (an inversion vs a render), which caps the cosine below 1."""
    import torch.nn.functional as F

    from lgfa_lite.nets.blocks import chroma

    a, b = (video[-1] - video[0]).flatten(), (truth[-1] - truth[0]).flatten()
    ca, cb = chroma(video[[0, -1]]), chroma(truth[[0, -1]])
    return (
        float(F.cosine_similarity(a, b, 0)),
        float(a.norm()),
        float(b.norm()),
        float((ca[1] - ca[0]).abs().mean()),
        float((cb[1] - cb[0]).abs().mean()),
    )


def read_motion(vector, names, templates) -> str:
    """The motion whose template is most similar (cosine) to a trajectory vector."""
    import torch.nn.functional as F

    return names[int(F.cosine_similarity(vector[None], templates, dim=1).argmax())]


@register("lgfa")
def lgfa(quick: bool) -> dict:
    import torch

    from lgfa_lite import hub
    from lgfa_lite.methods import lgfa as L
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.synthface import MOTIONS, FaceParams, motion_clip, render
    from lgfa_lite.synthface.dataset import images_of, standard_faces
    from lgfa_lite.video import write_mp4

    try:
        pipe = L.load()
    except hub.CheckpointError:
        return {"checkpoint_missing": 1.0}
    model, nets = pipe.model, pipe.nets
    world = pipe.world  # the SynthFaces world of its generator: faces, renders and judges of that world
    judges = ("fitter-synthfaces-64", "au-synthfaces-64", "identity-synthfaces-64")
    fitter, au_net, id_net = (hub.load(lite_weights(n, world)).eval() for n in judges)
    names, templates = motion_templates()
    head = {n for n in names if not MOTIONS[n].aus}
    prompts = [f"The person {MOTIONS[n].verb}." for n in names]
    n_faces = 4 if quick else 16
    test = standard_faces("test", 1024, world=world)
    which = slice(0, 10 * n_faces, 10)  # distinct identities
    faces = images_of(test, which)
    params = FaceParams.from_data(test, which)
    frames = 16
    one_way = {n for n in names if MOTIONS[n].envelope == "hold"}
    hits_paraphrases = []
    hits, hits_fitter_aus, hits_truth, r_hits, id_sims, acds, acds_lin = [], [], [], [], [], [], []
    acds_truth, acds_keys = [], []  # acds_keys: (motion name, acd of its key-frame walk)
    changes = []  # one-way motions: (is head motion, change_vs_truth)
    colour_reset, colour_reset_truth = [], []  # expression clips
    hits_inverted, colour_reset_inverted, changes_inverted = [], [], []  # G(E(truth)); expressions only
    # the named CLIP judges retrieval, also for an animator that fine-tuned its own text tower
    judge = nets.clip if model.clip is None else hub.load(model.config["clip"]).eval()
    with torch.no_grad():
        text, judge_text = nets.clip.encode_text(prompts), judge.encode_text(prompts)
        text_paraphrases = nets.clip.encode_text([PARAPHRASES[n] for n in names])
        for k, face in enumerate(faces):
            w_inv, v = nets.encoder(face[None]), nets.clip.encode_image(face[None])
            for i in range(len(prompts)):
                h0 = model.h0(1, torch.Generator().manual_seed(i))  # the same start for the prompt and its paraphrase
                ws = model(w_inv, text[i : i + 1], v, frames, h0, "linear")["ws"][0]
                video = nets.decode(ws)
                reading, reading_fitter_aus = read_video(video, fitter, au_net)
                hits.append((names[i], read_motion(reading, names, templates) == names[i]))
                hits_fitter_aus.append(read_motion(reading_fitter_aus, names, templates) == names[i])
                paraphrased = nets.decode(model(w_inv, text_paraphrases[i : i + 1], v, frames, h0, "linear")["ws"][0])
                hits_paraphrases.append(
                    read_motion(read_video(paraphrased, fitter, au_net)[0], names, templates) == names[i]
                )
                truth = render(motion_clip(params[k], names[i], frames)[0], video.shape[-1], world=world).image
                read_truth = read_motion(read_video(truth, fitter, au_net)[0], names, templates)
                hits_truth.append((names[i], read_truth == names[i]))
                r_hits.append(int((judge.encode_image(video[-1:]) @ judge_text.T).argmax()) == i)
                emb = id_net(video)
                id_sims.append(float(emb[0] @ emb[-1]))
                acds.append((names[i], consecutive_distance(emb)))
                acds_lin.append((names[i], consecutive_distance(id_net(nets.decode(keyframe_walk(ws, 0))))))
                keys = KEY_FRAMES[MOTIONS[names[i]].envelope]  # a one-way motion's key walk is that same walk
                acds_keys.append(
                    (
                        names[i],
                        acds_lin[-1][1]
                        if keys == 0
                        else consecutive_distance(id_net(nets.decode(keyframe_walk(ws, keys)))),
                    )
                )
                acds_truth.append(consecutive_distance(id_net(truth)))
                if names[i] in one_way:
                    changes.append((names[i] in head, change_vs_truth(video, truth)))
                if names[i] not in head:
                    inverted = nets.decode(nets.encoder(truth))
                    hits_inverted.append(
                        (names[i], read_motion(read_video(inverted, fitter, au_net)[0], names, templates) == names[i])
                    )
                    if names[i] in one_way:
                        changes_inverted.append((False, change_vs_truth(inverted, truth)))
                    for out, clip in (
                        (colour_reset, video),
                        (colour_reset_truth, truth),
                        (colour_reset_inverted, inverted),
                    ):
                        out.append(
                            read_motion(read_video(with_first_frame_colour(clip), fitter, au_net)[0], names, templates)
                            == names[i]
                        )
        # the Space's path: a face in, an mp4 out
        times = []
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(3 if quick else 5):
                t0 = time.perf_counter()
                video = pipe(faces[:1], prompts[0], frames, seed=k)
                write_mp4(video, Path(tmp) / f"{k}.mp4", fps=8)
                times.append(time.perf_counter() - t0)
    return {
        **card_minutes(L.WEIGHTS),
        "motion_accuracy": statistics.mean(h for _, h in hits),
        "motion_accuracy_expressions": statistics.mean(h for n, h in hits if n not in head),
        "motion_accuracy_head": statistics.mean(h for n, h in hits if n in head),
        "motion_accuracy_ground_truth_renders": statistics.mean(h for _, h in hits_truth),
        "motion_accuracy_expressions_colour_reset": statistics.mean(colour_reset),
        "motion_accuracy_ground_truth_renders_expressions": statistics.mean(h for n, h in hits_truth if n not in head),
        "motion_accuracy_ground_truth_renders_expressions_colour_reset": statistics.mean(colour_reset_truth),
        "motion_accuracy_fitter_aus": statistics.mean(hits_fitter_aus),
        "motion_accuracy_paraphrases": statistics.mean(hits_paraphrases),
        "motion_accuracy_expressions_inverted_truth": statistics.mean(h for _, h in hits_inverted),
        "motion_accuracy_expressions_colour_reset_inverted_truth": statistics.mean(colour_reset_inverted),
        **{
            f"change_{k}_expressions_inverted_truth": v
            for k, v in summarize_changes([c for _, c in changes_inverted]).items()
        },
        "motion_accuracy_chance": 1 / len(names),
        "n_motions": float(len(names)),
        "n_videos": float(len(hits)),
        "clip_r_precision": sum(r_hits) / len(r_hits),
        "id_sim_first_last": statistics.mean(id_sims),
        "acd": statistics.mean(a for _, a in acds),
        "acd_baseline_linear_w": statistics.mean(a for _, a in acds_lin),
        "acd_baseline_linear_w_keyframes": statistics.mean(a for _, a in acds_keys),
        "acd_head": statistics.mean(a for n, a in acds if n in head),
        "acd_baseline_linear_w_keyframes_head": statistics.mean(a for n, a in acds_keys if n in head),
        "acd_expressions": statistics.mean(a for n, a in acds if n not in head),
        "acd_baseline_linear_w_keyframes_expressions": statistics.mean(a for n, a in acds_keys if n not in head),
        "acd_one_way": statistics.mean(a for n, a in acds if n in one_way),
        "acd_baseline_linear_w_one_way": statistics.mean(a for n, a in acds_lin if n in one_way),
        "acd_ground_truth_renders": statistics.mean(acds_truth),
        "seconds_16_frames_64": statistics.median(times),
        **{
            f"change_{key}_{kind}": value
            for kind, is_head in (("expressions", False), ("head", True))
            for key, value in summarize_changes([c for h, c in changes if h == is_head]).items()
        },
    }


def summarize_changes(changes) -> dict:
    """[change_vs_truth tuples] -> mean cosine; the clips' total change size and colour change / the truths'."""
    return {
        "cosine": statistics.mean(c[0] for c in changes),
        "size_vs_truth": sum(c[1] for c in changes) / sum(c[2] for c in changes),
        "colour_vs_truth": sum(c[3] for c in changes) / sum(c[4] for c in changes),
    }
