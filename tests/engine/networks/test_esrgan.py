"""Real-ESRGAN's release files are read as tensors only, and anything but a 4x upscaler is refused by name."""

import pytest
import torch

from contract.errors import WeightsError
from contract.models import ESRGAN_WEIGHTS
from engine.networks.esrgan import SCALE, load_upscaler, random_state


def test_a_random_state_in_the_official_layout_loads_as_a_4x_network(tmp_path):
    torch.save(random_state(seed=3), tmp_path / ESRGAN_WEIGHTS)
    net = load_upscaler(tmp_path)
    with torch.no_grad():
        out = net(torch.rand(1, 3, 8, 6))
    assert out.shape == (1, 3, 8 * SCALE, 6 * SCALE)
    assert not any(p.requires_grad for p in net.parameters())
    assert torch.equal(random_state(seed=3)["conv_first.weight"], random_state(seed=3)["conv_first.weight"])
    assert not torch.equal(random_state(seed=3)["conv_first.weight"], random_state(seed=4)["conv_first.weight"])


def test_a_state_of_another_scale_is_refused(tmp_path):
    state = {k: v for k, v in random_state().items() if not k.startswith("conv_up2")}  # one upsampling: 2x
    torch.save(state, tmp_path / ESRGAN_WEIGHTS)
    with pytest.raises(WeightsError, match=r"RealESRGAN_x4plus.pth is a ESRGAN network, not a 4x upscaler"):
        load_upscaler(tmp_path)
