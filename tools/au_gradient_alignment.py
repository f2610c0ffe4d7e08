"""Does an AU reader's gradient point at a real expression? (why GANimation's AU term gets fooled)

Held-out SynthFaces faces get another face's AUs as their target. Their pixels are pushed down the
reader's AU error (Adam), kept within the size of the true edit (the L2 ball of |ground truth -
input|, the ground truth being the same face rendered with the target AUs). Printed: the reader's
and the lite AU regressor's error on the result, its PSNR against the ground truth, and the cosine
between the change made and the true edit (near 0: the reader is fooled, not convinced).

    python tools/au_gradient_alignment.py [--judge au-synthfaces-64] [--sigma 0] [--out grid.png]

--sigma > 0 reads noisy copies (4 per face) of the image, as a noise-trained reader is meant to be read.
--judge landmarks: AUs from geometry, an MLP (trained here, ~1 min) over the lite landmark net's
soft-argmax landmarks.
Grid rows: input, result, ground truth, change x2, true change x2.
"""

import argparse

import torch
import torch.nn.functional as F

from lgfa_lite import hub
from lgfa_lite.bench.group_ganimation import psnr
from lgfa_lite.synthface import FaceParams, render
from lgfa_lite.synthface.dataset import images_of, standard_faces


def landmark_judge(steps: int = 6000):
    """images -> AUs through the lite landmark net (soft-argmax, differentiable) and an MLP trained on
    the true landmarks of training faces (jittered by the net's ~0.6 px error)."""
    from torch import nn

    from lgfa_lite.nets.landmarks import soft_argmax

    fan = hub.load("fan-synthfaces-64").eval().requires_grad_(False)
    train = standard_faces("train", 16384, world="v1")  # the world of the v1 nets this experiment used
    points, aus = train["landmarks"].float(), train["aus"].float()

    def shape(p):  # centred, unit RMS size: position and scale are not expression
        c = p - p.mean(1, keepdim=True)
        return (c / c.pow(2).sum(-1).mean(1).sqrt()[:, None, None]).flatten(1)

    mean, std = shape(points).mean(0), shape(points).std(0)
    torch.manual_seed(0)  # the MLP's initial weights
    mlp = nn.Sequential(nn.Linear(136, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, aus.shape[1]))
    opt = torch.optim.Adam(mlp.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        i = torch.randint(0, len(points), (256,), generator=g)
        p = points[i] + 0.3 * torch.randn(points[i].shape, generator=g)
        loss = F.mse_loss(torch.sigmoid(mlp((shape(p) - mean) / std)), aus[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    mlp.requires_grad_(False)

    def judge(images):
        p = soft_argmax(fan.heatmaps(images)) * fan.stride * images.shape[-1] / fan.input_size
        return torch.sigmoid(mlp((shape(p) - mean) / std))

    return judge


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judge", default="au-synthfaces-64", help="AU regressor: a weights/ name or a Hub folder")
    ap.add_argument("--sigma", type=float, default=0.0)
    ap.add_argument("--faces", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    reader = hub.load("au-synthfaces-64").eval()
    judge = landmark_judge() if args.judge == "landmarks" else hub.load(args.judge).eval().requires_grad_(False)
    n = args.faces
    faces = standard_faces("test", 1024, world="v1")
    x = images_of(faces, slice(0, n))
    target = faces["aus"][n : 2 * n].float()
    truth = render(FaceParams.from_data(faces, slice(0, n)).replace(aus=target), x.shape[-1], world="v1").image
    radius = (truth - x).flatten(1).norm(dim=1)[:, None, None, None]
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], 0.01)
    noise = torch.Generator().manual_seed(0)
    copies = 4 if args.sigma else 1
    for _ in range(args.steps):
        y = (x + delta).clamp(0, 1).repeat(copies, 1, 1, 1)
        y = y + args.sigma * torch.randn(y.shape, generator=noise)
        loss = (judge(y) - target.repeat(copies, 1)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            delta.mul_((radius / delta.flatten(1).norm(dim=1)[:, None, None, None].clamp(min=1e-12)).clamp(max=1))
    with torch.no_grad():
        y = (x + delta).clamp(0, 1)
        err = lambda net, imgs: float((net(imgs) - target).abs().mean())
        print(
            f"judge {args.judge} (sigma {args.sigma}): its AU error {err(judge, y):.4f} "
            f"(no edit {err(judge, x):.4f}, ground truth {err(judge, truth):.4f}); lite AU regressor "
            f"{err(reader, y):.4f} (no edit {err(reader, x):.4f}, ground truth {err(reader, truth):.4f}); PSNR to "
            f"the ground truth {float(psnr(y, truth).mean()):.2f} dB (no edit {float(psnr(x, truth).mean()):.2f}); "
            f"cosine(change, true change) {float(F.cosine_similarity((y - x).flatten(), (truth - x).flatten(), 0)):.3f}"
        )
        if args.out:
            from torchvision.utils import save_image

            save_image(
                torch.cat(
                    [
                        x[:8],
                        y[:8],
                        truth[:8],
                        (0.5 + 2 * (y - x))[:8].clamp(0, 1),
                        (0.5 + 2 * (truth - x))[:8].clamp(0, 1),
                    ]
                ),
                args.out,
                nrow=8,
            )


if __name__ == "__main__":
    main()
