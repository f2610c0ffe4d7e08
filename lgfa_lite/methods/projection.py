"""StyleGAN2 facial landmark projection (lukasuz/stylegan2-landmark-projection): a generated face
with the *look* of one image and the *landmarks* of another, by optimising a latent code.

As the original (the stylegan2-ada projector, two targets):
    loss = λ_look · perceptual(G(w), look) + λ_lm · ‖(H(G(w)) − H_target) ⊙ group weights‖_F
           + 1e5 · noise autocorrelation
H = differentiable heatmaps of the lite FAN (68 × 16 × 16 at 64 px); w in W or W+, from w_avg
(mean of 10k mapped z) or the encoder's inversion of the look; Adam, lr ramp-up (5 %) and cosine
ramp-down (last 25 %), w noise decaying to 0 at 75 % of the run, noise maps optimised and
re-normalised each step. Landmark targets: a landmark image (H_target = the FAN's heatmaps of it,
as the original) or 68 points, whose target heatmaps are Gaussians rendered at the points -- no
polylines are drawn on any image (the original computed its targets on an image with the 68-point
lines drawn on it; that quirk is not kept).

Lite choices: the look term uses the lite perceptual distance on the identity net's features only
(`load(look_trunk="identity")`); the lite landmark net's features, the other lite trunk, would pull the
landmarks back to the look's. Animation adds no w noise after frame 0 (it warm-starts).

    pipe = load()                                         # ProjectionPipeline: G, FAN, perceptual
    result = pipe.project(look, points)                   # look (1, 3, H, W) in [0, 1]; points (68, 2)
    result = pipe.project(look, landmark_image, weights={"outer_lip": 5, "left_eye": 0})
    frames = pipe.animate(look, point_sequence)           # (T, 68, 2) -> Animation.frames (T, 3, S, S)

There is nothing to train: the method optimises per image with frozen, shipped nets, so this
module has no `train`; `load()` and the pipeline are the same surface as the other methods.
How it works and its limits: docs/projection.md; measured runs: docs/experiments/projection.md.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite import hub
from lgfa_lite.nets.blocks import check_images, resize
from lgfa_lite.nets.landmarks import target_heatmaps
from lgfa_lite.smoothing import one_euro

GENERATOR, LANDMARKS, ENCODER = "stylegan2-synthfaces-64", "fan-synthfaces-64", "encoder-synthfaces-64"

# The nine groups of the 68-point layout and the original's CLI defaults. The original's slices
# share point 30 (nose bridge 27-30, lower nose 30-35); here it belongs to the bridge only.
GROUPS = {
    "jaw": range(0, 17),
    "left_brow": range(17, 22),
    "right_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "lower_nose": range(31, 36),
    "left_eye": range(36, 42),
    "right_eye": range(42, 48),
    "outer_lip": range(48, 60),
    "inner_lip": range(60, 68),
}
GROUP_WEIGHTS = {
    "jaw": 0.05,
    "left_brow": 1.0,
    "right_brow": 1.0,
    "nose_bridge": 0.1,
    "lower_nose": 1.0,
    "left_eye": 1.0,
    "right_eye": 1.0,
    "outer_lip": 5.0,
    "inner_lip": 5.0,
}
# The coarse groups the benchmark reports.
REPORT_GROUPS = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}


@dataclasses.dataclass
class ProjectionConfig:
    """Settings of one projection (and of an animation's frames)."""

    steps: int = 300  # the original: 1000 at 1024 px; the lite 64 px problem converges sooner
    lr: float = 0.1  # peak learning rate
    lr_rampup: float = 0.05  # fraction of the steps
    lr_rampdown: float = 0.25
    w_noise: float = 0.05  # initial w noise, x w_std
    w_noise_ramp: float = 0.75  # w noise is 0 from this fraction of the steps on
    noise_regularize: float = 1e5
    space: str = "w"  # "w" or "w+"
    init: str = "w_avg"  # "w_avg" or "encoder" (the encoder's inversion of the look)
    lambda_look: float = 1.0
    lambda_landmarks: float = 0.1
    group_weights: dict = dataclasses.field(default_factory=lambda: dict(GROUP_WEIGHTS))
    heatmap_sigma: float = 1.0  # of the Gaussians rendered at target points, in heatmap cells (the FAN's training)
    # animation (the blog: 300 steps for frame 0, 50 for later frames; W+)
    later_steps: int = 50
    lambda_temporal: float = 0.05  # Σ ‖w_i − w_{i−1}‖
    lambda_fidelity: float = 0.05  # ‖w_i − w_avg‖
    mid_frames: bool = False  # add (w_i + w_{i−1}) / 2 between frames: twice the frame rate
    smooth: bool = True  # One-Euro filter the landmark sequence first (the original has no smoothing)
    fps: float = 25.0  # of the landmark sequence (the One-Euro filter's time base)
    smooth_min_cutoff: float = 1.0
    smooth_beta: float = 0.2
    seed: int = 0  # draws the w noise and the initial noise maps

    def check(self) -> "ProjectionConfig":
        """Raise ValueError on settings that cannot run (NaN weights, unknown groups, ...)."""
        if self.space not in ("w", "w+"):
            raise ValueError(f"space must be 'w' or 'w+', got {self.space!r}")
        if self.init not in ("w_avg", "encoder"):
            raise ValueError(f"init must be 'w_avg' or 'encoder', got {self.init!r}")
        if int(self.steps) < 1 or int(self.later_steps) < 1:
            raise ValueError(f"steps and later_steps must be >= 1, got {self.steps}, {self.later_steps}")
        unknown = sorted(set(self.group_weights) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown landmark group(s) {unknown}; groups: {', '.join(GROUPS)}")
        numbers = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if type(f.default) is float}
        numbers.update({f"group_weights.{k}": v for k, v in self.group_weights.items()})
        for name, v in numbers.items():
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        return self

    def weights_per_point(self) -> torch.Tensor:
        """(68,) landmark weights from the group weights (groups left out keep their default)."""
        w = torch.zeros(68)
        for name, idx in GROUPS.items():
            w[list(idx)] = float(self.group_weights.get(name, GROUP_WEIGHTS[name]))
        return w


class Step(NamedTuple):
    """What the progress callback gets after each optimisation step."""

    step: int  # 1-based
    steps: int
    losses: dict  # {"total", "look", "landmarks", "noise"[, "temporal", "fidelity"]} floats
    image: torch.Tensor  # the step's image (1, 3, S, S) in [0, 1], detached
    frame: int = 0  # the animation frame (0 for a single projection)


class Projection(NamedTuple):
    image: torch.Tensor  # (1, 3, S, S) in [0, 1]: G of the best code found
    w: torch.Tensor  # (1, n_latent, style_dim) that code as W+
    noise: list  # the noise maps it was decoded with
    landmarks: torch.Tensor  # (1, 68, 2) what the lite FAN reads on `image`, in its pixels
    target: torch.Tensor | None  # (1, 68, 2) the target points in the same pixels (None for a landmark image)
    history: list  # per step: {"step", "total", "look", "landmarks", "noise", ...}
    cancelled: bool  # stopped early: the best result before the stop
    seconds: float


class Animation(NamedTuple):
    frames: torch.Tensor  # (T', 3, S, S) in [0, 1]; T' = 2T - 1 with mid-frames
    ws: torch.Tensor  # (T', n_latent, style_dim)
    landmarks: torch.Tensor  # (T, 68, 2) achieved on the key frames
    targets: torch.Tensor  # (T, 68, 2) the targets used (smoothed when config.smooth)
    cancelled: bool  # stopped early: the frames finished before the stop
    seconds: float


def _stopped(cancel) -> bool:
    """`cancel`: None, a threading.Event (or anything with is_set()) or a callable returning True to stop."""
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())


def noise_regularization(noise: list[torch.Tensor]) -> torch.Tensor:
    """The stylegan2-ada projector's penalty: squared autocorrelation (one-pixel shifts in x and y)
    of each noise map at every scale down to 8 px, so the maps cannot hide image content."""
    reg = noise[0].new_zeros(())
    for n in noise:
        while True:
            reg = reg + (n * torch.roll(n, 1, dims=3)).mean() ** 2 + (n * torch.roll(n, 1, dims=2)).mean() ** 2
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return reg


def learning_rate(config: ProjectionConfig, t: float) -> float:
    """The projector's schedule at progress t in [0, 1): linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / config.lr_rampdown) if config.lr_rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if config.lr_rampup > 0:
        ramp *= min(1.0, t / config.lr_rampup)
    return config.lr * ramp


class ProjectionPipeline:
    """Look image + landmark targets -> a generated face (`project`), or + a landmark sequence -> frames (`animate`)."""

    def __init__(self, generator: nn.Module, landmark_net: nn.Module, perceptual: nn.Module, encoder=None):
        self.G, self.fan, self.perceptual, self.encoder = generator, landmark_net, perceptual, encoder
        for net in (generator, landmark_net, perceptual, encoder):
            if net is not None:
                net.eval().requires_grad_(False)
        w = self.G.mapping(self._z_samples(10_000), track_w_avg=False)
        self.w_avg, self.w_std = w.mean(0), float((w - w.mean(0)).pow(2).sum(1).mean().sqrt())

    @staticmethod
    def _z_samples(n: int) -> torch.Tensor:
        from lgfa_lite.nets.stylegan2 import sample_z

        return sample_z(n, seed=12345)

    def to(self, device) -> "ProjectionPipeline":
        for net in (self.G, self.fan, self.perceptual, self.encoder):
            if net is not None:
                net.to(device)
        self.w_avg = self.w_avg.to(device)
        return self

    @property
    def size(self) -> int:
        return self.G.size

    @property
    def world(self) -> str:
        """The SynthFaces world its generator learnt: photos are cropped, faces sampled for it."""
        return self.G.world

    # ------------------------------------------------------------------ targets
    def target_heatmaps(self, landmarks, points_size: int | None = None, sigma: float = 1.0):
        """A landmark image (1, 3, H, W) in [0, 1] -> the FAN's heatmaps of it (the original), or
        68 points (68, 2) / (1, 68, 2) in pixels of a `points_size` image (default: the generator's
        size) -> Gaussian heatmaps rendered at them. Returns (heatmaps (1, 68, h, w), points in
        generator pixels or None)."""
        if not torch.is_tensor(landmarks):
            raise TypeError(
                f"landmarks must be a tensor: 68 points or a landmark image, got {type(landmarks).__name__}"
            )
        if landmarks.dim() == 4:
            with torch.no_grad():
                return self.fan.heatmaps(_checked_face(landmarks, "the landmark image")), None
        pts = landmarks.float().reshape(1, *landmarks.shape[-2:]) if landmarks.dim() in (2, 3) else landmarks
        if pts.dim() != 3 or pts.shape != (1, 68, 2):
            raise ValueError(
                f"landmarks must be 68 points (68, 2) or an image (1, 3, H, W), got {tuple(landmarks.shape)}"
            )
        if not torch.isfinite(pts).all():
            raise ValueError("the target landmarks contain NaN or infinite values")
        pts = pts.to(self.w_avg.device) * (self.size / float(points_size or self.size))
        fan = self.fan
        hm = target_heatmaps(pts * (fan.input_size / self.size), fan.input_size // fan.stride, fan.stride, sigma)
        return hm, pts

    # ------------------------------------------------------------------ the optimisation
    def decode(self, w: torch.Tensor, noise="const") -> torch.Tensor:
        """W+ (N, L, D) -> images in [0, 1]."""
        return (self.G.synthesis(w, noise).clamp(-1, 1) + 1) / 2

    def _init_w(self, look: torch.Tensor, config: ProjectionConfig) -> torch.Tensor:
        if config.init == "encoder":
            if self.encoder is None:
                raise ValueError("init='encoder' needs the pipeline's encoder (load(encoder=True))")
            with torch.no_grad():
                w = self.encoder(look)
            return w.mean(1) if config.space == "w" else w
        w = self.w_avg[None]
        return w if config.space == "w" else self.G.to_wplus(w).clone()

    def _optimise(
        self,
        look_feats,
        target_hm,
        config,
        w,
        noise,
        steps,
        *,
        optimise_noise,
        w_noise,
        extra,
        callback,
        cancel,
        frame=0,
        generator=None,
    ):
        """The projector loop: returns (best w as W+, history, cancelled)."""
        point_w = config.weights_per_point().to(w.device).view(1, 68, 1, 1)
        w = w.detach().clone().requires_grad_(True)
        params = [w] + (noise if optimise_noise else [])
        opt = torch.optim.Adam(params, betas=(0.9, 0.999), lr=config.lr)
        best, best_loss, history, cancelled = w.detach().clone(), math.inf, [], False
        for i in range(steps):
            if _stopped(cancel):
                cancelled = True
                break
            t = i / steps
            for group in opt.param_groups:
                group["lr"] = learning_rate(config, t)
            scale = self.w_std * w_noise * max(0.0, 1.0 - t / config.w_noise_ramp) ** 2 if w_noise > 0 else 0.0
            w_in = w + torch.randn(w.shape, generator=generator).to(w) * scale if scale > 0 else w
            image = self.decode(self.G.to_wplus(w_in), noise)
            look = look_feats(image)
            lm = (self.fan.heatmaps(image) - target_hm).mul(point_w).pow(2).sum().add(1e-12).sqrt()
            reg = noise_regularization(noise) if optimise_noise else image.new_zeros(())
            terms = {"look": look, "landmarks": lm, "noise": reg, **(extra(w) if extra else {})}
            total = config.lambda_look * look + config.lambda_landmarks * lm + config.noise_regularize * reg
            total = total + sum(v for k, v in terms.items() if k not in ("look", "landmarks", "noise"))
            opt.zero_grad(set_to_none=True)
            total.backward()
            losses = {"total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
            if losses["total"] < best_loss:  # the code this loss was measured at (before the step)
                best_loss, best = losses["total"], w.detach().clone()
            opt.step()
            if optimise_noise:
                with torch.no_grad():
                    for n in noise:
                        n -= n.mean()
                        n *= n.square().mean().rsqrt()
            history.append({"step": i + 1, **losses})
            if callback is not None:
                callback(Step(i + 1, steps, losses, image.detach(), frame))
        return self.G.to_wplus(best), history, cancelled

    def _look_loss(self, look: torch.Tensor):
        return lambda image: self.perceptual(image, look).sum()

    def _fresh_noise(self, generator) -> list[torch.Tensor]:
        return [
            torch.randn(getattr(self.G.noises, f"noise_{i}").shape, generator=generator).to(self.w_avg.device)
            for i in range(self.G.num_layers)
        ]

    def project(
        self,
        look: torch.Tensor,
        landmarks: torch.Tensor,
        config: ProjectionConfig | None = None,
        *,
        points_size: int | None = None,
        callback: Callable[[Step], None] | None = None,
        cancel=None,
        **overrides,
    ) -> Projection:
        """The look (1, 3, H, W) in [0, 1] + landmark targets (68 points or a landmark image, see
        `target_heatmaps`) -> `Projection`. `overrides` replace config fields (steps=100, space="w+").
        callback(Step) runs after every step; `cancel` (threading.Event or callable) stops the run,
        which then returns the best result so far (a run stopped before its first step returns the start)."""
        config = dataclasses.replace(config or ProjectionConfig(), **overrides).check()
        t0 = time.perf_counter()
        look = _checked_face(look, "the look image").to(self.w_avg.device)
        target_hm, points = self.target_heatmaps(landmarks, points_size, config.heatmap_sigma)
        g = torch.Generator().manual_seed(int(config.seed))
        noise = [n.requires_grad_(True) for n in self._fresh_noise(g)]
        w, history, cancelled = self._optimise(
            self._look_loss(resize(look, self.size)),
            target_hm,
            config,
            self._init_w(look, config),
            noise,
            int(config.steps),
            optimise_noise=True,
            w_noise=config.w_noise,
            extra=None,
            callback=callback,
            cancel=cancel,
            generator=g,
        )
        noise = [n.detach() for n in noise]
        with torch.no_grad():
            image = self.decode(w, noise)
            achieved = self.fan(image)
        return Projection(image, w, noise, achieved, points, history, cancelled, time.perf_counter() - t0)

    def smooth(self, points: torch.Tensor, config: ProjectionConfig | None = None) -> torch.Tensor:
        """A landmark sequence (T, 68, 2) One-Euro filtered with the config's settings."""
        c = config or ProjectionConfig()
        return one_euro(points, fps=c.fps, min_cutoff=c.smooth_min_cutoff, beta=c.smooth_beta)

    def animate(
        self,
        look: torch.Tensor,
        landmark_sequence: torch.Tensor,
        config: ProjectionConfig | None = None,
        *,
        points_size: int | None = None,
        callback: Callable[[Step], None] | None = None,
        cancel=None,
        **overrides,
    ) -> Animation:
        """The look + a landmark sequence (T, 68, 2) in pixels of a `points_size` image -> `Animation`.

        W+ per frame (the config's space is ignored), as the original's video mode: frame 0 runs
        `steps` with the noise maps optimised, later frames `later_steps` each from the previous
        frame's code with the noise frozen and no w noise, plus λ_temporal ‖w_i − w_{i−1}‖ and
        λ_fidelity ‖w_i − w_avg‖. The sequence is One-Euro smoothed first when `config.smooth`.
        A cancelled run returns the frames finished so far (at least frame 0's best code)."""
        config = dataclasses.replace(config or ProjectionConfig(), **overrides).check()
        seq = landmark_sequence
        if not torch.is_tensor(seq) or seq.dim() != 3 or seq.shape[1:] != (68, 2) or len(seq) < 1:
            shape = tuple(seq.shape) if torch.is_tensor(seq) else type(seq).__name__
            raise ValueError(f"the landmark sequence must be (T >= 1, 68, 2) points, got {shape}")
        if not torch.isfinite(seq).all():
            raise ValueError("the landmark sequence contains NaN or infinite values")
        t0 = time.perf_counter()
        targets = self.smooth(seq.float(), config) if config.smooth and len(seq) > 2 else seq.float()
        look = _checked_face(look, "the look image").to(self.w_avg.device)
        look_loss = self._look_loss(resize(look, self.size))
        g = torch.Generator().manual_seed(int(config.seed))
        noise = [n.requires_grad_(True) for n in self._fresh_noise(g)]
        wplus = dataclasses.replace(config, space="w+")
        w, ws, cancelled = self._init_w(look, wplus), [], False
        for i, points in enumerate(targets):
            hm, _ = self.target_heatmaps(points, points_size, config.heatmap_sigma)
            prev = w.detach()
            extra = None
            if i > 0:
                w_avg = self.w_avg

                def extra(w, prev=prev, w_avg=w_avg):
                    return {
                        "temporal": config.lambda_temporal * (w - prev).norm(),
                        "fidelity": config.lambda_fidelity * (w - w_avg).norm(),
                    }

            w, _, cancelled = self._optimise(
                look_loss,
                hm,
                wplus,
                prev,
                noise,
                int(config.steps if i == 0 else config.later_steps),
                optimise_noise=i == 0,
                w_noise=config.w_noise if i == 0 else 0.0,
                extra=extra,
                callback=callback,
                cancel=cancel,
                frame=i,
                generator=g,
            )
            if i == 0:
                noise = [n.detach() for n in noise]  # frozen from here on (the original: removes jitter)
            if cancelled and i > 0:
                break
            ws.append(w[0])
            if cancelled:
                break
        keys = torch.stack(ws)
        if config.mid_frames and len(keys) > 1:
            mids = (keys[1:] + keys[:-1]) / 2
            all_ws = torch.stack([x for pair in zip(keys[:-1], mids) for x in pair] + [keys[-1]])
        else:
            all_ws = keys
        with torch.no_grad():
            frames = torch.cat([self.decode(chunk, noise) for chunk in all_ws.split(16)])
            achieved = torch.cat([self.fan(self.decode(chunk, noise)) for chunk in keys.split(16)])
        scale = self.size / float(points_size or self.size)
        return Animation(frames, all_ws, achieved, targets * scale, cancelled, time.perf_counter() - t0)


def _checked_face(x, what: str) -> torch.Tensor:
    """One face (1, 3, H, W) in [0, 1] with finite values; clear errors otherwise."""
    if not torch.is_tensor(x):
        raise TypeError(f"{what} must be a (1, 3, H, W) tensor in [0, 1], got {type(x).__name__}")
    check_images(x.float(), what)
    if x.shape[0] != 1:
        raise ValueError(f"{what} must be one face (1, 3, H, W), got a batch of {x.shape[0]}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return x.float().clamp(0, 1)


def load(encoder: bool = True, look_trunk: str = "identity") -> ProjectionPipeline:
    """The shipped lite generator, landmark net and perceptual trunk(s) (and the encoder for
    init='encoder'), all frozen; the landmark and identity nets of the generator's SynthFaces world.
    look_trunk: "identity" (default), "lite" or "full" (LPIPS)."""
    from lgfa_lite.nets import lite_weights
    from lgfa_lite.nets.perceptual import PerceptualDistance

    G = hub.load(GENERATOR)
    if look_trunk == "identity":
        perceptual = PerceptualDistance("lite", trunks=[hub.load(lite_weights("identity-synthfaces-64", G.world))])
    elif look_trunk in ("lite", "full"):
        perceptual = PerceptualDistance(look_trunk)
    else:
        raise ValueError(f"look_trunk must be 'identity', 'lite' or 'full', got {look_trunk!r}")
    return ProjectionPipeline(
        G, hub.load(lite_weights(LANDMARKS, G.world)), perceptual, hub.load(ENCODER) if encoder else None
    )
