"""The pixels painter: an init image is taken over exactly by inverting the Fourier parameterization."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from engine.generators.pixels import PixelsGenerator
from tests.support.painters import CPU
from tests.support.pictures import noise_image


def test_pixels_take_an_init_image_exactly(tmp_path):
    noise_image(tmp_path / "init.png", 40)
    image = torch.from_numpy(np.array(Image.open(tmp_path / "init.png"))).permute(2, 0, 1)[None].float() / 255
    image = image[:, :, :, :37]  # an odd width, where the real FFT is least forgiving
    generator = PixelsGenerator(None, 37, 40, CPU)
    generator.init_from_image(image)
    with torch.no_grad():
        error = (generator.decode() - image.clamp(1e-3, 1 - 1e-3)).abs().max()
    assert error < 1e-4
