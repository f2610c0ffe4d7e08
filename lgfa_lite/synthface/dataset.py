"""SynthFaces datasets: deterministic by seed, identities split into disjoint train/val/test."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .motions import MOTIONS, caption, motion_clip
from .params import FaceParams
from .render import render
from .world import get_world

SPLITS = ("train", "val", "test")


def default_cache_dir() -> Path:
    """Where rendered dataset chunks are kept: $LGFA_CACHE_DIR or ~/.cache/lgfa_lite/synthfaces."""
    return Path(os.environ.get("LGFA_CACHE_DIR") or Path.home() / ".cache" / "lgfa_lite" / "synthfaces")


def split_of(identity: int) -> str:
    """Identity -> split by a stable hash: 80 % train, 10 % val, 10 % test."""
    h = int(hashlib.sha1(f"synthfaces-id-{int(identity)}".encode()).hexdigest()[:8], 16) % 10
    return "train" if h < 8 else ("val" if h == 8 else "test")


def identities(split: str, n: int) -> list[int]:
    """The first n identity ids of a split (the same list every time)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    out, i = [], 0
    while len(out) < n:
        if split_of(i) == split:
            out.append(i)
        i += 1
    return out


def _generator(*key) -> torch.Generator:
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:15]
    return torch.Generator().manual_seed(int(digest, 16))


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    return (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


class SynthFaceImages(Dataset):
    """Still faces with ground truth. Item i: identity ids[i % n_identities], its own random
    expression, pose, light and background. `batch(indices)` renders many at once (fast path).

    cache_dir: renders are stored as .npz chunks (no pickles) and reused when present.
    world: the SynthFaces world ('v1', 'v2'; None = the default world).
    """

    CHUNK = 256

    def __init__(self, split="train", size=1000, resolution=64, seed=0, n_identities=None, cache_dir=None, world=None):
        self.split, self.size, self.resolution, self.seed = split, int(size), int(resolution), int(seed)
        self.world = get_world(world)
        self.ids = identities(split, n_identities or max(1, min(self.size, 2000)))
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def __len__(self):
        return self.size

    def params(self, index: int) -> FaceParams:
        if not 0 <= index < self.size:
            raise IndexError(index)
        g = _generator("img", self.split, self.seed, index)
        return FaceParams.sample(1, generator=g, identities=[self.ids[index % len(self.ids)]])

    def batch(self, indices) -> dict:
        indices = [int(i) for i in indices]
        if self.cache_dir is not None:
            return self._cached(indices)
        p = FaceParams.cat([self.params(i) for i in indices])
        out = render(p, self.resolution, world=self.world)
        return {
            "image": out.image,
            "landmarks": out.landmarks,
            "visibility": out.visibility,
            "identity": torch.tensor([self.ids[i % len(self.ids)] for i in indices]),
            **p.tensors(),
            "caption": caption(p),
        }

    def __getitem__(self, index):
        item = self.batch([index])
        return {k: (v[0] if not isinstance(v, list) else v[0]) for k, v in item.items()}

    def _cached(self, indices):
        data = {c: self._stored(c) for c in {i // self.CHUNK for i in indices}}
        rows = [(data[i // self.CHUNK], i % self.CHUNK) for i in indices]
        merged = {k: np.stack([d[k][r] for d, r in rows]) for k in next(iter(data.values()))}
        out = {k: torch.from_numpy(v) for k, v in merged.items() if k != "image"}
        out["image"] = torch.from_numpy(merged["image"]).permute(0, 3, 1, 2).float() / 255
        out["caption"] = caption(FaceParams.from_data(out))  # the asked rows only
        return out

    def chunk(self, c: int) -> dict:
        """Numpy arrays of items [c * CHUNK, (c + 1) * CHUNK): images uint8 (N, H, W, 3), ground truth,
        captions. Rendered on first use, then read from the cache. Items are the same whatever the
        dataset's size, so a chunk cached by a smaller dataset (fewer rows) is rendered again, whole.
        Captions are written from the parameters on every read, so a cache never serves old wording."""
        data = self._stored(c)
        params = FaceParams.from_data({k: torch.from_numpy(v) for k, v in data.items()})
        return {**data, "caption": np.array(caption(params))}

    def _stored(self, c: int) -> dict:
        """`chunk(c)` without its captions: the cached arrays (rendered and cached when missing)."""
        world = "" if self.world.name == "v1" else f"-{self.world.name}"  # v1 keeps its old file names
        path = self.cache_dir / f"{self.split}{world}-s{self.seed}-r{self.resolution}-n{len(self.ids)}-c{c}.npz"
        lo, hi = c * self.CHUNK, min(self.size, (c + 1) * self.CHUNK)
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                if len(z["identity"]) >= hi - lo:
                    return {k: z[k][: hi - lo] for k in z.files if k != "caption"}
        p = FaceParams.cat([self.params(i) for i in range(lo, hi)])
        # Small render batches: big ones spend their time allocating temporaries.
        parts = [render(p[j : j + 32], self.resolution, world=self.world) for j in range(0, hi - lo, 32)]
        data = {
            "image": _to_uint8(torch.cat([o.image for o in parts])),
            "landmarks": torch.cat([o.landmarks for o in parts]).numpy(),
            "visibility": torch.cat([o.visibility for o in parts]).numpy(),
            "identity": np.array([self.ids[i % len(self.ids)] for i in range(lo, hi)]),
            **{k: v.numpy() for k, v in p.tensors().items()},
        }
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # A per-process temporary name: two trainings filling the same cache must not collide.
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **data, caption=np.array(caption(p)))  # captions for older readers
        tmp.replace(path)
        return data


class SynthFaceClips(Dataset):
    """Videos from motion programs. Item i: one identity, one motion (or two chained, with
    probability `chain_prob`), `frames` frames, its caption and per-frame ground truth."""

    def __init__(
        self,
        split="train",
        size=200,
        frames=16,
        resolution=64,
        seed=0,
        motions=None,
        chain_prob=0.25,
        n_identities=None,
        world=None,
    ):
        self.world = get_world(world)
        self.split, self.size, self.frames, self.resolution, self.seed = (
            split,
            int(size),
            int(frames),
            int(resolution),
            int(seed),
        )
        self.motions = list(motions or MOTIONS)
        self.chain_prob = float(chain_prob)
        self.ids = identities(split, n_identities or max(1, min(self.size, 2000)))

    def __len__(self):
        return self.size

    def program(self, index):
        if not 0 <= index < self.size:
            raise IndexError(index)
        g = _generator("clip", self.split, self.seed, index)
        face = FaceParams.sample(1, generator=g, identities=[self.ids[index % len(self.ids)]])
        # Clips start from a calm face so the motion is what changes.
        face = face.replace(aus=face.aus * 0.2, pose=face.pose * 0.5, jaw=face.jaw * 0)
        k = 2 if torch.rand(1, generator=g).item() < self.chain_prob else 1
        pick = torch.randperm(len(self.motions), generator=g)[:k].tolist()
        return face, [self.motions[j] for j in pick]

    def __getitem__(self, index):
        face, names = self.program(index)
        seq, text = motion_clip(face, names, self.frames)
        out = render(seq, self.resolution, world=self.world)
        return {
            "video": out.image,
            "landmarks": out.landmarks,
            "visibility": out.visibility,
            "aus": seq.aus,
            "pose": seq.pose,
            "jaw": seq.jaw,
            "caption": text,
            "motions": names,
            "identity": self.ids[index % len(self.ids)],
        }


# The standard data: the same renders the cache keeps, so every net and the benchmark share them.
TRAIN_SIZE, TRAIN_IDS = 16384, 800
TEST_SIZE, TEST_IDS = 1024, 100


def load_faces(
    split: str, size: int, resolution: int = 64, n_identities: int = 100, cache_dir=None, world=None
) -> dict:
    """All faces of a split in memory: images uint8 (N, 3, H, W) and ground truth."""
    ds = SynthFaceImages(
        split,
        size=size,
        resolution=resolution,
        seed=0,
        n_identities=n_identities,
        cache_dir=cache_dir or default_cache_dir(),
        world=world,
    )
    # Straight from the uint8 chunks: a float copy of 16k faces is 800 MB of fresh pages.
    chunks = [ds.chunk(c) for c in range((size + ds.CHUNK - 1) // ds.CHUNK)]
    out = {
        k: torch.from_numpy(np.concatenate([c[k] for c in chunks])[:size])
        for k in chunks[0]
        if k not in ("image", "caption")
    }
    out["image"] = (
        torch.from_numpy(np.concatenate([c["image"] for c in chunks])[:size]).permute(0, 3, 1, 2).contiguous()
    )
    out["caption"] = [str(t) for c in chunks for t in c["caption"]][:size]
    return out


def standard_faces(split: str, size: int, resolution: int = 64, cache_dir=None, world=None) -> dict:
    """The faces every trainer, notebook and benchmark uses: ~20 renders per training identity,
    ~10 per test identity (so the standard sizes hit the same cache files)."""
    n_ids = min(TRAIN_IDS, max(2, size // 20)) if split == "train" else min(TEST_IDS, max(2, size // 8))
    return load_faces(split, size, resolution, n_ids, cache_dir, world)


def images_of(data: dict, idx) -> torch.Tensor:
    return data["image"][idx].float() / 255
