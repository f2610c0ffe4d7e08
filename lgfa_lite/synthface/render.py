"""Render SynthFaces: mesh -> z-buffer -> procedural texture in canonical coordinates -> shading.

Anti-aliasing: soft texture edges + silhouette blending, or supersampling (`ssaa`). The same
rasterizer interpolates any per-vertex attribute with a coverage mask (`rasterize_attributes`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import _memory
from . import head as H
from .params import AU_INDEX, FaceParams
from .raster import Fragments, interpolate, rasterize
from .world import World, get_world

RESOLUTIONS = (64, 128, 256)


@dataclass
class RenderOutput:
    image: torch.Tensor  # (B, 3, H, W) in [0, 1]
    mask: torch.Tensor  # (B, 1, H, W) head + neck coverage in [0, 1]
    landmarks: torch.Tensor  # (B, 68, 2) pixel x, y (pixel centres at i + 0.5)
    visibility: torch.Tensor  # (B, 68) bool: not hidden by the head itself
    vertices: torch.Tensor  # (B, V, 3) projected mesh vertices: pixel x, y, depth


class Renderer:
    """`Renderer(64)(params)` -> RenderOutput. Stateless apart from cached mesh data.

    world: a `World` or its name ('v1', 'v2'; None = `DEFAULT_WORLD`): expression sizes and framing.

    Anti-aliasing: texture features have soft edges one output pixel wide (in texture space),
    silhouettes are blended with their neighbours; `ssaa=2` supersamples for still smoother
    edges at ~4x the cost.
    """

    def __init__(self, resolution: int = 64, ssaa: int = 1, world: World | str | None = None):
        if int(resolution) < 16 or int(resolution) > 1024:
            raise ValueError(f"resolution must be in [16, 1024], got {resolution}")
        self.resolution, self.ssaa, self.world = int(resolution), int(ssaa), get_world(world)
        _memory.keep_freed_memory()  # rendering allocates many large temporaries: reuse their pages
        m = H.morphable_model()
        self.uv, self.part, self.faces, self.grids = m["uv"], m["part"], m["faces"], m["grids"]
        self.n_vertices = self.uv.shape[0]

    # -- geometry ----------------------------------------------------------------------
    def mesh(self, params: FaceParams, resolution: int | None = None):
        """Projected vertices (B, V, 3) and landmarks (B, 68, 3) at `resolution` pixels."""
        return H.projected_face(params, self.world, resolution or self.resolution)

    def vertices(self, params: FaceParams) -> torch.Tensor:
        """Projected mesh vertices (B, V, 3) at the output resolution (pixel x, y, depth)."""
        return self.mesh(params.clamped())[1]

    # -- rendering ---------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, params: FaceParams) -> RenderOutput:
        params = params.clamped()
        res, ss = self.resolution, self.ssaa
        big = res * ss
        pts, verts, lmk = self.mesh(params, big)
        frags = rasterize(verts, self.faces, big, big)
        normals = H.vertex_normals(pts, self.grids)
        B = params.batch_size
        attr = torch.cat([self.uv.expand(B, -1, -1), normals, self.part.float().expand(B, -1)[..., None]], -1)
        covered = frags.face.view(-1).ge(0).nonzero().squeeze(1)
        image = shade(covered, interpolate(attr, self.faces, frags, covered), params, big, self.world)
        mask = frags.mask[:, None].float()
        if ss > 1:
            image, mask = F.avg_pool2d(image, ss), F.avg_pool2d(mask, ss)
        else:
            image = _smooth_silhouette(image, mask)
        visibility = _landmark_visibility(lmk, frags, ss)
        landmarks = lmk[..., :2] / ss
        return RenderOutput(
            image=image.clamp(0, 1),
            mask=mask,
            landmarks=landmarks,
            visibility=visibility,
            vertices=torch.cat([verts[..., :2] / ss, verts[..., 2:]], -1),
        )

    @torch.no_grad()
    def rasterize_attributes(self, params: FaceParams, vertex_attr: torch.Tensor):
        """Per-vertex attributes (B, V, C) -> (B, C, H, W) averaged over covered samples, and the
        coverage mask (B, 1, H, W) in [0, 1]. V = `self.n_vertices` (e.g. a flow or a code table)."""
        params = params.clamped()
        if vertex_attr.shape[1] != self.n_vertices:
            raise ValueError(f"vertex_attr needs {self.n_vertices} vertices, got {vertex_attr.shape[1]}")
        big = self.resolution * self.ssaa
        _, verts, _ = self.mesh(params, big)
        frags = rasterize(verts, self.faces, big, big)
        attr = vertex_attr.expand(params.batch_size, -1, -1).to(verts.dtype)
        vals = interpolate(attr, self.faces, frags).permute(0, 3, 1, 2)  # zeros where empty
        cover = frags.mask[:, None].float()
        if self.ssaa > 1:
            vals, cover = F.avg_pool2d(vals, self.ssaa), F.avg_pool2d(cover, self.ssaa)
            vals = vals / cover.clamp(min=1e-6)
        return vals, cover


def _smooth_silhouette(image, mask):
    """Blend pixels on the head's outline with their neighbours (a [1 2 1] filter)."""
    k = torch.tensor([0.25, 0.5, 0.25])
    k2 = (k[:, None] * k[None, :]).expand(3, 1, 3, 3)
    blurred = F.conv2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), k2, groups=3)
    cover = F.avg_pool2d(F.pad(mask, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    edge = (cover > 0) & (cover < 1)
    return torch.where(edge, blurred, image)


def render(params: FaceParams, resolution: int = 64, ssaa: int = 1, world: World | str | None = None) -> RenderOutput:
    return _renderer(int(resolution), int(ssaa), get_world(world))(params)


@functools.lru_cache(maxsize=None)
def _renderer(resolution, ssaa, world):
    return Renderer(resolution, ssaa, world)


def _landmark_visibility(lmk, frags: Fragments, ss):
    B, Hh, W = frags.face.shape
    x = lmk[..., 0].long().clamp(0, W - 1)
    y = lmk[..., 1].long().clamp(0, Hh - 1)
    inside = (lmk[..., 0] >= 0) & (lmk[..., 0] < W) & (lmk[..., 1] >= 0) & (lmk[..., 1] < Hh)
    zbuf = frags.depth[torch.arange(B)[:, None], y, x]
    # A landmark is visible when nothing in front of it covers its pixel (tolerance: ~ one
    # mesh cell of depth, so lips/lids at grazing angles are not falsely hidden).
    return inside & (lmk[..., 2] >= zbuf - 0.04)


# ---------------------------------------------------------------------------------------
# Procedural texture + shading
# ---------------------------------------------------------------------------------------
def _colours(p: FaceParams):
    a = p.appearance
    tone = torch.sigmoid(0.9 * a[:, 0:1])
    light_skin, dark_skin = torch.tensor([0.97, 0.80, 0.68]), torch.tensor([0.42, 0.27, 0.19])
    skin = light_skin + (dark_skin - light_skin) * tone
    skin = skin + 0.04 * torch.tanh(a[:, 1:2]) * torch.tensor([1.0, -0.3, -0.5])
    dark = torch.sigmoid(1.2 * a[:, 2:3] + 0.6)
    warm = torch.sigmoid(1.5 * a[:, 3:4] - 0.8)
    hair_light = torch.tensor([0.80, 0.66, 0.40]) + warm * torch.tensor([0.1, -0.25, -0.3])
    hair = hair_light + (torch.tensor([0.08, 0.06, 0.05]) - hair_light) * dark
    blue = torch.sigmoid(1.5 * a[:, 7:8] - 0.7)
    iris = torch.tensor([0.40, 0.25, 0.12]) + blue * torch.tensor([-0.15, 0.15, 0.35])
    iris = iris * (1 - 0.5 * torch.sigmoid(a[:, 8:9]))
    lip = skin * 0.7 + torch.tensor([0.30, 0.02, 0.05]) * (1 + 0.3 * torch.tanh(a[:, 15:16]))
    bg_a = 0.25 + 0.6 * torch.sigmoid(torch.stack([a[:, 11], a[:, 12], a[:, 11] - a[:, 12]], 1))
    bg_b = bg_a * (0.55 + 0.35 * torch.sigmoid(a[:, 13:14]))
    az, el = 0.6 * torch.tanh(a[:, 9]), 0.3 + 0.4 * torch.tanh(a[:, 10])
    light = torch.stack([torch.sin(az), el, torch.cos(az)], 1)
    light = light / light.norm(dim=1, keepdim=True)
    return dict(skin=skin, hair=hair, iris=iris, lip=lip, bg_a=bg_a, bg_b=bg_b, light=light, bg_angle=a[:, 14])


def shade(idx: torch.Tensor, q: torch.Tensor, p: FaceParams, res: int, world: World | None = None) -> torch.Tensor:
    """Covered flat pixel indices (N,) + their attributes q (N, 6): canonical theta, phi,
    normal xyz, part -> image (B, 3, res, res) over the background.

    Works on the flat list of covered pixels, and each facial feature only on the pixels of its
    own canonical region: most of the image is skin or background, so this is most of the speed.
    """
    world = get_world(world)
    B, Hh, W = p.batch_size, res, res
    col = _colours(p)
    lay = H.layout(p, world)
    img = _background(col, B, Hh, W).reshape(-1, 3)
    if idx.numel() == 0:
        return img.view(B, Hh, W, 3).permute(0, 3, 1, 2)
    b = torch.div(idx, Hh * W, rounding_mode="floor")
    th, ph = q[:, 0], q[:, 1]
    px = 0.6 / res  # ~ one output pixel in canonical radians: softness of texture edges
    au = p.aus * world.gain("texture", p.aus.device)
    albedo = col["skin"][b]
    blush = H.gauss(th.abs(), 0.5, 0.12) * H.gauss(ph, -0.2, 0.1)  # rosy cheeks: less green/blue
    albedo = albedo * (1 - 0.18 * blush[:, None] * torch.tensor([0.0, 1.0, 1.0]))

    def region(mask):
        return mask.nonzero().squeeze(1)

    def paint(sel, colour, alpha):
        albedo[sel] = albedo[sel] + (colour - albedo[sel]) * alpha[:, None]

    # Brows.
    sel = region((ph - H.BROW_PHI).abs() < 0.12)
    if sel.numel():
        t, f, bs = th[sel].abs(), ph[sel], b[sel]
        bx = (t - 0.42) / 0.2
        centre = H.BROW_PHI + lay["brow_arch"][bs, 0] * (1 - bx**2) - 0.012 * bx
        a = H.smoothstep(px, -px, (f - centre).abs() - lay["brow_thick"][bs, 0] * (1 - 0.5 * bx.clamp(min=0)))
        paint(sel, col["hair"][bs] * 0.85 + 0.05, a * H.smoothstep(1.25, 1.0, bx.abs()))
        frown = au[bs, AU_INDEX["AU04"]] * H.gauss(t, 0.05, 0.02) * H.gauss(f, 0.17, 0.06)
        albedo[sel] *= (1 - 0.45 * frown.clamp(0, 1))[:, None]
    # Nose wrinkles (AU9), smile folds (AU6/AU12/AU9), nostrils.
    sel = region((ph < 0.06) & (ph > H.MOUTH_PHI - 0.03) & (th.abs() < 0.4))
    if sel.numel():
        t, f, bs = th[sel].abs(), ph[sel], b[sel]
        wr = au[bs, AU_INDEX["AU09"]] * H.gauss(t, 0, 0.07) * H.gauss(f, 0.0, 0.05) * (0.5 + 0.5 * torch.cos(f * 160))
        fold_c = 0.12 + (H.MOUTH_HALF_W + 0.03 - 0.12) * ((-0.28 - f) / (-0.28 - H.MOUTH_PHI)).clamp(0, 1)
        fold = 0.9 * au[bs, AU_INDEX["AU12"]] + 0.3 * au[bs, AU_INDEX["AU06"]] + 0.4 * au[bs, AU_INDEX["AU09"]]
        fold = fold * H.gauss(t - fold_c, 0, 0.012) * (f < -0.26)
        albedo[sel] *= (1 - 0.45 * (wr + fold).clamp(0, 1))[:, None]
        nost = H.smoothstep(1.0 + 4 * px, 1.0, ((t - 0.055) / 0.028) ** 2 + ((f + 0.287) / 0.014) ** 2)
        paint(sel, col["skin"][bs] * 0.25, 0.9 * nost)
    # Lips and mouth interior.
    occlusion = torch.ones_like(th)
    sel = region((th.abs() < H.MOUTH_HALF_W) & ((ph - H.MOUTH_PHI).abs() < 0.09))
    if sel.numel():
        t, f, bs = th[sel], ph[sel], b[sel]
        uo, lo, ui, li = H.lip_curves(t, {k: lay[k][bs, 0] for k in ("upper_lip", "lower_lip")})
        lip = col["lip"][bs]
        if world.pucker_darkens:
            lip = lip * (1 - world.pucker_darkens * au[bs, AU_INDEX["AU18"]])[:, None]
        paint(sel, lip, H.smoothstep(-px, px, torch.minimum(uo - f, f - lo)))
        inside = (f <= ui) & (f >= li) & (ui > li)
        tt = ((H.MOUTH_PHI + H.BAND / 2 - f) / H.BAND).clamp(0, 1)  # 0 at the upper lip, 1 at the lower
        mouth = torch.tensor([0.22, 0.05, 0.06]).expand(sel.numel(), 3).clone()
        teeth = (tt < 0.33) & (t.abs() < 0.8 * H.MOUTH_HALF_W)
        tongue = (tt > 0.8) & (t.abs() < 0.6 * H.MOUTH_HALF_W)
        mouth[teeth] = torch.tensor([0.93, 0.91, 0.85])
        mouth[tongue] = torch.tensor([0.62, 0.25, 0.27])
        albedo[sel] = torch.where(inside[:, None], mouth, albedo[sel])
        occlusion[sel] = torch.where(inside, 0.7, 1.0)
    # Eyes: sclera, iris, pupil between the lids; a lash line on the upper lid; a lid crease.
    iris, pupil = 0.045 * world.eye_scale, 0.018 * world.eye_scale
    for side in (-1, 1):
        sel = region(
            ((th - side * H.EYE_THETA).abs() < 0.27 * max(1.0, world.eye_scale))
            & ((ph - H.EYE_PHI).abs() < 0.14 * max(1.0, world.eye_scale) ** 2)
        )
        if not sel.numel():
            continue
        bs = b[sel]
        sub = {k: lay[k][bs, 0] for k in ("eye_w", "eye_tilt", "upper_open", "lower_open", "close_right", "close_left")}
        ex, ey = H.eye_frame(th[sel], ph[sel], sub, side)
        up, lo = H.lid_curves(ex, sub, side)
        eye_w = sub["eye_w"]
        inside = H.smoothstep(-px, px, torch.minimum(up - ey, ey - lo)) * (ex.abs() < 1)
        r = torch.sqrt((ex * eye_w) ** 2 + ey**2)
        eye = (
            torch.tensor([0.93, 0.92, 0.90])
            + (col["iris"][bs] - torch.tensor([0.93, 0.92, 0.90])) * H.smoothstep(iris + px, iris - px, r)[:, None]
        )
        eye = eye + (torch.tensor([0.04, 0.03, 0.03]) - eye) * H.smoothstep(pupil + px, pupil - px, r)[:, None]
        paint(sel, eye, inside)
        lash = H.smoothstep(0.011 + px, 0.011 - px, (ey - up).abs() - 0.004) * (ex.abs() < 1.08) * (ey >= up - 0.01)
        paint(sel, torch.tensor([0.06, 0.04, 0.04]), lash)
        albedo[sel] *= (1 - 0.25 * H.gauss(ey - up - 0.045, 0, 0.008) * (ex.abs() < 0.9))[:, None]
    # Hair, with strands.
    hairline = lay["hairline"][b, 0]
    sel = region(ph > torch.minimum(hairline, torch.full_like(hairline, -0.9)) - 0.05)
    if sel.numel():
        t, f, bs = th[sel], ph[sel], b[sel]
        a = H.hair_mask(t, f, {k: lay[k][bs, 0] for k in ("hairline", "hair_length")}, soft=px)
        strands = 0.85 + 0.15 * torch.sin(t * 90 + 6 * torch.sin(f * 9))
        paint(sel, col["hair"][bs] * strands[:, None], a)
    # Neck is a little darker (in the shadow of the head).
    albedo = torch.where((q[:, 5] > 0.5)[:, None], albedo * 0.88, albedo)
    # Lambert shading with a soft ambient term.
    n = q[:, 2:5]
    n = n / n.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    lambert = (n * col["light"][b]).sum(-1).clamp(min=0)
    img[idx] = albedo * ((0.38 + 0.72 * lambert) * occlusion)[:, None]
    return img.view(B, Hh, W, 3).permute(0, 3, 1, 2)


def _background(col, B, Hh, W):
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, Hh), torch.linspace(-1, 1, W), indexing="ij")
    ang = col["bg_angle"].view(B, 1, 1)
    g = ((xs * torch.cos(ang) + ys * torch.sin(ang)) * 0.5 + 0.5).clamp(0, 1)
    a, b_ = col["bg_a"].view(B, 1, 1, 3), col["bg_b"].view(B, 1, 1, 3)
    return a + (b_ - a) * g[..., None]
