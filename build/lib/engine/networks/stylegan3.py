"""StyleGAN3 (Karras et al. 2021, "Alias-Free Generative Adversarial Networks") in plain PyTorch and float32.

Written for dreambot from the paper and the published architecture: Fourier-feature input rotated and
shifted by the first w, then layers that upsample, apply the leaky ReLU at a higher sampling rate and
low-pass filter back down (Kaiser-windowed filters, radially symmetric jinc ones in the "r" config), so
the picture is free of texture sticking. The filtered leaky ReLU is the reference form built from
``upfirdn2d``; no custom CUDA kernels. Module and tensor names follow the official layout
(``synthesis.input.freqs``, ``synthesis.L3_52_1024.up_filter``, ...) and the constructors take the
arguments NVIDIA's pickles record, so their tensors load strictly. The mapping network is StyleGAN2's.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

from contract.errors import WeightsError
from engine.networks.stylegan2 import FullyConnectedLayer, MappingNetwork, upfirdn2d


def lowpass_filter(taps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """The layer's low-pass filter: None for a single tap, else a separable Kaiser-windowed FIR (1D) or,
    when ``radial``, a Kaiser-windowed jinc (2D) normalized to keep a constant signal."""
    if taps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=fs), dtype=torch.float32)
    positions = (np.arange(taps) - (taps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(positions, positions))
    jinc = scipy.special.j1(2 * np.pi * cutoff * r) / (np.pi * r)
    window = np.kaiser(taps, scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(taps, width / (fs / 2))))
    f = jinc * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def filtered_lrelu(
    x: torch.Tensor,
    up_filter: torch.Tensor | None,
    down_filter: torch.Tensor | None,
    bias: torch.Tensor,
    up: int,
    down: int,
    padding: list[int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> torch.Tensor:
    """Bias, upsample by ``up``, leaky ReLU (times ``gain``, clamped), downsample by ``down``: the nonlinearity
    runs at the higher rate so that the harmonics it makes are filtered out instead of aliasing."""
    x = upfirdn2d(x + bias.reshape(1, -1, 1, 1), up_filter, up=up, pad=padding, gain=up**2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, down_filter, down=down)


def modulated_conv2d(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, padding: int, input_gain: torch.Tensor
) -> torch.Tensor:
    """StyleGAN3's modulated convolution: weight and styles normalized first (for fp16 range in training,
    kept for identical outputs), then modulation, demodulation and the input's magnitude gain."""
    n = x.shape[0]
    in_channels, kh, kw = weight.shape[1:]
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight[None] * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
    w = w * input_gain
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_channels, kh, kw), padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


class SynthesisInput(nn.Module):
    """Fourier features on a grid, rotated and translated by an affine map of the first w."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.sampling_rate, self.bandwidth = channels, sampling_rate, bandwidth
        self.size = np.full(2, size)  # recorded as NVIDIA records it: a numpy [width, height]
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=(1, 0, 0, 0))
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # rotation (cos, sin) and translation (x, y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).repeat(n, 1, 1)
        rotation[:, 0, 0], rotation[:, 0, 1], rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat(n, 1, 1)
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rotation @ translation @ self.transform[None]
        phases = self.phases[None] + (self.freqs[None] @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs[None] @ transforms[:, :2, :2]
        # Frequencies the transform pushed past the band fade out instead of aliasing.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        width, height = int(self.size[0]), int(self.size[1])
        scale = [0.5 * width / self.sampling_rate, 0.5 * height / self.sampling_rate]
        theta = torch.tensor([[scale[0], 0, 0], [0, scale[1], 0]], dtype=torch.float32)
        grid = F.affine_grid(theta[None].to(w.device), [1, 1, height, width], align_corners=False)
        x = (grid[:, :, :, None] @ freqs.permute(0, 2, 1)[:, None, None]).squeeze(3) + phases[:, None, None]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated convolution, then the filtered leaky ReLU between this layer's sampling rates."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, in_channels: int, out_channels: int,
                 in_size: int, out_size: int, in_sampling_rate: int, out_sampling_rate: int, in_cutoff: float,
                 out_cutoff: float, in_half_width: float, out_half_width: float, conv_kernel: int = 3,
                 filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
                 conv_clamp: float | None = 256, **_) -> None:  # fmt: skip
        super().__init__()
        self.is_torgb, self.in_channels, self.conv_clamp = is_torgb, in_channels, conv_clamp
        self.conv_kernel = 1 if is_torgb else conv_kernel
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up_factor = round(tmp_rate / in_sampling_rate)
        self.down_factor = round(tmp_rate / out_sampling_rate)
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial = use_radial_filters and not is_critically_sampled
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", lowpass_filter(down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial))
        # Pad so that the output samples sit where the symmetric interpretation of the grid puts them.
        total = (out_size - 1) * self.down_factor + 1 - (in_size + self.conv_kernel - 1) * self.up_factor
        total += up_taps + down_taps - 2
        low = (total + self.up_factor) // 2
        self.padding = [low, total - low, low, total - low]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(
            x, self.weight, styles, not self.is_torgb, self.conv_kernel - 1, input_gain=self.magnitude_ema.rsqrt()
        )
        gain, slope = (1, 1) if self.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(
            x, self.up_filter, self.down_filter, self.bias, self.up_factor, self.down_factor, self.padding,
            gain, slope, self.conv_clamp,
        )  # fmt: skip


class SynthesisNetwork(nn.Module):
    """The input, ``num_layers`` filtered layers whose cutoffs rise geometrically to the picture's Nyquist
    rate (the last ``num_critical`` critically sampled), and the RGB layer."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2**2.1, last_stopband_rel: float = 2**0.3, margin_size: int = 10,
                 output_scale: float = 0.25, **layer_kwargs) -> None:  # fmt: skip
        super().__init__()
        self.num_ws = num_layers + 2
        self.output_scale = output_scale
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        last_cutoff = img_resolution / 2
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names: list[str] = []
        for i in range(num_layers + 1):
            prev = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim, i == num_layers, i >= num_layers - num_critical, int(channels[prev]), int(channels[i]),
                int(sizes[prev]), int(sizes[i]), int(rates[prev]), int(rates[i]), cutoffs[prev], cutoffs[i],
                half_widths[prev], half_widths[i], **layer_kwargs,
            )  # fmt: skip
            name = f"L{i}_{int(sizes[i])}_{int(channels[i])}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noises: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``noises`` is accepted for StyleGAN2's signature: StyleGAN3 has no noise inputs."""
        w = ws.unbind(dim=1)
        x = self.input(w[0])
        for name, layer_w in zip(self.layer_names, w[1:], strict=True):
            x = getattr(self, name)(x, layer_w)
        return x * self.output_scale

    def noise_layers(self) -> dict[str, nn.Module]:
        return {}


class Generator(nn.Module):
    """``G_ema`` of a StyleGAN3 pickle; its recorded arguments are flat (synthesis ones beside the rest)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, **synthesis_kwargs) -> None:  # fmt: skip
        super().__init__()
        if c_dim:
            raise WeightsError("this StyleGAN3 generator is conditioned on classes; dreambot steers unconditional ones")
        self.z_dim, self.w_dim, self.img_resolution = z_dim, w_dim, img_resolution
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, **({"num_layers": 2} | dict(mapping_kwargs or {})))
