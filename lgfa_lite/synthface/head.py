"""The SynthFaces morphable head: a parametric surface sampled on a fixed canonical grid.

Every surface point has canonical coordinates (theta, phi) in radians (azimuth, elevation on
the mean head). Texture features (eyes, brows, lips, hair) live at fixed canonical places, so
they stay attached to the skin; identity moves them in 3D by warping the parameterisation
(eye spacing, mouth height...) and by bumps (nose, lips, chin). Expressions are displacement
fields (AUs) and a rigid jaw rotation blended in over a "mouth band": a thin strip of canonical
rows between the lips that stretches open when the jaw drops and shows the mouth interior.
Eyelids are drawn in texture space: their lid curves depend on AU5/6/7/45/46.

Axes: x right, y up, z towards the camera (the face looks along +z). Units: head radius ~ 1.
The 68 landmarks (iBUG order) are extra points on the same surface, embedded by canonical
coordinates as FLAME embeds its landmarks, so their ground truth is exact.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .params import AU_INDEX, JAW_DROP_DEG, FaceParams
from .world import V1, World, align_crop

# Canonical feature positions (radians on the mean head).
EYE_PHI, EYE_THETA, EYE_HALF_W, EYE_OPEN_UP, EYE_OPEN_LO = 0.08, 0.40, 0.155, 0.062, 0.042
BROW_PHI = 0.25
NOSE_TIP_PHI = -0.24
MOUTH_PHI, MOUTH_HALF_W, BAND = -0.50, 0.30, 0.012  # band: canonical height of the lip slit
CHIN_PHI, HAIRLINE_PHI = -0.98, 0.62
JAW_HINGE = (0.0, -0.10, -0.15)
PART_HEAD, PART_NECK = 0, 1


def gauss(x, mu, sigma):
    # The clamp keeps far tails at 1e-13 instead of denormal floats, which are ~100x slower.
    return torch.exp((-0.5 * ((x - mu) / sigma) ** 2).clamp(min=-30.0))


def smoothstep(e0, e1, x):
    t = ((x - e0) / (e1 - e0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


# ---------------------------------------------------------------------------------------
# The canonical mesh (shared by every face)
# ---------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def canonical_mesh():
    """(uv (V, 2), part (V,), faces (F, 3), grids, (theta, phi)) for head + neck;
    grids = [(rows, cols, offset)], theta/phi = the head grid's axes."""
    s = torch.linspace(-1, 1, 60)
    theta = 2.7 * (0.42 * s + 0.58 * s**3)  # dense at the front of the face
    band = MOUTH_PHI + BAND * torch.tensor([-0.5, 0.0, 0.5])
    near_mouth = MOUTH_PHI + torch.tensor([-1.0, 1.0]) * BAND * 1.5
    phi = torch.cat(
        [
            torch.linspace(-1.45, -1.05, 4),
            torch.linspace(-1.0, 0.46, 40),
            torch.linspace(0.52, 1.50, 9),
            band,
            near_mouth,
        ]
    )
    phi = torch.unique(torch.sort(phi).values)
    phi = phi[torch.cat([torch.tensor([True]), phi[1:] - phi[:-1] > 2e-3])]
    # Put the band rows back exactly (the de-duplication may have moved a neighbour).
    for v in band:
        phi[torch.argmin((phi - v).abs())] = v
    head_uv = torch.stack(torch.meshgrid(theta, phi, indexing="xy"), -1).reshape(-1, 2)  # rows = phi
    # Neck: a cylinder; u = angle around it, v = height. Stored with part = 1.
    ang = torch.linspace(-2.2, 2.2, 24)
    height = torch.linspace(-1.9, -0.45, 8)
    neck_uv = torch.stack(torch.meshgrid(ang, height, indexing="xy"), -1).reshape(-1, 2)
    grids = [(len(phi), len(theta), 0), (len(height), len(ang), head_uv.shape[0])]
    faces = torch.cat([_grid_faces(r, c, off) for r, c, off in grids])
    uv = torch.cat([head_uv, neck_uv])
    part = torch.cat([torch.full((head_uv.shape[0],), PART_HEAD), torch.full((neck_uv.shape[0],), PART_NECK)])
    return uv, part, faces, tuple(grids), (theta, phi)


def _grid_faces(rows, cols, offset):
    r, c = torch.meshgrid(torch.arange(rows - 1), torch.arange(cols - 1), indexing="ij")
    i00 = (r * cols + c).reshape(-1) + offset
    i10, i01, i11 = i00 + cols, i00 + 1, i00 + cols + 1
    # Rows go up (y), columns go right (x): (i00, i10, i01) has positive area in y-down pixels.
    return torch.cat([torch.stack([i00, i10, i01], 1), torch.stack([i10, i11, i01], 1)])


# ---------------------------------------------------------------------------------------
# Identity layout, used by geometry, texture and landmarks alike
# ---------------------------------------------------------------------------------------
def layout(p: FaceParams, world: World = V1) -> dict[str, torch.Tensor]:
    """Per-face feature sizes and lid openings, each (B, 1) so they broadcast over points."""
    s, a, au = p.shape, p.appearance, p.aus * world.gain("lid", p.aus.device)

    def col(x):
        return x[:, None]

    def A(name):
        return col(au[:, AU_INDEX[name]])

    blink = A("AU45")
    wink = torch.maximum(blink, A("AU46"))
    eye = world.eye_scale
    upper_open = (
        eye * EYE_OPEN_UP * (1 + 0.09 * col(s[:, 10])) * (1 + 0.55 * A("AU05") - 0.3 * A("AU07") - 0.2 * A("AU06"))
    )
    lower_open = eye * EYE_OPEN_LO * (1 + 0.09 * col(s[:, 10])) * (1 - 0.45 * A("AU06") - 0.55 * A("AU07"))
    return {
        "eye_w": eye * EYE_HALF_W * (1 + 0.06 * col(s[:, 10])),
        "eye_tilt": 0.08 * col(s[:, 11]),
        "upper_open": upper_open.clamp(min=0.01),
        "lower_open": lower_open.clamp(min=0.004),
        "close_right": blink,
        "close_left": wink,  # right = subject's right = image left (theta < 0)
        "brow_thick": world.brow_scale * 0.022 * (1 + 0.2 * col(s[:, 13])).clamp(min=0.4),
        "brow_arch": 0.03 * (1 + 0.4 * col(s[:, 14])),
        "upper_lip": world.lip_scale
        * 0.045
        * (1 + 0.2 * col(s[:, 20])).clamp(min=0.4)
        * (1 + world.pucker_thickens * A("AU18")),
        "lower_lip": world.lip_scale
        * 0.055
        * (1 + 0.2 * col(s[:, 21])).clamp(min=0.4)
        * (1 + world.pucker_thickens * A("AU18")),
        "hairline": HAIRLINE_PHI + 0.07 * col(a[:, 6]),
        "hair_length": torch.sigmoid(col(a[:, 4])),
        "hair_volume": 0.05 + 0.06 * torch.sigmoid(col(a[:, 5])),
    }


def eye_frame(theta, phi, lay, side):
    """Eye-local coordinates: ex in [-1, 1] across the eye (towards +theta), ey in radians."""
    cx = side * EYE_THETA
    tilt = lay["eye_tilt"] * side  # outer corners up for positive tilt
    dx, dy = theta - cx, phi - EYE_PHI
    c, s_ = torch.cos(tilt), torch.sin(tilt)
    return (c * dx + s_ * dy) / lay["eye_w"], -s_ * dx + c * dy


def lid_curves(ex, lay, side):
    """Upper and lower lid elevation (eye-local ey) at ex; closure moves the upper lid down."""
    k = (1 - ex**2).clamp(min=0)
    lower = -lay["lower_open"] * k
    upper_open = lay["upper_open"] * torch.sqrt(k + 1e-6) * (0.85 + 0.15 * k)
    close = lay["close_right"] if side < 0 else lay["close_left"]
    upper = upper_open + (lower - upper_open) * close
    return upper, lower


def lip_curves(theta, lay):
    """Outer upper/lower lip and inner lip (band edge) elevations at theta (lens shaped)."""
    x = (theta.abs() / MOUTH_HALF_W).clamp(max=1)
    lens = torch.sqrt((1 - x**2).clamp(min=0))
    bow = 1 - 0.35 * gauss(theta, 0, 0.05) + 0.1 * gauss(theta.abs(), 0.09, 0.05)  # cupid's bow
    upper_outer = MOUTH_PHI + BAND / 2 + lay["upper_lip"] * lens * bow
    lower_outer = MOUTH_PHI - BAND / 2 - lay["lower_lip"] * lens
    inner = BAND / 2 * lens
    return upper_outer, lower_outer, MOUTH_PHI + inner, MOUTH_PHI - inner


# ---------------------------------------------------------------------------------------
# Landmarks (iBUG 68) in canonical coordinates
# ---------------------------------------------------------------------------------------
def landmark_uv(p: FaceParams, world: World = V1) -> torch.Tensor:
    """(B, 68, 2) canonical (theta, phi) of the 68 landmarks for each face."""
    lay = layout(p, world)
    B = p.batch_size
    pts = []
    # 0-16 jaw contour, subject's right (theta < 0) to left.
    s = torch.linspace(-1, 1, 17)
    th = 1.12 * torch.sign(s) * s.abs() ** 0.85
    ph = CHIN_PHI + 0.02 + (EYE_PHI - 0.06 - CHIN_PHI) * s.abs() ** 2.2
    pts.append(torch.stack([th, ph], -1).expand(B, 17, 2))
    # 17-26 brows: right brow outer -> inner, left brow inner -> outer.
    bt = torch.tensor([0.62, 0.52, 0.42, 0.32, 0.22])
    for side, order in ((-1, bt), (1, bt.flip(0))):
        x = (order - 0.42) / 0.2
        ph = BROW_PHI + lay["brow_arch"] * (1 - x**2) - 0.012 * x
        pts.append(torch.stack([(side * order).expand(B, 5), ph.expand(B, 5)], -1))
    # 27-30 nose bridge (top to tip), 31-35 lower nose (right to left).
    pts.append(torch.tensor([[0.0, 0.06], [0.0, -0.04], [0.0, -0.14], [0.0, NOSE_TIP_PHI]]).expand(B, 4, 2))
    pts.append(
        torch.tensor([[-0.10, -0.285], [-0.05, -0.30], [0.0, -0.31], [0.05, -0.30], [0.10, -0.285]]).expand(B, 5, 2)
    )
    # 36-47 eyes: right eye from its outer corner clockwise (in the image), left eye from inner corner.
    ex_r = torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])
    upper_r = torch.tensor([0, 1, 1, 0, 0, 0], dtype=torch.bool)
    for side in (-1, 1):
        ex = ex_r.expand(B, 6)
        up, lo = lid_curves(ex, lay, side)
        ey = torch.where(upper_r, up, lo)
        ey[:, [0, 3]] = 0.0
        pts.append(_eye_to_uv(ex, ey, lay, side))
    # 48-59 outer lip from the right corner along the upper lip, back along the lower lip.
    tu = torch.tensor([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1]) * MOUTH_HALF_W
    tl = torch.tensor([2 / 3, 1 / 3, 0, -1 / 3, -2 / 3]) * MOUTH_HALF_W
    uo, _, _, _ = lip_curves(tu.expand(B, 7), lay)
    _, lo, _, _ = lip_curves(tl.expand(B, 5), lay)
    uo[:, [0, 6]] = MOUTH_PHI
    pts.append(torch.cat([torch.stack([tu.expand(B, 7), uo], -1), torch.stack([tl.expand(B, 5), lo], -1)], 1))
    # 60-67 inner lip: right corner, upper inner x3, left corner, lower inner x3.
    ti = torch.tensor([-0.92, -0.5, 0.0, 0.5, 0.92, 0.5, 0.0, -0.5]) * MOUTH_HALF_W
    _, _, ui, li = lip_curves(ti.expand(B, 8), lay)
    ph = torch.cat([MOUTH_PHI + 0 * ui[:, :1], ui[:, 1:4], MOUTH_PHI + 0 * ui[:, :1], li[:, 5:8]], 1)
    pts.append(torch.stack([ti.expand(B, 8), ph], -1))
    return torch.cat(pts, 1)


def _eye_to_uv(ex, ey, lay, side):
    tilt = lay["eye_tilt"] * side
    dx = ex * lay["eye_w"]
    c, s_ = torch.cos(tilt), torch.sin(tilt)
    theta = side * EYE_THETA + c * dx - s_ * ey
    phi = EYE_PHI + s_ * dx + c * ey
    return torch.stack([theta, phi], -1)


# ---------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------
def unposed_points(uv: torch.Tensor, part: torch.Tensor, p: FaceParams) -> torch.Tensor:
    """Canonical points (B, N, 2) + part (N,) -> head-frame points (B, N, 3), jaw closed, unposed."""
    th, ph = uv[..., 0], uv[..., 1]
    return torch.where((part == PART_NECK)[None, :, None], _neck_points(th, ph, p), _head_points(th, ph, p))


def jaw_weight(th, ph):
    """How much each canonical point follows the jaw: 1 below the lips (chin), 0 above; the
    mouth band ramps 0 -> 1 across its thin strip, the cheeks over a wider one."""
    at = th.abs()
    spread = 0.3 * smoothstep(0.55 * MOUTH_HALF_W, 1.7 * MOUTH_HALF_W, at)
    top, bot = MOUTH_PHI + BAND / 2 + spread, MOUTH_PHI - BAND / 2 - spread
    return smoothstep(0.0, 1.0, (top - ph) / (top - bot)) * (1 - smoothstep(1.1, 1.5, at))


def jaw_rotation(p: FaceParams, world: World = V1) -> torch.Tensor:
    """(B, 3, 3) jaw rotation: the jaw parameter plus what AU26 (jaw drop), AU25 and, in worlds
    whose smiles show teeth, AU12 add."""
    au = p.aus * world.gain("geometry", p.aus.device)
    opening = (
        p.jaw[:, 0]
        + JAW_DROP_DEG * au[:, AU_INDEX["AU26"]]
        + 5.0 * au[:, AU_INDEX["AU25"]]
        + world.smile_opens_lips * p.aus[:, AU_INDEX["AU12"]]
    )
    return _rotation(p.jaw[:, 1] * 0.5, -opening, p.jaw[:, 2] * 0.5)


def apply_jaw(pts, w_jaw, p, world: World = V1):
    hinge = torch.tensor(JAW_HINGE)
    rotated = torch.einsum("bij,bnj->bni", jaw_rotation(p, world), pts - hinge) + hinge
    return pts + w_jaw[..., None] * (rotated - pts)


def _head_points(th, ph, p):
    s, au = p.shape, p.aus

    def c(i):
        return s[:, i : i + 1]

    def A(name):
        return au[:, AU_INDEX[name] : AU_INDEX[name] + 1]

    at, side = th.abs(), torch.sign(th)
    # Identity warp of the parameterisation: moves features without moving the texture.
    t2 = th * (1 + 0.05 * c(8) * gauss(ph, EYE_PHI, 0.16) + 0.09 * c(18) * gauss(ph, MOUTH_PHI, 0.11))
    p2 = (
        ph
        + 0.025 * c(9) * gauss(ph, EYE_PHI, 0.15)
        + 0.02 * c(12) * gauss(ph, BROW_PHI, 0.07)
        + 0.035 * c(19) * gauss(ph, MOUTH_PHI, 0.16)
        - 0.05 * c(4) * smoothstep(-0.6, -1.1, ph)
        + 0.03 * c(15) * gauss(ph, NOSE_TIP_PHI, 0.1)
    )
    ra = 0.74 * (1 + 0.04 * c(0))
    rb = 1.0 * (1 + 0.03 * c(1))
    rc = 0.86 * (1 + 0.04 * c(2))
    cos_p = torch.cos(p2)
    x = ra * cos_p * torch.sin(t2)
    y = rb * torch.sin(p2)
    z = rc * cos_p * torch.cos(t2)
    # Lower face narrows towards the jaw (jaw width), forehead slopes back.
    x = x * (1 - (0.16 - 0.04 * c(3)) * smoothstep(0.0, -1.05, p2))
    z = z - (0.05 + 0.03 * c(7)) * smoothstep(0.35, 1.1, p2) * torch.cos(t2).clamp(min=0)
    # Radial bumps: nose, brow ridge, eye sockets, cheekbones, lips, chin.
    ridge = ((0.10 - ph) / (0.10 - NOSE_TIP_PHI)).clamp(0, 1)
    below_tip = torch.where(ph < NOSE_TIP_PHI, gauss(ph, NOSE_TIP_PHI, 0.035), torch.ones_like(ph))
    nose_w = (0.045 + 0.05 * ridge) * (1 + 0.15 * c(16)).clamp(min=0.5)
    bump = (0.03 + 0.19 * ridge**1.5) * below_tip * (1 + 0.2 * c(17)) * gauss(th, 0, nose_w)
    bump = bump * smoothstep(0.17, 0.07, ph)  # the ridge starts between the eyes, not on the forehead
    bump = bump + 0.05 * gauss(th, 0, 0.06) * gauss(ph, NOSE_TIP_PHI + 0.02, 0.05)
    bump = bump + 0.045 * gauss(at, 0.085 * (1 + 0.15 * c(16)), 0.04) * gauss(ph, -0.255, 0.04)
    bump = bump + 0.03 * gauss(ph, 0.21, 0.06) * gauss(at, 0.40, 0.25)
    bump = bump - 0.035 * gauss(at, EYE_THETA, 0.12) * gauss(ph, EYE_PHI, 0.07)
    bump = bump + 0.03 * (1 + 0.3 * c(6)) * gauss(at, 0.55, 0.15) * gauss(ph, -0.15, 0.12)
    lip_p = 1 + 0.2 * c(22)
    bump = bump + 0.035 * lip_p * gauss(th, 0, 0.2) * gauss(ph, MOUTH_PHI + 0.035, 0.035)
    bump = bump + 0.035 * lip_p * gauss(th, 0, 0.18) * gauss(ph, MOUTH_PHI - 0.045, 0.04)
    bump = bump + 0.04 * (1 + 0.3 * c(5)) * gauss(th, 0, 0.18) * gauss(ph, -0.88, 0.1)
    bump = bump - 0.03 * (1 + 0.2 * c(23)) * gauss(at, 0.5, 0.2) * gauss(ph, -0.45, 0.15)
    # Expression displacement fields (canonical weights keep them on their features).
    # Brow motion reaches up the forehead but fades quickly towards the eyelids.
    brow_rows = gauss(ph, BROW_PHI, torch.where(ph > BROW_PHI, 0.12, 0.055))
    w_in = gauss(at, 0.24, 0.09) * brow_rows
    w_out = gauss(at, 0.56, 0.10) * brow_rows
    w_cheek = gauss(at, 0.45, 0.16) * gauss(ph, -0.12, 0.10)
    w_nose = gauss(at, 0, 0.12) * gauss(ph, -0.1, 0.12)
    w_corner = gauss(at, MOUTH_HALF_W, 0.12) * gauss(ph, MOUTH_PHI, 0.10)
    w_mouth = gauss(at, 0, 0.22) * gauss(ph, MOUTH_PHI, 0.09)
    w_upper_lip = gauss(at, 0, 0.2) * gauss(ph, MOUTH_PHI + 0.05, 0.05)
    dx = side * (
        -0.035 * A("AU04") * w_in
        + (0.06 * A("AU12") + 0.07 * A("AU20")) * w_corner
        - 0.12 * A("AU18") * w_mouth * (at / MOUTH_HALF_W).clamp(max=1.2)
    )
    dy = (
        0.075 * A("AU01") * w_in
        + 0.075 * A("AU02") * w_out
        - 0.05 * A("AU04") * (w_in + w_out)
        + 0.045 * A("AU06") * w_cheek
        + 0.02 * A("AU12") * w_cheek
        + 0.03 * A("AU09") * w_nose
        + 0.02 * A("AU09") * w_upper_lip
        + 0.015 * A("AU25") * w_upper_lip
        + (0.07 * A("AU12") - 0.06 * A("AU15") - 0.015 * A("AU20")) * w_corner
    )
    dz = 0.09 * A("AU18") * w_mouth
    bump = bump + 0.02 * A("AU06") * w_cheek
    n = torch.stack([x, y, z], -1)
    n = n / n.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    pts = torch.stack([x, y, z], -1) + bump[..., None] * n + torch.stack([dx, dy, dz], -1)
    # Hair volume on the hair region.
    lay = layout(p)
    hair = hair_mask(th, ph, lay, soft=0.08)
    pts = pts + (lay["hair_volume"] * hair)[..., None] * n
    return pts


def hair_mask(th, ph, lay, soft=0.015):
    """1 on the hair region of the canonical surface (front hairline, sides, back)."""
    at = th.abs()
    side_line = -0.05 - 0.75 * lay["hair_length"]
    line = lay["hairline"] + 0.12 * at**2
    line = line + (side_line - line) * smoothstep(0.75, 1.35, at)
    return smoothstep(-soft, soft, ph - line)


def _neck_points(u, v, p):
    x = 0.42 * torch.sin(u) * (1 + 0.03 * p.shape[:, 0:1])
    z = 0.38 * torch.cos(u) - 0.2
    return torch.stack([x, v, z], -1)


def _rotation(yaw, pitch, roll):
    """Degrees -> (B, 3, 3): yaw about y (+: +z turns to +x), pitch about x (+: +z to +y), roll about z."""
    y, pi, r = (torch.deg2rad(t) for t in (yaw, pitch, roll))
    o, z = torch.ones_like(y), torch.zeros_like(y)
    Ry = torch.stack([torch.cos(y), z, torch.sin(y), z, o, z, -torch.sin(y), z, torch.cos(y)], -1).view(-1, 3, 3)
    Rx = torch.stack([o, z, z, z, torch.cos(pi), torch.sin(pi), z, -torch.sin(pi), torch.cos(pi)], -1).view(-1, 3, 3)
    Rz = torch.stack([torch.cos(r), -torch.sin(r), z, torch.sin(r), torch.cos(r), z, z, z, o], -1).view(-1, 3, 3)
    return Rz @ Rx @ Ry


POSE_PIVOT = (0.0, -0.35, -0.1)


def apply_pose(pts, p):
    R = _rotation(p.pose[:, 0], p.pose[:, 1], p.pose[:, 2])
    pivot = torch.tensor(POSE_PIVOT)
    return torch.einsum("bij,bnj->bni", R, pts - pivot) + pivot


# Orthographic camera: normalised image coords = BASE_SCALE * scale * (x, -y) + (tx, ty + BASE_TY).
BASE_SCALE, BASE_TY = 0.74, 0.02


def project(pts: torch.Tensor, camera: torch.Tensor, resolution: int, crop=None) -> torch.Tensor:
    """Camera-space points (B, N, 3) -> (B, N, 3): pixel x, pixel y (down), depth (nearer = larger).

    crop: None (the fixed camera) or (centre (B, 2), half width (B,)) in normalised image units of
    the default camera, mapped to the whole image; the camera's scale and shift then act on top."""
    if crop is None:
        sc = BASE_SCALE * camera[:, 0:1]
        xn = sc * pts[..., 0] + camera[:, 1:2]
        yn = -sc * pts[..., 1] + camera[:, 2:3] + BASE_TY
    else:
        centre, half = crop
        sc = camera[:, 0:1] / half[:, None]
        xn = sc * (BASE_SCALE * pts[..., 0] - centre[:, 0:1]) + camera[:, 1:2]
        yn = sc * (-BASE_SCALE * pts[..., 1] + BASE_TY - centre[:, 1:2]) + camera[:, 2:3]
    half = resolution / 2
    return torch.stack([(xn + 1) * half, (yn + 1) * half, pts[..., 2]], -1)


def vertex_normals(pts: torch.Tensor, grids) -> torch.Tensor:
    """Outward unit normals from the grid structure (central differences)."""
    out = []
    for rows, cols, off in grids:
        g = pts[:, off : off + rows * cols].view(-1, rows, cols, 3)
        du = torch.cat([g[:, :, 1:2] - g[:, :, :1], (g[:, :, 2:] - g[:, :, :-2]) / 2, g[:, :, -1:] - g[:, :, -2:-1]], 2)
        dv = torch.cat([g[:, 1:2] - g[:, :1], (g[:, 2:] - g[:, :-2]) / 2, g[:, -1:] - g[:, -2:-1]], 1)
        n = torch.cross(du, dv, dim=-1)
        out.append(n.reshape(pts.shape[0], rows * cols, 3))
    n = torch.cat(out, 1)
    return n / n.norm(dim=-1, keepdim=True).clamp(min=1e-8)


# ---------------------------------------------------------------------------------------
# The linear morphable model: mean + shape / AU / hair blendshapes, then jaw and pose
# ---------------------------------------------------------------------------------------
HAIR_GEOMETRY = [4, 5, 6]  # appearance dims that change geometry (hair length, volume, hairline)


@lru_cache(maxsize=None)
def morphable_model():
    """Blendshapes sampled from the analytic head once (central differences at +-1 sigma,
    AUs at full intensity), as a 3DMM stores them: geometry is then a single matmul."""
    uv, part, faces, grids, axes = canonical_mesh()
    base = FaceParams.neutral(1)

    def geom(**change):
        return unposed_points(uv[None], part, base.replace(**change))[0]

    mean = geom()

    def central(field, n, idx=None):
        out = []
        for k in idx if idx is not None else range(n):
            e = torch.zeros(1, n)
            e[0, k] = 1.0
            out.append((geom(**{field: e}) - geom(**{field: -e})) / 2)
        return torch.stack(out)

    shape_basis = central("shape", base.shape.shape[1])
    hair_basis = central("appearance", base.appearance.shape[1], HAIR_GEOMETRY)
    au_basis = torch.stack([geom(aus=torch.eye(base.aus.shape[1])[k : k + 1]) - mean for k in range(base.aus.shape[1])])
    V = mean.shape[0]
    basis = torch.cat([shape_basis, au_basis, hair_basis]).reshape(-1, V * 3)
    w_jaw = torch.where(part == PART_NECK, torch.zeros(V), jaw_weight(uv[:, 0], uv[:, 1]))
    n_shape = shape_basis.shape[0]
    left = torch.where(part == PART_NECK, torch.zeros(V), smoothstep(-0.05, 0.05, uv[:, 0]))
    return {
        "mean": mean,
        "basis": basis,
        "w_jaw": w_jaw,
        "faces": faces,
        "grids": grids,
        "axes": axes,
        "uv": uv,
        "part": part,
        "au_rows": slice(n_shape, n_shape + au_basis.shape[0]),
        "left": left,
    }


def mesh_vertices(p: FaceParams, world: World = V1) -> torch.Tensor:
    """Posed 3D vertices (B, V, 3) in the camera frame."""
    m = morphable_model()
    coeff = torch.cat([p.shape, p.aus * world.gain("geometry", p.aus.device), p.appearance[:, HAIR_GEOMETRY]], 1)
    pts = m["mean"] + (coeff @ m["basis"]).view(p.batch_size, -1, 3)
    for name, gain in world.wink_adds:  # the winking side (subject's left, theta > 0) moves as `name`
        field = m["basis"][m["au_rows"].start + AU_INDEX[name]].view(-1, 3) * m["left"][:, None]
        pts = pts + (gain * p.aus[:, AU_INDEX["AU46"]])[:, None, None] * field
    pts = apply_jaw(pts, m["w_jaw"], p, world)
    return apply_pose(pts, p)


def projected_face(p: FaceParams, world: World, resolution: int):
    """Posed vertices (B, V, 3), their projection (B, V, 3: pixel x, y, depth) in the world's
    framing, and the 68 landmarks on that projection (B, 68, 3): what the renderer and the
    fitter's reprojection both draw from."""
    pts = mesh_vertices(p, world)
    crop = landmark_crop(p, world) if world.framing == "landmarks" else None
    proj = project(pts, p.camera, resolution, crop)
    ids, w = embed(landmark_uv(p, world))
    return pts, proj, gather_embedded(proj, ids, w)


def landmark_crop(p: FaceParams, world: World):
    """The `align_crop` of a face's landmarks with its expression relaxed (AUs and jaw 0, identity
    and pose kept), in normalised units of the default camera: an expression moves the features
    inside a fixed frame instead of moving the frame."""
    relaxed = p.replace(aus=torch.zeros_like(p.aus), jaw=torch.zeros_like(p.jaw))
    ids, w = embed(landmark_uv(relaxed, world))
    lm = gather_embedded(mesh_vertices(relaxed, world), ids, w)
    xy = torch.stack([BASE_SCALE * lm[..., 0], -BASE_SCALE * lm[..., 1] + BASE_TY], -1)
    return align_crop(xy)


def embed(points_uv: torch.Tensor):
    """Canonical (theta, phi) points (B, K, 2) on the head grid -> vertex ids and barycentric
    weights (B, K, 3) in the mesh triangle that contains them (FLAME-style embedding)."""
    m = morphable_model()
    theta, phi = m["axes"]
    cols = len(theta)
    th = points_uv[..., 0].clamp(theta[0], theta[-1])
    ph = points_uv[..., 1].clamp(phi[0], phi[-1])
    c = (torch.searchsorted(theta, th.contiguous()) - 1).clamp(0, cols - 2)
    r = (torch.searchsorted(phi, ph.contiguous()) - 1).clamp(0, len(phi) - 2)
    s = (th - theta[c]) / (theta[c + 1] - theta[c])  # along columns
    t = (ph - phi[r]) / (phi[r + 1] - phi[r])  # along rows
    i00 = r * cols + c
    i10, i01, i11 = i00 + cols, i00 + 1, i00 + cols + 1
    lower = (s + t) <= 1  # triangle (i00, i10, i01), else (i10, i11, i01)
    ids = torch.where(lower[..., None], torch.stack([i00, i10, i01], -1), torch.stack([i10, i11, i01], -1))
    w = torch.where(lower[..., None], torch.stack([1 - s - t, t, s], -1), torch.stack([1 - s, s + t - 1, 1 - t], -1))
    return ids, w


def gather_embedded(verts: torch.Tensor, ids: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Positions (B, V, C) at embedded points -> (B, K, C)."""
    B, K, _ = ids.shape
    picked = torch.gather(verts, 1, ids.reshape(B, K * 3, 1).expand(-1, -1, verts.shape[-1]))
    return (picked.view(B, K, 3, -1) * w[..., None]).sum(2)
