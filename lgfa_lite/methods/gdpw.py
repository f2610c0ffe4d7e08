"""GDPW (geometry-driven progressive warping): face reenactment and 3D-parameter editing.

A morphable model is fitted to the source and to the driving face; the driving geometry keeps the
source's shape (identity) and takes the driving expression (AUs), jaw, pose and camera. The mesh
in both poses gives the guidance, rasterized on the driving image plane:

- ``geom_disp``: per-vertex displacement source.xy - driving.xy = a backward flow driving -> source;
- ``neural_codes`` (the original's default): a learnable per-vertex code table, rasterized on the
  driving plane (modulates the decoder) and on the source plane (fed to the encoder);
- ``both``.

The generator encodes the source in a pyramid, warps the bottleneck by the mesh flow, then decodes
coarse to fine: at each level a SPADE residual block modulated by the guidance, a predicted flow
(here: a correction of the mesh flow at that level, zero at init, so an untrained net starts as a
mesh warp), and the encoder's skip features warped by that flow. Output: the source warped by the
last flow plus a decoded RGB residual (the original decodes RGB directly; the residual, zero at init,
lets a net trained for minutes on a CPU start from the mesh warp and only improve on it).

Here FLAME/DECA and nvdiffrast are replaced by the SynthFaces morphable model, the lite 3D fitter
(SynthFaces faces) or mediapipe FaceMesh landmarks + `fit_landmarks` (real photos), and the
PyTorch rasterizer. On a photo larger than the net, the net runs at its resolution and its last
flow warps the photo at full resolution; the net's low-frequency correction is added on top
(`GDPWPipeline.reenact_photo`), so a warp keeps detail the 64 px net cannot draw.

    pipe = load()                                              # GDPWPipeline
    frames = pipe.reenact(source_image, source_params, driving_params)   # (T, 3, H, W) in [0, 1]
    edited = pipe.edit(source_image, source_params, yaw=20, jaw=10, aus={"AU12": 0.9})
    pipe, history = train(GDPWConfig(minutes=40))             # writes weights/gdpw-synthfaces-64
    python -m lgfa_lite.methods.gdpw train --minutes 40 --opts guidance geom_disp

The recipe (pairs, discriminator, losses) is `lgfa_lite.train.gdpw`, imported only by `train`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from lgfa_lite import hub
from lgfa_lite.config import TrainConfig
from lgfa_lite.hub import register_model
from lgfa_lite.nets import lite_weights
from lgfa_lite.synthface import AU_INDEX, POSE_LIMITS, FaceParams, Renderer
from lgfa_lite.synthface.params import N_SHAPE
from lgfa_lite.synthface.raster import interpolate, rasterize
from lgfa_lite.synthface.render import _renderer as shared_renderer
from lgfa_lite.synthface.world import get_world

WEIGHTS = "gdpw-synthfaces-64"
# The fitter reads SynthFaces faces and the landmark net's 68 points refine its reading (real photos:
# FaceMesh + fit_landmarks); the pipeline loads their twins for its world (`lite_weights`).
FITTER = "fitter-synthfaces-64"
LANDMARKS = "fan-synthfaces-64"
GUIDANCE = ("geom_disp", "neural_codes", "both")
# The original's loss weights (L1, VGG pyramid, feature matching, LSGAN); its warp loss weight is
# not stated: 10, like the other perceptual terms.
LOSS_WEIGHTS = {"l1": 10.0, "perceptual": 10.0, "feature_matching": 10.0, "gan": 1.0, "warp": 10.0}
# Edit ranges of the original's demo: shape/expression dims in [-2, 2] (here AUs in [0, 1]),
# angles in degrees, camera scale/tx/ty.
EDIT_LIMITS = {"shape": 2.0, "camera_scale": (0.7, 1.3), "camera_shift": 0.3, **POSE_LIMITS}


@dataclasses.dataclass
class GDPWConfig(TrainConfig):
    """The training recipe's settings (`train`; `--opts KEY VAL` on the command line)."""

    steps: int = 20000
    batch: int = 8
    lr: float = 2e-4
    betas: tuple = (0.9, 0.999)
    resolution: int = 64
    guidance: str = "neural_codes"  # 'geom_disp', 'neural_codes' or 'both'
    code_dim: int = 16
    channels: tuple = (16, 32, 64, 96)  # encoder/decoder widths from full resolution down to 1/8
    critic_channels: tuple = (32, 64, 128, 256)
    loss_weights: dict = dataclasses.field(default_factory=lambda: dict(LOSS_WEIGHTS))
    synthfaces: str = "v2"  # the SynthFaces world of the training pairs
    colour_jitter: float = 0.1
    out_dir: str = ""  # default weights/gdpw-synthfaces-64
    work_dir: str = str(Path.home() / ".cache" / "lgfa_lite" / "train" / "gdpw-64")


# ----------------------------------------------------------------------------- geometry


def driving_geometry(source: FaceParams, driving: FaceParams) -> FaceParams:
    """The source's shape and appearance with the driving expression, jaw, pose and camera
    (batch: source 1 or the driving batch)."""
    if source.batch_size == 1 and driving.batch_size > 1:
        source = source.repeat(driving.batch_size)
    return driving.replace(shape=source.shape.clone(), appearance=source.appearance.clone())


class Guidance(dict):
    """Rasterized geometry for a (source, driving) pair, all (B, C, H, W):
    ``flow`` backward flow driving -> source in grid units (add to an identity grid), zero off
    the mesh; ``mask`` driving-plane coverage; ``mask_source``; ``fragments`` of both planes."""


@torch.no_grad()
def rasterize_pair(source: FaceParams, driving: FaceParams, resolution: int, world=None) -> Guidance:
    """Project both meshes, rasterize both planes once, and interpolate the per-vertex flow."""
    renderer = _renderer(resolution, world)
    src = renderer.mesh(source.clamped())[1]
    drv = renderer.mesh(driving.clamped())[1]
    frags_d = rasterize(drv, renderer.faces, resolution, resolution)
    frags_s = rasterize(src, renderer.faces, resolution, resolution)
    disp = (src[..., :2] - drv[..., :2]) * (2.0 / resolution)  # pixels -> grid_sample units
    flow = interpolate(disp, renderer.faces, frags_d).permute(0, 3, 1, 2)
    return Guidance(
        flow=flow,
        mask=frags_d.mask[:, None].float(),
        mask_source=frags_s.mask[:, None].float(),
        fragments=(frags_s, frags_d),
        faces=renderer.faces,
    )


def _renderer(resolution: int, world) -> Renderer:
    """The process-wide renderer of `render` for this size and world (one mesh cache for all callers)."""
    return shared_renderer(int(resolution), 1, get_world(world))


def identity_grid(flow: torch.Tensor) -> torch.Tensor:
    B, _, H, W = flow.shape
    ys = torch.linspace(-1 + 1 / H, 1 - 1 / H, H, device=flow.device)
    xs = torch.linspace(-1 + 1 / W, 1 - 1 / W, W, device=flow.device)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).expand(B, H, W, 2)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp x (B, C, H, W) by flow (B, 2, h, w) in grid units (resized to x's size)."""
    if flow.shape[-2:] != x.shape[-2:]:
        flow = resize_flow(flow, x.shape[-1])
    grid = identity_grid(flow) + flow.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resize_flow(flow: torch.Tensor, size: int) -> torch.Tensor:
    """Grid-unit flows are resolution-free: resize the map only (area when shrinking)."""
    if flow.shape[-1] > size:
        return F.adaptive_avg_pool2d(flow, size)
    return F.interpolate(flow, size=(size, size), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- the generator


def _down(x: torch.Tensor, size: int) -> torch.Tensor:
    """Anti-aliased downsampling of a guidance map (area average)."""
    return x if x.shape[-1] == size else F.adaptive_avg_pool2d(x, size)


class SPADE(nn.Module):
    """Parameter-free batch norm, then a scale and shift predicted per pixel from the guidance."""

    def __init__(self, channels: int, guide_channels: int, hidden: int = 32):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(guide_channels, hidden, 3, 1, 1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.beta = nn.Conv2d(hidden, channels, 3, 1, 1)

    def forward(self, x, guide):
        h = self.shared(_down(guide, x.shape[-1]))
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SPADEResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, guide_channels: int):
        super().__init__()
        mid = min(cin, cout)
        self.norm0, self.conv0 = SPADE(cin, guide_channels, min(32, cin)), spectral_norm(nn.Conv2d(cin, mid, 3, 1, 1))
        self.norm1, self.conv1 = SPADE(mid, guide_channels, min(32, mid)), spectral_norm(nn.Conv2d(mid, cout, 3, 1, 1))
        self.skip = None
        if cin != cout:
            self.skip_norm = SPADE(cin, guide_channels, min(32, cin))
            self.skip = spectral_norm(nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x, guide):
        h = self.conv0(F.leaky_relu(self.norm0(x, guide), 0.2))
        h = self.conv1(F.leaky_relu(self.norm1(h, guide), 0.2))
        s = x if self.skip is None else self.skip(self.skip_norm(x, guide))
        return s + h


def _encoder_block(cin, cout, pool: bool) -> nn.Sequential:
    layers = [spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1)), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers, nn.AvgPool2d(2)) if pool else nn.Sequential(*layers)


@register_model("gdpw-generator")
class GDPWGenerator(nn.Module):
    """Source image + rasterized guidance -> reenacted image, and the per-level flows.

    Levels: full resolution down to 1/2**(len(channels)-1). The per-vertex code table
    (``neural_codes``/``both``) lives here, so the checkpoint carries it."""

    def __init__(
        self,
        resolution: int = 64,
        guidance: str = "neural_codes",
        channels=(16, 32, 64, 96),
        code_dim: int = 16,
        n_vertices: int = 3672,
        world: str = "v1",
    ):
        super().__init__()
        if guidance not in GUIDANCE:
            raise ValueError(f"guidance must be one of {GUIDANCE}, got {guidance!r}")
        channels = [int(c) for c in channels]
        self.config = {
            "resolution": int(resolution),
            "guidance": guidance,
            "channels": channels,
            "code_dim": int(code_dim),
            "n_vertices": int(n_vertices),
            "world": str(world),
        }
        self.world = str(world)  # the SynthFaces world of its training pairs ('v1' before it was recorded)
        self.resolution, self.guidance = int(resolution), guidance
        uses_codes = guidance != "geom_disp"
        self.codes = nn.Parameter(torch.randn(n_vertices, code_dim) * 0.5) if uses_codes else None
        src_in = 3 + (code_dim + 1 if uses_codes else 0)
        guide = 1 + (2 if guidance != "neural_codes" else 0) + (code_dim if uses_codes else 0)
        self.encoder = nn.ModuleList(
            _encoder_block(cin, cout, pool=i > 0) for i, (cin, cout) in enumerate(zip([src_in] + channels, channels))
        )
        self.blocks = nn.ModuleList()
        self.flows = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in reversed(range(len(channels))):
            cin = channels[min(i + 1, len(channels) - 1)]
            self.blocks.append(SPADEResBlock(cin, channels[i], guide))
            flow = nn.Conv2d(channels[i], 2, 3, 1, 1)
            nn.init.zeros_(flow.weight), nn.init.zeros_(flow.bias)  # starts as the mesh warp
            self.flows.append(flow)
            self.fuse.append(nn.Sequential(nn.Conv2d(2 * channels[i], channels[i], 3, 1, 1), nn.LeakyReLU(0.2)))
        self.to_rgb = nn.Conv2d(channels[0], 3, 3, 1, 1)
        nn.init.zeros_(self.to_rgb.weight), nn.init.zeros_(self.to_rgb.bias)  # starts as the warped source

    def guidance_maps(self, g: Guidance) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(source-plane input maps or None, driving-plane modulation maps) from rasterized fragments."""
        parts, src = [g["mask"]], None
        if self.guidance != "neural_codes":
            parts.append(g["flow"] * 8.0)  # grid units are small: scale to ~unit range
        if self.codes is not None:
            frags_s, frags_d = g["fragments"]
            B = g["mask"].shape[0]
            table = self.codes[None].expand(B, -1, -1)
            drv_codes = interpolate(table, g["faces"], frags_d).permute(0, 3, 1, 2)
            src_codes = interpolate(table, g["faces"], frags_s).permute(0, 3, 1, 2)
            if g.get("flip"):  # the training recipe flipped the images and the other maps
                drv_codes, src_codes = drv_codes.flip(-1), src_codes.flip(-1)
            parts.append(drv_codes)
            src = torch.cat([src_codes, g["mask_source"]], 1)
        return src, torch.cat(parts, 1)

    def forward(self, source: torch.Tensor, g: Guidance) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """source (B, 3, R, R) in [0, 1] -> (image (B, 3, R, R) in [0, 1], flows coarse to fine).
        The image is the source warped by the last flow plus a predicted RGB residual (zero at init)."""
        src_maps, guide = self.guidance_maps(g)
        x = source * 2 - 1 if src_maps is None else torch.cat([source * 2 - 1, src_maps], 1)
        feats = []
        for block in self.encoder:
            x = block(x)
            feats.append(x)
        h = warp(feats[-1], g["flow"])
        flows = []
        for k, (block, to_flow, fuse) in enumerate(zip(self.blocks, self.flows, self.fuse)):
            level = len(feats) - 1 - k
            h = block(h, guide)
            flow = resize_flow(g["flow"], h.shape[-1]) + to_flow(h) * 0.1
            flows.append(flow)
            h = fuse(torch.cat([h, warp(feats[level], flow)], 1))
            if level > 0:
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        return (warp(source, flows[-1]) + self.to_rgb(h)).clamp(0, 1), flows


# ----------------------------------------------------------------------------- the pipeline


def check_face(image, resolution: int | None = None) -> torch.Tensor:
    """A face batch (B, 3, H, W) in [0, 1], square; clear errors otherwise."""
    if not torch.is_tensor(image) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if torch.is_tensor(image) else type(image).__name__
        raise ValueError(f"faces must be a tensor (B, 3, H, W), got {shape}")
    if image.shape[-1] != image.shape[-2]:
        raise ValueError(f"faces must be square, got {image.shape[-2]}x{image.shape[-1]}")
    if resolution is not None and image.shape[-1] != resolution:
        raise ValueError(f"faces must be {resolution}x{resolution}, got {image.shape[-1]}")
    if not torch.isfinite(image).all():
        raise ValueError("faces contain NaN or infinite values")
    return image.float().clamp(0, 1)


def edited_params(params: FaceParams, **edits) -> FaceParams:
    """A copy of `params` (batch 1) with edits applied, each clamped to the original's range:
    ``shape={dim: v}`` (v in [-2, 2]), ``aus={"AU12": v}`` (v in [0, 1]), ``yaw``/``pitch``/``roll``
    and ``jaw`` (opening) in degrees, ``camera_scale``, ``camera_tx``, ``camera_ty``. Unknown names
    raise ValueError."""
    p = params.clone()
    for name, value in edits.items():
        if value is None:
            continue
        if name == "shape":
            for dim, v in dict(value).items():
                if not 0 <= int(dim) < N_SHAPE:
                    raise ValueError(f"shape dims are 0..{N_SHAPE - 1}, got {dim}")
                p.shape[:, int(dim)] = _finite(v, f"shape {dim}").clamp(-2, 2)
        elif name == "aus":
            for au, v in dict(value).items():
                if au not in AU_INDEX:
                    raise ValueError(f"unknown action unit {au!r}; choose from {', '.join(AU_INDEX)}")
                p.aus[:, AU_INDEX[au]] = _finite(v, au).clamp(0, 1)
        elif name in ("yaw", "pitch", "roll"):
            lim = POSE_LIMITS[name]
            p.pose[:, ("yaw", "pitch", "roll").index(name)] = _finite(value, name).clamp(-lim, lim)
        elif name == "jaw":
            p.jaw[:, 0] = _finite(value, name).clamp(0, POSE_LIMITS["jaw"])
        elif name == "camera_scale":
            p.camera[:, 0] = _finite(value, name).clamp(*EDIT_LIMITS["camera_scale"])
        elif name in ("camera_tx", "camera_ty"):
            lim = EDIT_LIMITS["camera_shift"]
            p.camera[:, 1 if name == "camera_tx" else 2] = _finite(value, name).clamp(-lim, lim)
        else:
            raise ValueError(f"unknown edit {name!r}")
    return p


def _finite(value, what: str) -> torch.Tensor:
    v = torch.as_tensor(value, dtype=torch.float32)
    if v.numel() != 1 or not torch.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return v.reshape(())


class GDPWPipeline:
    """Reenact (`reenact`, `reenact_photo`) and edit (`edit`) faces with a GDPW generator."""

    def __init__(self, generator: GDPWGenerator, world=None):
        self.generator = generator.eval()
        self.resolution = generator.resolution
        self.world = world or generator.world  # renders guidance and crops photos as its training did

    def to(self, device) -> "GDPWPipeline":
        self.generator.to(device)
        return self

    @torch.no_grad()
    def __call__(
        self, source: torch.Tensor, source_params: FaceParams, driving_params: FaceParams, batch=16, callback=None
    ):
        """One source face (1, 3, R, R) with its fitted params, driving params (T) -> (frames (T, 3, R, R),
        final flows (T, 2, R, R)). The driving geometry keeps the source's shape. `callback(done, total)`
        is called after every batch of frames (progress bars)."""
        source = check_face(source, self.resolution)
        if source.shape[0] != 1 or source_params.batch_size != 1:
            raise ValueError("reenact takes one source face and its params (batch 1)")
        geometry = driving_geometry(source_params, driving_params)
        frames, flows = [], []
        for chunk in range(0, geometry.batch_size, batch):
            drv = geometry[chunk : chunk + batch]
            g = rasterize_pair(source_params.repeat(drv.batch_size), drv, self.resolution, self.world)
            out, level_flows = self.generator(source.expand(drv.batch_size, -1, -1, -1), g)
            frames.append(out)
            flows.append(level_flows[-1])
            if callback is not None:
                callback(min(chunk + batch, geometry.batch_size), geometry.batch_size)
        return torch.cat(frames), torch.cat(flows)

    reenact = __call__

    @torch.no_grad()
    def mesh_warp(self, source: torch.Tensor, source_params: FaceParams, driving_params: FaceParams) -> torch.Tensor:
        """The baseline: the source warped by the mesh flow alone (no network)."""
        source = check_face(source)
        geometry = driving_geometry(source_params, driving_params)
        g = rasterize_pair(source_params.repeat(geometry.batch_size), geometry, source.shape[-1], self.world)
        return warp(source.expand(geometry.batch_size, -1, -1, -1), g["flow"])

    @torch.no_grad()
    def reenact_photo(
        self, photo: torch.Tensor, source_params: FaceParams, driving_params: FaceParams, batch=8, callback=None
    ):
        """A source face at any square resolution >= the net's (1, 3, S, S): the net runs at its
        resolution; its last flow warps the full-resolution face and the net's correction
        (output - its own warp of the small source) is added, upsampled. -> (T, 3, S, S)."""
        photo = check_face(photo)
        S, R = photo.shape[-1], self.resolution
        if S < R:
            raise ValueError(f"the face must be at least {R}x{R}, got {S}x{S}")
        small = F.interpolate(photo, size=(R, R), mode="area") if S > R else photo
        frames, flows = self(small, source_params, driving_params, batch, callback)
        if S == R:
            return frames
        out = []
        for i in range(0, len(frames), batch):
            f, fl = frames[i : i + batch], flows[i : i + batch]
            correction = f - warp(small.expand(len(f), -1, -1, -1), fl)
            big = warp(photo.expand(len(f), -1, -1, -1), resize_flow(fl, S))
            out.append((big + F.interpolate(correction, size=(S, S), mode="bilinear", align_corners=False)).clamp(0, 1))
        return torch.cat(out)

    # -- geometry from images ---------------------------------------------------------
    def fit(self, faces: torch.Tensor, refine_steps: int = 0) -> FaceParams:
        """SynthFaces faces (B, 3, H, W) -> their geometry, read by the lite 3D fitter; with
        `refine_steps` > 0, refined by `fit_landmarks` towards the lite landmark net's 68 points. That
        helped the first, 8-minute fitter and hurts the shipped one (docs/experiments/gdpw.md): off by default."""
        from lgfa_lite.nets.fitter import fit_landmarks

        faces = check_face(faces)
        with torch.no_grad():
            params = hub.load_shared(lite_weights(FITTER, self.world))(faces)
            if refine_steps <= 0:
                return params
            marks = hub.load_shared(lite_weights(LANDMARKS, self.world))(faces)
        size = faces.shape[-1]
        return fit_landmarks(marks, size, init=params, steps=refine_steps, lr=0.02, world=self.world)

    def fit_photo(self, image, size: int = 128, steps: int = 100) -> tuple[torch.Tensor, FaceParams, list[str]]:
        """A real photo (path, array, PIL...) -> (its largest face cropped as SynthFaces frames a
        render, (1, 3, size, size); the morphable model fitted to its FaceMesh landmarks; notes for
        the user). Raises `FaceInputError` when there is no usable face."""
        from lgfa_lite.faces import align_photo
        from lgfa_lite.nets.fitter import fit_landmarks

        aligned = align_photo(image, size, self.world)
        params = fit_landmarks(aligned.landmarks, size, steps=steps, world=self.world)
        return aligned.image, params, aligned.notes

    def fit_video(self, frames, size: int = 128, fps: float = 25.0, smooth: bool = True):
        """Driving frames (T, H, W, 3) uint8 (real faces) -> (FaceParams (T), notes). FaceMesh finds
        the face in every frame; frames without one repeat the previous frame's landmarks. The fitted
        expression, jaw, pose and camera are One-Euro smoothed (min_cutoff 0.5, beta 0: the original's)."""
        from lgfa_lite.faces import FaceInputError, crop_photo, photo_landmarks
        from lgfa_lite.nets.fitter import fit_landmarks

        marks, missing, last = [], 0, None
        for frame in frames:
            found = photo_landmarks(frame, max_faces=1)
            if len(found):
                last = crop_photo(frame, found, size, self.world).landmarks
            else:
                missing += 1
            marks.append(last)
        if last is None:
            raise FaceInputError("No face found in any frame of the driving video.")
        first = next(m for m in marks if m is not None)
        marks = torch.cat([first if m is None else m for m in marks])
        params = fit_landmarks(marks, size, world=self.world)
        notes = (
            [f"No face in {missing} of {len(marks)} driving frames: they repeat the last face found."]
            if missing
            else []
        )
        if smooth and len(marks) > 1:
            params = smooth_params(params, fps)
        return params, notes

    def edit(self, source: torch.Tensor, source_params: FaceParams, **edits) -> torch.Tensor:
        """One face + its params + edits (see `edited_params`) -> the edited face (1, 3, S, S)."""
        target = edited_params(source_params, **edits)
        return self.reenact_photo(source, source_params, target)


@torch.no_grad()
def shaded_mesh(params: FaceParams, resolution: int = 128, world=None) -> torch.Tensor:
    """The morphable model's mesh in `params`' pose, Lambert-shaded grey on black, (B, 3, R, R):
    the geometry the guidance is rasterized from, for showing before/after an edit."""
    from lgfa_lite.synthface import head

    r = _renderer(resolution, world)
    pts, verts, _ = r.mesh(params.clamped())
    normals = head.vertex_normals(pts, r.grids)
    light = normals.new_tensor([0.3, 0.4, 0.87])
    shade = (normals @ (light / light.norm())).clamp(min=0)[..., None] * 0.8 + 0.2
    frags = rasterize(verts, r.faces, resolution, resolution)
    return interpolate(shade, r.faces, frags).permute(0, 3, 1, 2).expand(-1, 3, -1, -1).clamp(0, 1)


MAX_DRIVING_FRAMES = 250  # 10 s at 25 fps: longer driving videos are cut, with a note


def read_driving(source, max_frames: int = MAX_DRIVING_FRAMES) -> tuple[np.ndarray, float, list[str]]:
    """A driving video (mp4 path) or a folder of frame images -> (frames (T, H, W, 3) uint8, fps,
    notes). At most `max_frames` frames are kept (said in the notes); clear errors for a missing,
    broken or empty video or folder."""
    from lgfa_lite import video
    from lgfa_lite.faces import read_image

    path = Path(str(source))
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"))
        if not files:
            raise ValueError(f"no frame images (.png, .jpg, ...) in the folder {str(path)!r}")
        total, fps = len(files), 25.0
        frames = [read_image(f) for f in files[:max_frames]]
        if len({f.shape for f in frames}) > 1:
            raise ValueError("the driving frames have different sizes: export them from one video")
        frames = np.stack(frames)
    else:
        info = video.video_info(path)
        total, fps = info["nframes"], info["fps"] or 25.0
        frames = video.read_video(path, max_frames=max_frames)
    notes = [f"The driving video has {total} frames: using the first {max_frames}."] if total > max_frames else []
    return frames, float(fps), notes


def side_by_side(source: torch.Tensor, frames: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    """[source | result | driving] per frame, (T, 3, S, 3S): the original's reenactment video layout.
    Every panel is resized to the result's size."""
    T, _, S, _ = frames.shape

    def fit(x):
        x = x.float()
        return x if x.shape[-1] == S else F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)

    if len(driving) != T:
        raise ValueError(f"{T} result frames but {len(driving)} driving frames")
    return torch.cat([fit(source).expand(T, -1, -1, -1), frames, fit(driving)], -1).clamp(0, 1)


def smooth_params(params: FaceParams, fps: float = 25.0) -> FaceParams:
    """One-Euro smoothing (min_cutoff 0.5, beta 0, the original's) of a sequence's expression, jaw, pose and camera."""
    from lgfa_lite.smoothing import one_euro

    def smooth(x):
        return one_euro(x, fps, min_cutoff=0.5, beta=0.0)

    return params.replace(
        aus=smooth(params.aus).clamp(0, 1),
        jaw=smooth(params.jaw),
        pose=smooth(params.pose),
        camera=smooth(params.camera),
    )


def preset_sweep(params: FaceParams, steps: int = 40) -> FaceParams:
    """The original's non-interactive demo: each edit swept over `steps` frames and back -- shape dim 0
    to -2 and back, a smile (AU12) up and back, jaw to 8 degrees, head yaw +-15 degrees."""
    if params.batch_size != 1:
        raise ValueError("preset_sweep takes one face (batch 1)")
    t = torch.sin(torch.linspace(0, torch.pi, steps))
    frames = []
    for edit in ("shape", "smile", "jaw", "yaw"):
        seq = params.repeat(steps)
        if edit == "shape":
            seq.shape[:, 0] = params.shape[0, 0] + t * (-2 - params.shape[0, 0])
        elif edit == "smile":
            seq.aus[:, AU_INDEX["AU12"]] = t * 0.9
        elif edit == "jaw":
            seq.jaw[:, 0] = t * 8.0
        else:
            seq.pose[:, 0] = torch.sin(torch.linspace(0, 2 * torch.pi, steps)) * 15.0
        frames.append(seq)
    return FaceParams.cat(frames)


def load(name: str = WEIGHTS, world=None) -> GDPWPipeline:
    """The generator checkpoint `name` (weights/, a folder or a Hub repo) in its pipeline."""
    return GDPWPipeline(hub.load(name), world)


def train(config: GDPWConfig) -> tuple[GDPWPipeline, list[dict]]:
    """Train the generator and its discriminator (resumable) -> (pipeline, history)."""
    from lgfa_lite.train import gdpw as recipe

    return recipe.train(config)


def main(argv=None):
    from lgfa_lite.train.loop import method_cli

    train(
        method_cli("lgfa_lite.methods.gdpw", "Train the lite GDPW generator on SynthFaces pairs.", GDPWConfig(), argv)
    )


if __name__ == "__main__":
    main()
