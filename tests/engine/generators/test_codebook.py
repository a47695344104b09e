"""VQGAN codebook sampling: logits over the codes at every position, picked by a straight-through Gumbel-softmax."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from contract import parameters
from engine.generators.gumbel import TokenChoice
from engine.generators.z_quantize import VQGANGenerator
from engine.networks.vqgan import nearest_codes
from engine.pipeline import RenderTask
from tests.support.painters import CODEBOOK, CPU, request
from tests.support.pictures import noise_image


def test_every_position_decodes_one_code_of_the_codebook_and_the_gradient_reaches_the_logits(engine):
    net = engine.network("tiny-vqgan")
    torch.manual_seed(0)
    generator = VQGANGenerator(net, 16, 12, CPU, sampling="codebook")
    z_q = generator.quantized()
    codes = nearest_codes(z_q.movedim(1, 3), net.codebook)
    assert torch.allclose(net.codebook[codes].movedim(3, 1), z_q, atol=1e-5)  # a code, not a blend
    z_q.square().sum().backward()
    assert generator.choice.logits.grad is not None and generator.choice.logits.grad.abs().sum() > 0
    assert generator.parameters() == [generator.choice.logits]


def test_a_codebook_picture_records_its_sampling_and_is_painted_again_alike(engine):
    result = engine.render(request("tiny-vqgan", 32, {**CODEBOOK, "codebook_temperature": 0.5}, steps=4))
    recorded = parameters.read(Image.open(io.BytesIO(result.png)).text["parameters"])
    assert recorded["options"] == {"sampling": "codebook", "codebook_temperature": 0.5}
    plain = parameters.read(Image.open(io.BytesIO(engine.render(request("tiny-vqgan", 32, {}, steps=1)).png)).text["parameters"])
    assert plain["options"]["sampling"] == "z+quantize"


def test_a_batched_codebook_picture_draws_its_own_noise(engine):
    """Each picture's Gumbel noise has its own stream: batched, it gets what it gets alone."""
    jobs = [request("tiny-vqgan", 32, CODEBOOK, steps=4, seed=seed) for seed in (3, 4)]
    together = engine.render_batch([RenderTask(job) for job in jobs])
    for job, batched in zip(jobs, together, strict=True):
        alone = engine.render(job)
        assert max(abs(a - b) for a, b in zip(alone.losses, batched.losses, strict=True)) < 5e-3


def test_an_init_image_starts_codebook_sampling_from_its_nearest_codes(engine, tmp_path):
    noise_image(tmp_path / "init.png", 32)
    net = engine.network("tiny-vqgan")
    torch.manual_seed(0)
    generator = VQGANGenerator(net, 32, 32, CPU, sampling="codebook")
    image = torch.from_numpy(np.asarray(Image.open(tmp_path / "init.png"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    generator.init_from_image(image)
    wanted = nearest_codes(net.encode(image * 2 - 1).movedim(1, 3), net.codebook)
    assert torch.equal(generator.choice.logits.argmax(dim=1), wanted)


def test_the_first_draw_keeps_the_start_where_its_logits_beat_the_noise():
    """LOGIT_START against the Gumbel noise of 511 other tokens: the start's token is drawn with probability
    e^5 / (e^5 + 511) = 0.225 at each position (0.002 if the start were a fifth as strong, 1 with no noise)."""
    torch.manual_seed(0)
    choice = TokenChoice(512, 32, 32, 1.0, CPU)
    kept = (choice.one_hot().argmax(dim=1) == choice.start).float().mean().item()
    assert 0.17 < kept < 0.28, kept  # 1024 positions: a standard deviation of 0.013


def test_the_draw_is_a_gumbel_softmax_at_its_temperature_with_the_softmaxs_gradient():
    """Forward: the one-hot of argmax((logits + g) / T); backward: the gradient of that softmax (straight through)."""
    torch.manual_seed(1)
    temperature = 0.5
    choice = TokenChoice(8, 4, 4, temperature, CPU)
    drawn_from = choice.noise.get_state()
    weights = torch.randn(1, 8, 4, 4)
    hard = choice.one_hot()
    (hard * weights).sum().backward()
    choice.noise.set_state(drawn_from)
    logits = choice.logits.detach().clone().requires_grad_(True)
    gumbel = -(-torch.rand(logits.shape, generator=choice.noise).log()).log()
    soft = ((logits + gumbel) / temperature).softmax(dim=1)
    (soft * weights).sum().backward()
    one_hot = torch.nn.functional.one_hot(soft.argmax(dim=1), 8).movedim(3, 1).float()
    assert torch.allclose(hard.detach(), one_hot, atol=1e-6), "forward: the one-hot of the drawn token"
    assert torch.allclose(choice.logits.grad, logits.grad, atol=1e-6)
