"""A batched, z-buffered triangle rasterizer in plain PyTorch (orthographic, CPU-friendly).

Each front-facing triangle enumerates only the pixels of its own bounding box (ragged, via
repeat_interleave), so the cost follows covered area, not pixels x triangles. Depth testing is
a scatter-max over candidate fragments; ties go to the highest face index (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Fragments:
    face: torch.Tensor  # (B, H, W) long, index of the visible face, -1 where empty
    depth: torch.Tensor  # (B, H, W) depth (larger = nearer), -inf where empty
    planes: torch.Tensor  # (B, F, 9) per-face planes of w0, w1 and depth over pixel x, y

    @property
    def mask(self) -> torch.Tensor:
        return self.face >= 0

    def bary_at(self, pixels: torch.Tensor) -> torch.Tensor:
        """Barycentric weights (N, 3) at flat pixel indices (b * H * W + y * W + x)."""
        B, H, W = self.face.shape
        F_ = self.planes.shape[1]
        b = torch.div(pixels, H * W, rounding_mode="floor")
        rem = pixels - b * H * W
        y = torch.div(rem, W, rounding_mode="floor")
        cx, cy = (rem - y * W).float() + 0.5, y.float() + 0.5
        pl = self.planes.view(-1, 9)[b * F_ + self.face.view(-1)[pixels].clamp(min=0)]
        w0 = pl[:, 0] * cx + pl[:, 1] * cy + pl[:, 2]
        w1 = pl[:, 3] * cx + pl[:, 4] * cy + pl[:, 5]
        bary = torch.stack([w0, w1, 1 - w0 - w1], -1).clamp(0, 1)
        return bary / bary.sum(-1, keepdim=True).clamp(min=1e-8)


def rasterize(verts: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> Fragments:
    """verts: (B, V, 3) pixel x, pixel y (down), depth (up = nearer); faces: (F, 3) long.

    Front-facing = positive signed area in y-down pixel coordinates; others are culled.
    """
    B = verts.shape[0]
    F_ = faces.shape[0]
    planes, area, box = _triangle_setup(verts, faces, height, width)
    xmin, xmax, ymin, ymax = box
    bw, bh = (xmax - xmin + 1).clamp(min=0), (ymax - ymin + 1).clamp(min=0)
    counts = (bw * bh) * (area > 1e-9)
    flat = counts.view(-1).nonzero().squeeze(1)  # b * F + f of triangles with candidate pixels
    depth_buf = torch.full((B * height * width,), float("-inf"), device=verts.device)
    face_buf = torch.full((B * height * width,), -1, dtype=torch.long, device=verts.device)
    if flat.numel():
        n = counts.view(-1)[flat]
        owner = torch.repeat_interleave(flat, n)
        local = torch.arange(owner.numel(), device=verts.device) - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
        w_box = bw.view(-1)[owner]
        px = xmin.view(-1)[owner] + local % w_box
        py = ymin.view(-1)[owner] + torch.div(local, w_box, rounding_mode="floor")
        pl = planes.view(-1, 9)[owner]  # w0, w1 and depth as planes a*x + b*y + c
        cx, cy = px.float() + 0.5, py.float() + 0.5
        w0 = pl[:, 0] * cx + pl[:, 1] * cy + pl[:, 2]
        w1 = pl[:, 3] * cx + pl[:, 4] * cy + pl[:, 5]
        inside = (w0 >= -1e-5) & (w1 >= -1e-5) & (w0 + w1 <= 1 + 1e-5)
        z = pl[:, 6] * cx + pl[:, 7] * cy + pl[:, 8]
        b = torch.div(owner, F_, rounding_mode="floor")
        pix = ((b * height + py) * width + px)[inside]
        z, f = z[inside], (owner - b * F_)[inside]
        depth_buf.scatter_reduce_(0, pix, z, reduce="amax")
        front = z >= depth_buf[pix]
        face_buf.scatter_reduce_(0, pix[front], f[front], reduce="amax")
    face_map = face_buf.view(B, height, width)
    return Fragments(face=face_map, depth=depth_buf.view(B, height, width), planes=planes)


def _triangle_setup(verts, faces, height, width):
    """Per-triangle plane equations (B, F, 9) for w0, w1, depth; signed area; pixel bounding box."""
    tri = verts[:, faces]  # (B, F, 3, 3)
    x, y, z = tri[..., 0], tri[..., 1], tri[..., 2]
    x0, x1, x2, y0, y1, y2 = x[..., 0], x[..., 1], x[..., 2], y[..., 0], y[..., 1], y[..., 2]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    inv = 1.0 / torch.where(area.abs() < 1e-12, torch.ones_like(area), area)
    # w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) / area, expanded to a*px + b*py + c.
    a0, b0, c0 = (y1 - y2) * inv, (x2 - x1) * inv, (x1 * y2 - x2 * y1) * inv
    a1, b1, c1 = (y2 - y0) * inv, (x0 - x2) * inv, (x2 * y0 - x0 * y2) * inv
    dz1, dz2 = z[..., 1] - z[..., 0], z[..., 2] - z[..., 0]
    # depth = z0 + w1' * dz1 + w2' * dz2 with w1', w2' the weights of vertices 1 and 2.
    a2, b2, c2 = -a0 - a1, -b0 - b1, 1 - c0 - c1
    az, bz, cz = a1 * dz1 + a2 * dz2, b1 * dz1 + b2 * dz2, z[..., 0] + c1 * dz1 + c2 * dz2
    planes = torch.stack([a0, b0, c0, a1, b1, c1, az, bz, cz], -1)
    xmin = torch.ceil(x.min(-1).values - 0.5).clamp(min=0).long()
    xmax = torch.floor(x.max(-1).values - 0.5).clamp(max=width - 1).long()
    ymin = torch.ceil(y.min(-1).values - 0.5).clamp(min=0).long()
    ymax = torch.floor(y.max(-1).values - 0.5).clamp(max=height - 1).long()
    return planes, area, (xmin, xmax, ymin, ymax)


def interpolate(attr: torch.Tensor, faces: torch.Tensor, frags: Fragments, pixels: torch.Tensor | None = None):
    """Per-vertex attributes (B, V, C) -> values at flat pixel indices (N, C); with no
    `pixels`, at every covered pixel as a map (B, H, W, C), zeros where empty."""
    B, V, C = attr.shape
    full = pixels is None
    if full:
        pixels = frags.face.view(-1).ge(0).nonzero().squeeze(1)
    Hh, W = frags.face.shape[1:]
    b = torch.div(pixels, Hh * W, rounding_mode="floor")
    vidx = faces[frags.face.view(-1)[pixels].clamp(min=0)] + (b * V)[:, None]  # (N, 3)
    bary = frags.bary_at(pixels)
    flat = attr.reshape(B * V, C)
    vals = flat[vidx[:, 0]] * bary[:, :1] + flat[vidx[:, 1]] * bary[:, 1:2] + flat[vidx[:, 2]] * bary[:, 2:]
    if not full:
        return vals
    out = torch.zeros(B * Hh * W, C, dtype=attr.dtype)
    out[pixels] = vals
    return out.view(B, Hh, W, C)
