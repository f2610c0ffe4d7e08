"""StyleGAN2 generator and discriminator in pure PyTorch (no compiled ops, no CUDA assumptions).

The module layout and parameter names follow rosinality/stylegan2-pytorch, so its `g_ema`
state dict loads after a small rename (`convert_rosinality`). The config is the constructor's
arguments -- resolution, style dim, mapping depth and the channel table -- so the 64 px lite
generator and a 1024 px FFHQ one are the same class.

Modulated convolution has two formulations with the same weights:
  fused=True   per-sample weights, one grouped convolution (the paper's formulation);
  fused=False  scale the input channels by the style, one shared convolution for the whole
               batch, scale the output channels by the demodulation coefficients.
They are equal up to rounding. The second is much faster on a CPU (one big GEMM instead of
B small ones, no per-sample weight tensors), so it is the default; `bench generator`
measures the ratio.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import nn

from lgfa_lite.hub import register_model
from lgfa_lite.synthface.params import FaceParams

LITE_CHANNELS = {4: 128, 8: 128, 16: 64, 32: 32, 64: 16}


def rosinality_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """The channel table of rosinality's Generator/Discriminator up to `size`."""
    full = {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * channel_multiplier,
        128: 128 * channel_multiplier,
        256: 64 * channel_multiplier,
        512: 32 * channel_multiplier,
        1024: 16 * channel_multiplier,
    }
    return {r: c for r, c in full.items() if r <= size}


def _table(channels: dict, size: int) -> dict[int, int]:
    table = {int(k): int(v) for k, v in channels.items()}  # JSON keys are strings
    need = [2**i for i in range(2, int(math.log2(size)) + 1)]
    missing = [r for r in need if r not in table]
    if missing or 2 ** int(math.log2(size)) != size or size < 8:
        raise ValueError(
            f"channel table needs every power of two from 4 to {size} (size a power of two >= 8); missing {missing}"
        )
    return table


# ----------------------------------------------------------------------------- layers


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (weights stored /lr_mul, scaled at run time)."""

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x):
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


LRELU_SLOPE, LRELU_GAIN = 0.2, math.sqrt(2)  # StyleGAN2's activation: lrelu(x + b, 0.2) * sqrt(2)


def fused_leaky_relu(x, bias=None, slope=LRELU_SLOPE, gain=LRELU_GAIN):
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.dim() - 2)))
    return F.leaky_relu(x, slope) * gain


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    """x / rms(x). A large `eps` keeps small inputs small (x / sqrt(eps) near 0): the map is then
    continuous at 0 instead of sending any tiny x to a unit vector."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + self.eps)


def make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None] if k.dim() == 1 else k
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample by zero insertion, pad, FIR-filter (depthwise), downsample: rosinality's op, natively."""
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (p0, p1, p0, p1))
    k = torch.flip(kernel, (0, 1)).to(x.dtype)[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, k, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


class Blur(nn.Module):
    def __init__(self, kernel, pad, upsample_factor=1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor**2, persistent=False)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel, factor=2):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * factor**2, persistent=False)
        p = len(kernel) - factor
        self.pad, self.factor = ((p + 1) // 2 + factor - 1, p // 2), factor
        self.bilinear = tuple(kernel) == (1, 3, 3, 1) and factor == 2

    def forward(self, x):
        if self.bilinear:
            # [1, 3, 3, 1] x2 is bilinear interpolation; the zero border keeps upfirdn2d's edges (~2x faster)
            x = F.interpolate(F.pad(x, (1, 1, 1, 1)), scale_factor=2, mode="bilinear", align_corners=False)
            return x[..., 2:-2, 2:-2]
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def _interleave_phases(y):
    """(B, 4C, h, w) phase outputs -> (B, C, 2h, 2w): F.pixel_shuffle's result, by a view and one
    permuted copy (measured 1.9 vs 3.2 ms for F.pixel_shuffle at (32, 64, 32, 32) on 2 CPU cores)."""
    b, c4, h, w = y.shape
    return y.view(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c4 // 4, 2 * h, 2 * w)


class ModulatedConv2d(nn.Module):
    def __init__(
        self,
        in_channel,
        out_channel,
        kernel_size,
        style_dim,
        demodulate=True,
        upsample=False,
        blur_kernel=(1, 3, 3, 1),
        fused=False,
    ):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate, self.fused = upsample, demodulate, fused
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
            self.register_buffer("phases", self._phase_map(), persistent=False)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def forward(self, x, style):
        if self.fused:
            return self._grouped(x, self.modulation(style), self.scale * self.weight[0])
        out, demod = self.undemodulated(x, style)
        return out if demod is None else out * demod.view(*demod.shape, 1, 1)

    def undemodulated(self, x, style):
        """The shared-weight path without its last step: (conv of the style-scaled input, the (B, out)
        demodulation coefficients or None), so a caller can fuse the scaling into its own epilogue."""
        b = x.shape[0]
        style = self.modulation(style)  # (B, in)
        weight = self.scale * self.weight[0]  # (out, in, k, k)
        if self.kernel_size == 1 and not self.upsample:
            # 1x1 (toRGB): the per-sample weights are tiny, so one bmm (measured ~6x faster than a 1x1 conv)
            w = weight.view(1, self.out_channel, self.in_channel) * style[:, None, :]
            out = torch.bmm(w, x.reshape(b, self.in_channel, -1)).view(b, self.out_channel, *x.shape[2:])
        else:
            x = x * style.view(b, -1, 1, 1)
            if self.upsample and self.phases is not None:
                # transposed conv + blur == 4 phase convs at low resolution, interleaved
                phase_w = torch.einsum("abdekl,ockl->oabcde", self.phases, weight)
                out = _interleave_phases(F.conv2d(x, phase_w.reshape(-1, self.in_channel, 3, 3), padding=1))
            elif self.upsample:
                out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
            else:
                out = F.conv2d(x, weight, padding=self.padding)
        if not self.demodulate:
            return out, None
        # |w * s|^2 summed over (in, k, k) = s^2 . (sum over k of w^2): no per-sample weights
        return out, torch.rsqrt(style.pow(2) @ weight.pow(2).sum((2, 3)).t() + 1e-8)  # (B, out)

    @torch.no_grad()
    def _phase_map(self):
        """T (2, 2, 3, 3, k, k): output phase (a, b) of `blur(conv_transpose(x, w, stride 2))` is a
        3x3 conv of x with sum_kl T[a, b, :, :, k, l] w[k, l]; found by feeding impulses. None
        when the composite filter does not fit a 3x3 low-resolution window."""
        k, fir = self.kernel_size, self.blur.kernel.shape[0]
        if k + fir - 1 > 6:
            return None
        T = torch.zeros(2, 2, 3, 3, k, k)
        impulse = torch.zeros(1, 1, 7, 7)
        impulse[0, 0, 3, 3] = 1
        for ki in range(k):
            for kj in range(k):
                basis = torch.zeros(1, 1, k, k)
                basis[0, 0, ki, kj] = 1
                y = self.blur(F.conv_transpose2d(impulse, basis, stride=2))[0, 0]
                for di in range(3):
                    for dj in range(3):
                        T[:, :, di, dj, ki, kj] = y[2 * (4 - di) : 2 * (4 - di) + 2, 2 * (4 - dj) : 2 * (4 - dj) + 2]
        return T

    def _grouped(self, x, style, weight):
        """The paper's formulation: a per-sample weight tensor and one grouped convolution."""
        b, _, h, w = x.shape
        wt = weight[None] * style.view(b, 1, -1, 1, 1)  # (B, out, in, k, k)
        if self.demodulate:
            wt = wt * torch.rsqrt(wt.pow(2).sum((2, 3, 4)) + 1e-8).view(b, -1, 1, 1, 1)
        x = x.reshape(1, b * self.in_channel, h, w)
        if self.upsample:
            wt = wt.transpose(1, 2).reshape(b * self.in_channel, self.out_channel, self.kernel_size, self.kernel_size)
            out = self.blur(F.conv_transpose2d(x, wt, stride=2, groups=b))
        else:
            wt = wt.reshape(b * self.out_channel, self.in_channel, self.kernel_size, self.kernel_size)
            out = F.conv2d(x, wt, padding=self.padding, groups=b)
        return out.view(b, self.out_channel, *out.shape[2:])


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        return x + self.weight * (self.draw(x) if noise is None else noise)

    @staticmethod
    def draw(x):
        """A fresh noise map (B, 1, H, W) for activations x."""
        return x.new_empty(x.shape[0], 1, *x.shape[2:]).normal_()


class ConstantInput(nn.Module):
    def __init__(self, channel, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch):
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    def __init__(
        self, in_channel, out_channel, kernel_size, style_dim, upsample=False, blur_kernel=(1, 3, 3, 1), fused=False
    ):
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channel, out_channel, kernel_size, style_dim, upsample=upsample, blur_kernel=blur_kernel, fused=fused
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style, noise=None):
        if self.conv.fused:
            return self.activate(self.noise(self.conv(x, style), noise))
        # the same sum in one pass: lrelu(demod * conv + w_noise * noise + bias) * gain, the gain
        # (> 0) moved inside the lrelu (measured ~10% of the generator's time on 2 CPU cores)
        out, demod = self.conv.undemodulated(x, style)
        noise = self.noise.draw(out) if noise is None else noise
        base = (self.noise.weight * noise + self.activate.bias.view(1, -1, 1, 1)) * LRELU_GAIN
        return F.leaky_relu_(torch.addcmul(base, out, (demod * LRELU_GAIN)[:, :, None, None]), LRELU_SLOPE)


class ToRGB(nn.Module):
    def __init__(self, in_channel, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1), fused=False):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False, fused=fused)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        return out + self.upsample(skip) if skip is not None else out


# ----------------------------------------------------------------------------- generator


@register_model("stylegan2-generator")
class Generator(nn.Module):
    """z or w or W+ -> image in [-1, 1] of shape (B, 3, size, size).

    size, style_dim, n_mlp, channels ({resolution: channels}), lr_mlp: as rosinality.
    z_dim: mapping input size (default style_dim). normalize_z: PixelNorm on z (StyleGAN's
    default; off when z carries meaningful magnitudes, as the lite generator's does).
    fused: grouped-conv modulation (see module docstring); not part of the weights.
    world: the SynthFaces world a lite generator was taught ('v1' for checkpoints that predate
    the record); what renders compared with its images, and photos cropped for it, must use.
    """

    def __init__(
        self,
        size=64,
        style_dim=128,
        n_mlp=4,
        channels=None,
        lr_mlp=0.01,
        z_dim=None,
        normalize_z=True,
        blur_kernel=(1, 3, 3, 1),
        fused=False,
        w_avg_beta=0.995,
        world="v1",
    ):
        super().__init__()
        channels = _table(channels or LITE_CHANNELS, size)
        self.world = str(world)
        self.config = {
            "size": size,
            "style_dim": style_dim,
            "n_mlp": n_mlp,
            "channels": {str(k): v for k, v in sorted(channels.items())},
            "lr_mlp": lr_mlp,
            "z_dim": z_dim or style_dim,
            "normalize_z": normalize_z,
            "blur_kernel": list(blur_kernel),
            "world": self.world,
        }
        self.size, self.style_dim, self.z_dim, self.w_avg_beta = size, style_dim, z_dim or style_dim, w_avg_beta
        layers = [PixelNorm()] if normalize_z else [nn.Identity()]
        for i in range(n_mlp):
            layers.append(EqualLinear(self.z_dim if i == 0 else style_dim, style_dim, lr_mul=lr_mlp, activation=True))
        self.style = nn.Sequential(*layers)
        self.register_buffer("w_avg", torch.zeros(style_dim))

        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], 3, style_dim, blur_kernel=blur_kernel, fused=fused)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False, fused=fused)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        c_in = channels[4]
        for i in range(3, self.log_size + 1):
            c_out = channels[2**i]
            self.convs.append(
                StyledConv(c_in, c_out, 3, style_dim, upsample=True, blur_kernel=blur_kernel, fused=fused)
            )
            self.convs.append(StyledConv(c_out, c_out, 3, style_dim, blur_kernel=blur_kernel, fused=fused))
            self.to_rgbs.append(ToRGB(c_out, style_dim, fused=fused))
            c_in = c_out

    def set_fused(self, fused: bool) -> "Generator":
        for m in self.modules():
            if isinstance(m, ModulatedConv2d):
                m.fused = fused
        return self

    # -------------------------------------------------------------- latents
    def mapping(self, z: torch.Tensor, truncation: float = 1.0, track_w_avg: bool | None = None) -> torch.Tensor:
        """z (B, z_dim) -> w (B, style_dim); updates w_avg while training."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        w = self.style(z)
        if self.training if track_w_avg is None else track_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0), 1 - self.w_avg_beta)
        return self.truncate(w, truncation)

    def truncate(self, w: torch.Tensor, truncation: float) -> torch.Tensor:
        return w if truncation == 1 else self.w_avg + truncation * (w - self.w_avg)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Estimate w_avg from n random z (for converted checkpoints that do not carry one)."""
        z = torch.randn(n, self.z_dim, generator=generator, device=self.w_avg.device)
        self.w_avg.copy_(self.style(z).mean(0))
        return self.w_avg

    def to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        return w.unsqueeze(1).expand(-1, self.n_latent, -1) if w.dim() == 2 else w

    def make_noise(self, generator: torch.Generator | None = None, batch: int = 1) -> list[torch.Tensor]:
        """Fresh per-layer noise maps (batch, 1, H, W), to pass as `synthesis(..., noise=...)`."""
        shapes = [getattr(self.noises, f"noise_{i}").shape[2:] for i in range(self.num_layers)]
        return [torch.randn(batch, 1, *hw, generator=generator).to(self.w_avg.device) for hw in shapes]

    # -------------------------------------------------------------- synthesis
    def forward(
        self,
        latent: torch.Tensor,
        input_is="z",
        truncation: float = 1.0,
        noise="const",
        mix_latent: torch.Tensor | None = None,
        mix_prob: float = 0.0,
    ) -> torch.Tensor:
        """latent: z (B, z_dim) | w (B, style_dim) | W+ (B, n_latent, style_dim), per `input_is`.
        noise: "const" (the stored maps; deterministic), "random", or a list of per-layer maps.
        mix_latent: a second z/w for style mixing with probability mix_prob (training)."""
        if input_is not in ("z", "w", "w+"):
            raise ValueError(f"input_is must be 'z', 'w' or 'w+', got {input_is!r}")
        if input_is == "z":
            w = self.mapping(latent, truncation)
        else:
            w = self.truncate(latent, truncation) if truncation != 1 else latent
        if input_is == "w+":
            if w.dim() != 3 or w.shape[1:] != (self.n_latent, self.style_dim):
                raise ValueError(f"W+ must have shape (B, {self.n_latent}, {self.style_dim}), got {tuple(w.shape)}")
        elif w.dim() != 2 or w.shape[1] != self.style_dim:
            raise ValueError(f"w must have shape (B, {self.style_dim}), got {tuple(w.shape)}")
        ws = self.to_wplus(w)
        if mix_latent is not None and mix_prob > 0 and random.random() < mix_prob:
            w2 = self.mapping(mix_latent, truncation) if input_is == "z" else mix_latent
            cut = random.randint(1, self.n_latent - 1)
            ws = torch.cat([ws[:, :cut], self.to_wplus(w2)[:, cut:]], 1)
        return self.synthesis(ws, noise)

    def synthesis(self, ws: torch.Tensor, noise="const", return_skips: bool = False):
        """W+ -> image; return_skips: the running RGB image at every resolution (4 ... size)."""
        if noise == "const":
            noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        elif noise == "random":
            noise = [None] * self.num_layers
        elif len(noise) != self.num_layers:
            raise ValueError(f"noise must be 'const', 'random' or a list of {self.num_layers} maps")
        x = self.input(ws.shape[0])
        x = self.conv1(x, ws[:, 0], noise[0])
        skip = self.to_rgb1(x, ws[:, 1])
        skips = [skip]
        i = 1
        for up, conv, to_rgb, n1, n2 in zip(self.convs[::2], self.convs[1::2], self.to_rgbs, noise[1::2], noise[2::2]):
            x = up(x, ws[:, i], n1)
            x = conv(x, ws[:, i + 1], n2)
            skip = to_rgb(x, ws[:, i + 2], skip)
            skips.append(skip)
            i += 2
        return skips if return_skips else skip


# ----------------------------------------------------------------------------- discriminator


class ConvLayer(nn.Sequential):
    """(blur +) equalized conv (+ bias/activation), as rosinality's ConvLayer."""

    def __init__(
        self, in_channel, out_channel, kernel_size, downsample=False, blur_kernel=(1, 3, 3, 1), bias=True, activate=True
    ):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
        layers.append(
            EqualConv2d(
                in_channel,
                out_channel,
                kernel_size,
                stride=2 if downsample else 1,
                padding=0 if downsample else kernel_size // 2,
                bias=bias and not activate,
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channel))
        super().__init__(*layers)


class EqualConv2d(nn.Module):
    def __init__(self, in_channel, out_channel, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None
        self.scale, self.stride, self.padding = 1 / math.sqrt(in_channel * kernel_size**2), stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class ResBlock(nn.Module):
    def __init__(self, in_channel, out_channel, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(
            in_channel, out_channel, 1, downsample=True, activate=False, bias=False, blur_kernel=blur_kernel
        )

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


@register_model("stylegan2-discriminator")
class Discriminator(nn.Module):
    """Residual discriminator with minibatch standard deviation; image in [-1, 1] -> (B, 1) logits."""

    def __init__(self, size=64, channels=None, stddev_group=4, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        channels = _table(channels or LITE_CHANNELS, size)
        self.config = {
            "size": size,
            "channels": {str(k): v for k, v in sorted(channels.items())},
            "stddev_group": stddev_group,
            "blur_kernel": list(blur_kernel),
        }
        convs = [ConvLayer(3, channels[size], 1)]
        c_in = channels[size]
        for i in range(int(math.log2(size)), 2, -1):
            c_out = channels[2 ** (i - 1)]
            convs.append(ResBlock(c_in, c_out, blur_kernel))
            c_in = c_out
        self.convs = nn.Sequential(*convs)
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(c_in + 1, channels[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 16, channels[4], activation=True), EqualLinear(channels[4], 1)
        )

    def forward(self, x):
        out = self.convs(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        while b % group:  # a group size that divides the batch
            group -= 1
        std = out.view(group, -1, 1, c, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean((2, 3, 4), keepdim=True).squeeze(2)
        out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
        return self.final_linear(self.final_conv(out).flatten(1))


# ----------------------------------------------------------------------------- the lite generator's z

GENERATOR_WEIGHTS = "stylegan2-synthfaces-64"
# z of the lite generator = the SynthFaces parameters, each group shifted and scaled to about zero
# mean, unit variance under the SynthFaces sampler (measured on 20k samples; fixed so a
# checkpoint's z never moves).
_Z_LAYOUT = [  # (field, offset, scale)
    ("shape", 0.0, 1.0),
    ("appearance", 0.0, 1.0),
    ("aus", 0.1, 0.25),
    ("jaw", torch.tensor([1.5, 0.0, 0.0]), torch.tensor([3.5, 0.7, 0.7])),
    ("pose", 0.0, torch.tensor([14.0, 8.0, 6.0])),
    ("camera", torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.04, 0.03, 0.03])),
]
Z_DIM = 64


def params_to_z(p: FaceParams) -> torch.Tensor:
    """SynthFaces parameters (B) -> the lite generator's z (B, 64)."""
    t = p.tensors()
    return torch.cat([(t[name].float() - off) / scale for name, off, scale in _Z_LAYOUT], 1)


def z_to_params(z: torch.Tensor) -> FaceParams:
    """Inverse of params_to_z (values outside the renderer's ranges are clamped)."""
    out, i = {}, 0
    for name, off, scale in _Z_LAYOUT:
        n = {"shape": 24, "appearance": 16, "aus": 15}.get(name, 3)
        out[name] = z[:, i : i + n] * scale + off
        i += n
    return FaceParams(**out).clamped()


def sample_z(n: int, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """z of n random SynthFaces faces (the distribution the lite generator was taught)."""
    return params_to_z(FaceParams.sample(n, seed=seed, generator=generator))


def load_generator(name: str = GENERATOR_WEIGHTS) -> Generator:
    """The lite generator (a weights/ folder name, a local folder or a Hub repo id)."""
    from lgfa_lite import hub

    return hub.load(name)


# ----------------------------------------------------------------------------- full weights


def convert_rosinality(
    state: dict[str, torch.Tensor],
    size: int,
    style_dim: int = 512,
    n_mlp: int = 8,
    channel_multiplier: int = 2,
    latent_avg: torch.Tensor | None = None,
) -> Generator:
    """A rosinality `g_ema` state dict -> Generator with the same weights.

    The layout is the same; what differs: EqualLinear/ModulatedConv biases and fused-lrelu
    biases are stored flat here ((C,) not (1, C, 1, 1)), blur kernels are rebuilt, not
    loaded, and w_avg comes from `latent_avg` (or is estimated from 4096 samples).
    """
    G = Generator(
        size=size, style_dim=style_dim, n_mlp=n_mlp, lr_mlp=0.01, channels=rosinality_channels(size, channel_multiplier)
    )
    ours = G.state_dict()
    out, unused = {}, []
    for k, v in state.items():
        if k.endswith(".kernel"):  # blur kernels: fixed buffers, rebuilt from blur_kernel
            continue
        if k.startswith("noises.") or k in ours:
            target = ours.get(k)
            if target is None:
                unused.append(k)
                continue
            out[k] = v.reshape(target.shape).to(target.dtype)
        else:
            unused.append(k)
    missing = [k for k in ours if k not in out and k != "w_avg"]
    if missing or unused:
        raise ValueError(f"not a rosinality g_ema of this config: missing {missing[:5]}, unexpected {unused[:5]}")
    out["w_avg"] = ours["w_avg"]
    G.load_state_dict(out)
    if latent_avg is not None:
        G.w_avg.copy_(latent_avg.reshape(-1)[:style_dim])
    else:
        G.mean_latent(4096, torch.Generator().manual_seed(0))
    return G.eval()


def main(argv=None):
    """`python -m lgfa_lite.nets.stylegan2 CKPT OUT_DIR --size 1024`: convert a rosinality checkpoint.

    Run this once, knowingly, on a checkpoint you trust: it is a torch pickle and is read with
    `torch.load(weights_only=True)` (tensors and plain containers only). NVlabs .pkl files hold
    code and are never read here: convert them to rosinality's format with its
    `convert_weight.py` first.
    """
    import argparse
    from pathlib import Path

    from lgfa_lite import hub

    ap = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--style-dim", type=int, default=512)
    ap.add_argument("--n-mlp", type=int, default=8)
    ap.add_argument("--channel-multiplier", type=int, default=2)
    args = ap.parse_args(argv)
    torch.serialization.add_safe_globals([argparse.Namespace])  # rosinality stores its args with the weights
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    state = ckpt.get("g_ema", ckpt)
    G = convert_rosinality(
        state, args.size, args.style_dim, args.n_mlp, args.channel_multiplier, latent_avg=ckpt.get("latent_avg")
    )
    hub.save(
        G,
        Path(args.out_dir),
        card={
            "description": f"Converted from rosinality checkpoint {Path(args.checkpoint).name}.",
            "task": "unconditional-image-generation",
            "dataset": "ffhq",
        },
    )
    print(f"wrote {args.out_dir}")


if __name__ == "__main__":
    main()
