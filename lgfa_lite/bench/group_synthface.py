"""Benchmark group ``synthface``: SynthFaces rendering throughput (images/s) at 64 and 128 px,
and how legible each action unit is to a 64 px model (`legibility`). Keys without a suffix: world
v2, the default; `_v1` keys: v1 (until 2026-12-03 the unsuffixed speeds were v1's, `_v2` v2's).

The headline number is sustained throughput over the whole run (what a data loader gets).
The median and best single batch are reported too: on this shared VM a few batches stall for
seconds (memory-heavy work only; a matmul loop stays steady), and the gap between sustained
and median throughput (with `cpu_steal_pct`, read from /proc/stat during the run) shows it.
"""

import time

from lgfa_lite.bench import register


def _cpu_ticks():
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        return sum(vals), vals[7] if len(vals) > 7 else 0
    except OSError:
        return 0, 0


def images_per_s(resolution: int, batch: int, seconds: float, min_batches: int, warmup: bool = True, world=None):
    # Lazy imports: `--list` stays fast and works even while synthface is broken.
    import torch

    from lgfa_lite.synthface import FaceParams, render

    with torch.no_grad():
        if warmup:  # first call builds the cached renderer and allocations: not throughput
            render(FaceParams.sample(batch, seed=0), resolution=resolution, world=world)
        times, start, seed = [], time.perf_counter(), 1
        while len(times) < min_batches or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            # Timed: sampling the parameters and the full render, as a data loader would do.
            out = render(FaceParams.sample(batch, seed=seed), resolution=resolution, world=world)
            times.append(time.perf_counter() - t0)
            assert out.image.shape == (batch, 3, resolution, resolution), out.image.shape
            seed += 1
        times.sort()
        return len(times) * batch / sum(times), batch / times[len(times) // 2], batch / times[0]


@register("synthface")
def synthface(quick: bool) -> dict:
    # quick (tests): one batch of 4, no warm-up; the number only proves the pipeline runs.
    batch, seconds, min_batches = (4, 0.0, 1) if quick else (32, 10.0, 5)
    total0, steal0 = _cpu_ticks()
    out = {}
    for world, suffix in (("v2", ""), ("v1", "_v1")):  # the default world, then v1 (as legibility)
        for r in (64, 128):
            sustained, median, best = images_per_s(r, batch, seconds, min_batches, warmup=not quick, world=world)
            out[f"images_per_s_{r}{suffix}"] = sustained
            out[f"images_per_s_{r}{suffix}_median_batch"] = median
            out[f"images_per_s_{r}{suffix}_best_batch"] = best
    total1, steal1 = _cpu_ticks()
    out["cpu_steal_pct"] = 100.0 * (steal1 - steal0) / max(1, total1 - total0)
    n = 4 if quick else 64
    out.update(legibility("v2", n))
    out.update({f"{k}_v1": v for k, v in legibility("v1", n).items()})
    return out


def legibility(world=None, n_identities: int = 64, resolution: int = 64) -> dict:
    """How visible each AU is to a `resolution` px model: test identities (neutral, frontal, studio
    light) rendered with one AU at 0 and at 1. Per AU: the mean number of pixels whose largest
    channel change exceeds 0.1, and the mean over faces of the largest landmark displacement (px)."""
    import torch

    from lgfa_lite.synthface import AU_NAMES, FaceParams, identities, render

    faces = FaceParams.cat([FaceParams.identity(i) for i in identities("test", n_identities)])
    base = render(faces, resolution, world=world)
    out = {}
    for k, name in enumerate(AU_NAMES):
        aus = torch.zeros_like(faces.aus)
        aus[:, k] = 1.0
        moved = render(faces.replace(aus=aus), resolution, world=world)
        changed = (moved.image - base.image).abs().amax(1) > 0.1
        out[f"legibility_pixels_{name}"] = float(changed.flatten(1).sum(1).float().mean())
        out[f"legibility_landmark_px_{name}"] = float((moved.landmarks - base.landmarks).norm(dim=-1).amax(1).mean())
    out["legibility_pixels_min"] = min(out[f"legibility_pixels_{n}"] for n in AU_NAMES)
    return out
