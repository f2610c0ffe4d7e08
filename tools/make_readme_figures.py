"""Regenerate the README's pictures (docs/img/*.png) from SynthFaces and the lite checkpoints.

    python tools/make_readme_figures.py            # writes docs/img/*.png
    python tools/make_readme_figures.py --out DIR  # somewhere else

Each picture is one small PNG strip of real output, drawn the same way every time (fixed seeds):
  synthfaces.png         8 random SynthFaces renders of the default world (identity, expression, pose,
                         camera), 128 px;
  lgfa_nods.png          8 of the 16 frames LGFA makes of a held-out test face for "The person nods.";
  lgfa_opens_mouth.png   the same face and "The person opens the mouth.";
  lgfa_smiles.png        the same face and "The person smiles.".
The LGFA strips use the shipped `lgfa-synthfaces-64` (64 px frames, shown 2x with sharp pixels).
It runs on a CPU in well under a minute.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from lgfa_lite.synthface import FaceParams, identities, render  # noqa: E402
from lgfa_lite.video import frames_to_strip, to_uint8_frames, upscale_frames  # noqa: E402

FACE = 3  # the held-out test identity the LGFA strips animate (the Space's default sample face)
PROMPTS = {
    "lgfa_nods.png": "The person nods.",
    "lgfa_opens_mouth.png": "The person opens the mouth.",
    "lgfa_smiles.png": "The person smiles.",
}
MAX_BYTES = 150_000  # keep every picture small: the README loads them all


def save(strip: np.ndarray, path: Path) -> None:
    Image.fromarray(strip).save(path, optimize=True)
    size = path.stat().st_size
    print(
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
        f"{strip.shape[1]}x{strip.shape[0]} px, {size / 1000:.0f} KB"
    )
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over the {MAX_BYTES} byte limit")


def synthfaces_strip() -> np.ndarray:
    images = render(FaceParams.sample(8, seed=0), 128).image  # the default world (v2); (8, 3, 128, 128) in [0, 1]
    return frames_to_strip(images, max_frames=8)


def lgfa_strips() -> dict[str, np.ndarray]:
    from lgfa_lite.methods import lgfa

    pipe = lgfa.load()
    face = render(FaceParams.identity(identities("test", 100)[FACE]), 64, world=pipe.world).image  # (1, 3, 64, 64)
    out = {}
    for name, prompt in PROMPTS.items():
        video = pipe(face, prompt, frames=16, seed=0)  # (16, 3, 64, 64) in [0, 1]
        frames = upscale_frames(to_uint8_frames(video), min_size=128, mode="nearest")
        out[name] = frames_to_strip(frames, max_frames=8)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"), help="output folder (default docs/img)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    save(synthfaces_strip(), out / "synthfaces.png")
    for name, strip in lgfa_strips().items():
        save(strip, out / name)


if __name__ == "__main__":
    main()
