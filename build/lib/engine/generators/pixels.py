"""The image itself as the parameters, in a decorrelated Fourier basis (Lucid's feature-visualization trick).

Optimizing raw pixels against CLIP gives high-frequency noise. Here the parameters are an RGB
spectrum scaled by ``1 / frequency ** decay_power`` (every frequency moves at a speed matched to
natural images), mixed through the square root of ImageNet's colour correlation and squashed by a
sigmoid. Gradient steps then change the picture in the way natural images vary, and it converges
cleanly. The map is invertible, so an init image is taken over exactly.
"""

from __future__ import annotations

import torch

from engine.generators.base import Generator

# Square root of ImageNet's colour covariance (Lucid), columns scaled so the largest has norm 1.
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MIX = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()
SPECTRUM_STD = 0.01
AMPLITUDE = 4.0  # Lucid's divisor that brings the inverse transform into the sigmoid's lively range
EDGE = 1e-3  # init pixels are kept this far inside (0, 1), where the sigmoid is invertible


def frequency_scale(width: int, height: int, decay_power: float) -> torch.Tensor:
    """``[H, W//2 + 1]`` weights ``1 / f ** decay_power``, the lowest frequency standing in for 0."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    frequency = (fx.square() + fy.square()).sqrt().clamp(min=1 / max(width, height))
    return frequency.pow(-decay_power)


class PixelsGenerator(Generator):
    def __init__(self, net: None, width: int, height: int, device: torch.device, decay_power: float = 1.0) -> None:
        self.width, self.height = width, height
        self.scale = frequency_scale(width, height, decay_power).to(device)
        self.mix = COLOR_MIX.to(device)
        spectrum = torch.randn(1, 3, height, width // 2 + 1, 2) * SPECTRUM_STD
        self.spectrum = spectrum.to(device).requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def decode(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        logits = torch.fft.irfft2(spectrum, s=(self.height, self.width), norm="ortho") / AMPLITUDE
        return torch.einsum("nchw,dc->ndhw", logits, self.mix).sigmoid()

    @torch.no_grad()
    def init_from_image(self, image: torch.Tensor) -> None:
        """Invert the parameterization: logit, unmix the colours, forward transform, unscale."""
        logits = torch.einsum("nchw,dc->ndhw", image.clamp(EDGE, 1 - EDGE).logit(), torch.linalg.inv(self.mix))
        spectrum = torch.fft.rfft2(logits * AMPLITUDE, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(spectrum))
