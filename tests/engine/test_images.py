"""Pictures between Pillow and tensors: exact values in, a cover-and-centre-crop resize out."""

import torch
from PIL import Image

from engine.images import image_tensor, resize_image


def test_a_picture_becomes_rgb_in_zero_to_one_with_rows_first():
    picture = Image.new("RGB", (3, 2), (255, 0, 51))
    picture.putpixel((2, 1), (0, 255, 0))
    tensor = image_tensor(picture, torch.device("cpu"))
    assert tensor.shape == (1, 3, 2, 3) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.2]))
    assert torch.equal(tensor[0, :, 1, 2], torch.tensor([0.0, 1.0, 0.0]))


def test_a_resize_covers_the_size_and_crops_the_centre():
    wide = torch.zeros(1, 3, 10, 40)
    wide[..., 18:22] = 1.0  # a bright band in the middle of the width
    out = resize_image(wide, 20, 20)
    assert out.shape == (1, 3, 20, 20)
    assert out[..., 8:12].mean() > 0.9 and out[..., :3].mean() < 0.1  # the band is centred, its sides are cropped
    assert out.min() >= 0 and out.max() <= 1  # bicubic overshoot clamped
    assert resize_image(torch.rand(1, 3, 8, 8), 8, 8).shape == (1, 3, 8, 8)
