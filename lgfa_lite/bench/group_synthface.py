"""Benchmark group ``synthface``: SynthFaces rendering throughput (images/s) at 64 and 128 px."""
import time

from lgfa_lite.bench import register


def images_per_s(resolution: int, batch: int, seconds: float, min_batches: int, warmup: bool = True) -> float:
    # Lazy imports: `--list` stays fast and works even while synthface is broken.
    import torch

    from lgfa_lite.synthface import FaceParams, render

    with torch.no_grad():
        if warmup:  # first call builds the cached renderer and allocations: not throughput
            render(FaceParams.sample(batch, seed=0), resolution=resolution)
        n, start, seed = 0, time.perf_counter(), 1
        while n < min_batches or time.perf_counter() - start < seconds:
            # Timed: sampling the parameters and the full render, as a data loader would do.
            out = render(FaceParams.sample(batch, seed=seed), resolution=resolution)
            assert out.image.shape == (batch, 3, resolution, resolution), out.image.shape
            n, seed = n + 1, seed + 1
        return n * batch / (time.perf_counter() - start)


@register("synthface")
def synthface(quick: bool) -> dict:
    # quick (tests): one batch of 4, no warm-up; the number only proves the pipeline runs.
    batch, seconds, min_batches = (4, 0.0, 1) if quick else (32, 5.0, 3)
    return {f"images_per_s_{r}": images_per_s(r, batch, seconds, min_batches, warmup=not quick) for r in (64, 128)}
