"""StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch builds it, in plain PyTorch and float32.

Written for dreambot from the papers and the published architecture: the mapping network, modulated and
demodulated convolutions with per-layer noise, FIR-filtered upsampling ([1, 3, 3, 1]) and the skip
generator that sums an RGB output per resolution. Module and tensor names follow the official layout
(``mapping.fc0.weight``, ``synthesis.b8.conv0.affine.bias``, ``synthesis.b4.const``, ...), so the tensors
recorded in NVIDIA's pickles load strictly; the constructors take the recorded keyword arguments. No
custom CUDA kernels: the resampling is a grouped convolution, as in the official reference path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from contract.errors import WeightsError

LRELU_GAIN = math.sqrt(2)


def setup_filter(taps: Sequence[float]) -> torch.Tensor:
    """The 2D low-pass filter of ``taps`` (their outer product), normalized to keep a constant signal."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    pad: Sequence[int] = (0, 0, 0, 0),
    gain: float = 1,
) -> torch.Tensor:
    """Upsample by inserting ``up - 1`` zeros after each pixel, pad (x0, x1, y0, y1; negative crops),
    convolve each channel with ``f`` (2D, 1D for a separable filter, or None for none) and keep every
    ``down``-th pixel: the reference definition, computed without the zeros and the dropped pixels."""
    x0, x1, y0, y1 = pad
    if f is None or f.ndim == 2:
        kernel = torch.ones(1, 1, device=x.device) if f is None else f
        return _resample(x, kernel * gain, (up, up), (down, down), (x0, x1, y0, y1))
    f = f * math.sqrt(gain)
    x = _resample(x, f[None], (1, up), (1, down), (x0, x1, 0, 0))  # along rows
    return _resample(x, f[:, None], (up, 1), (down, 1), (0, 0, y0, y1))  # along columns


def _resample(x: torch.Tensor, kernel: torch.Tensor, up: tuple[int, int], down: tuple[int, int], pad: Sequence[int]):
    """One pass of ``upfirdn2d`` with a ``[kh, kw]`` kernel. Upsampling runs polyphase: each of the ``up``
    phases of the kernel convolves the input, and the phases interleave into the transposed convolution's
    output (the zeros are never multiplied), which the padding then crops; downsampling is a convolution
    of stride ``down`` (the dropped pixels are never computed)."""
    n, c, h, w = x.shape
    x0, x1, y0, y1 = pad
    if up == (1, 1):
        weight = kernel.flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
        return F.conv2d(F.pad(x, [x0, x1, y0, y1]), weight, stride=down, groups=c)
    (uh, uw), (kh, kw) = up, kernel.shape
    a, b = -(-kh // uh), -(-kw // uw)  # taps per phase
    phases = F.pad(kernel, [0, b * uw - kw, 0, a * uh - kh]).reshape(a, uh, b, uw).permute(1, 3, 0, 2)
    weight = phases.flip([2, 3]).reshape(uh * uw, 1, a, b).to(x.dtype).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, [b - 1, b - 1, a - 1, a - 1]), weight, groups=c)
    x = x.reshape(n, c, uh, uw, h + a - 1, w + b - 1).permute(0, 1, 4, 2, 5, 3).reshape(n, c, (h + a - 1) * uh, -1)
    # x is now the transposed convolution of stride ``up``, (h - 1) * uh + kh rows long, plus a * uh - kh zeros.
    x = F.pad(x, [x0 - (kw - 1), uw + x1 - kw - (b * uw - kw), y0 - (kh - 1), uh + y1 - kh - (a * uh - kh)])
    return x[:, :, :: down[0], :: down[1]]


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling through ``f`` (a 4-tap filter: padding 2 before and 1 after)."""
    taps = f.shape[-1]
    pad = ((taps + 1) // 2, (taps - 2) // 2)
    return upfirdn2d(x, f, up=2, pad=(pad[0], pad[1], pad[0], pad[1]), gain=4)


def bias_act(x: torch.Tensor, bias: torch.Tensor, lrelu: bool, gain: float = 1, clamp: float | None = None) -> torch.Tensor:
    x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if lrelu:
        x = F.leaky_relu(x, 0.2) * (LRELU_GAIN * gain)
    elif gain != 1:
        x = x * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: int = 1,
    resample_filter: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each sample's convolution with the weight scaled by its styles (and demodulated), as one grouped convolution."""
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = weight[None] * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    if up == 1:
        x = F.conv2d(x, w.reshape(-1, in_channels, kh, kw), padding=kh // 2, groups=n)
        return x.reshape(n, -1, *x.shape[2:])
    # Transposed convolution (stride 2), then the low-pass filter: the official fast path for up=2.
    w = w.transpose(1, 2).reshape(n * in_channels, out_channels, kh, kw)
    x = F.conv_transpose2d(x, w, stride=2, groups=n)
    assert resample_filter is not None
    x = upfirdn2d(x, resample_filter, pad=(1, 1, 1, 1), gain=4)
    return x.reshape(n, -1, *x.shape[2:])


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, lrelu: bool = False, lr_multiplier: float = 1,
                 bias_init: float | Sequence[float] = 0, weight_init: float = 1) -> None:  # fmt: skip
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * weight_init / lr_multiplier)
        self.bias = nn.Parameter(torch.as_tensor(bias_init, dtype=torch.float32).expand(out_features).clone())
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight * self.weight_gain).t())
        return bias_act(x, self.bias * self.bias_gain, self.lrelu)


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 8, lr_multiplier: float = 0.01, **_) -> None:
        super().__init__()
        self.num_ws, self.num_layers = num_ws, num_layers
        features = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], lrelu=True, lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """``[n, num_ws, w_dim]``: the w of each ``z``, pulled towards the average by ``truncation`` below 1."""
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if truncation != 1:
            x = self.w_avg.lerp(x, truncation)
        return x[:, None].repeat(1, self.num_ws, 1)


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp: float | None = None, resample_filter: Sequence[float] = (1, 3, 3, 1)) -> None:  # fmt: skip
        super().__init__()
        self.up, self.conv_clamp = up, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``noise``: this layer's noise map (default: the recorded constant one, so a picture repeats)."""
        x = modulated_conv2d(x, self.weight, self.affine(w), up=self.up, resample_filter=self.resample_filter)
        x = x + (self.noise_const if noise is None else noise) * self.noise_strength
        return bias_act(x, self.bias, lrelu=True, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return bias_act(x, self.bias, lrelu=False, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (2x up and) two modulated convolutions, and its RGB output."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, resample_filter: Sequence[float] = (1, 3, 3, 1)) -> None:  # fmt: skip
        super().__init__()
        self.first = in_channels == 0
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        layer = {"w_dim": w_dim, "resolution": resolution, "conv_clamp": conv_clamp, "resample_filter": resample_filter}
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer)
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp)
        self.num_conv = 1 if self.first else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noises: dict | None = None):
        w = iter(ws.unbind(dim=1))
        noises = noises or {}
        x = self.const[None].repeat(ws.shape[0], 1, 1, 1) if self.first else self.conv0(x, next(w), noises.get("conv0"))
        x = self.conv1(x, next(w), noises.get("conv1"))
        y = self.torgb(x, next(w))
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, architecture: str = "skip", conv_clamp: float | None = None,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), **_) -> None:  # fmt: skip
        super().__init__()
        if architecture != "skip":
            raise WeightsError(f"this StyleGAN2 generator has the {architecture!r} architecture; dreambot reads 'skip' ones")
        self.resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.resolutions}
        self.num_ws = 0
        for res in self.resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels, conv_clamp, resample_filter
            )
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's RGB output

    def forward(self, ws: torch.Tensor, noises: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``noises``: maps by layer name (``b8.conv0``) in place of the recorded constant ones."""
        x = img = None
        start = 0
        for res in self.resolutions:
            block = getattr(self, f"b{res}")
            own = {name.split(".")[1]: noise for name, noise in (noises or {}).items() if name.startswith(f"b{res}.")}
            x, img = block(x, img, ws.narrow(1, start, block.num_conv + 1), own)
            start += block.num_conv
        return img

    def noise_layers(self) -> dict[str, SynthesisLayer]:
        return {name: m for name, m in self.named_modules() if isinstance(m, SynthesisLayer)}


class Generator(nn.Module):
    """``G_ema`` of a StyleGAN2 pickle: ``mapping`` (z to w) and ``synthesis`` (w+ to a picture in about [-1, 1])."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None, **_) -> None:  # fmt: skip
        super().__init__()
        if c_dim:
            raise WeightsError("this StyleGAN2 generator is conditioned on classes; dreambot steers unconditional ones")
        self.z_dim, self.w_dim, self.img_resolution = z_dim, w_dim, img_resolution
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))
