"""The PNG's parameters text: it holds everything that decides the picture, and reads back to the same request."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from contract import parameters
from contract.errors import BadRequest
from contract.protocol import RenderRequest
from contract.validation import validate


def full_request(init) -> RenderRequest:
    """Every field away from its default; an image prompt whose name needs quoting (a comma) and starts with X."""
    picture = init.with_name("Xmas,tree.png")
    Image.new("RGB", (8, 8)).save(picture)
    return RenderRequest(
        "a castle, at dusk\nin two lines | fog:0.5",
        model="tiny-biggan",
        perceptor="tiny-clip",
        width=64,
        height=64,
        steps=42,
        seed=7,
        cutn=16,
        cut_pow=0.8,
        lr=0.02,
        optimizer="adamw",
        init_image=str(init),
        init_weight=0.25,
        noise_prompts=("3:0.5", "9"),
        image_prompts=(f"{picture}:2", str(picture)),
        options={"truncation": 0.5, "max_classes": 3},
    )


def test_the_parameters_line_holds_everything_that_decides_the_picture(tmp_path):
    init = tmp_path / "dusk,start.png"
    Image.new("RGB", (8, 8)).save(init)
    request = full_request(init)
    text = parameters.write(validate(request), 12.34, "1.2.3")
    prompt, line = text.rsplit("\n", 1)
    assert prompt == "a castle, at dusk\nin two lines | fog:0.5"
    for part in (
        "Steps: 42", "Seed: 7", "Size: 64x64", "Model: tiny-biggan", "Perceptor: tiny-clip", "Cutn: 16",
        "Cut pow: 0.8", "Optimizer: adamw", "LR: 0.02", "Truncation: 0.5", "Max classes: 3", "Class temperature: 2.0",
        'Init image: "dusk,start.png"', "Init weight: 0.25", 'Noise prompts: "3:0.5 | 9"',
        'Image prompts: "Xmas,tree.png:2 | Xmas,tree.png"', "Time: 12.3s", "Version: dreambot 1.2.3",
    ):  # fmt: skip
        assert part in line, part
    assert str(tmp_path) not in text, "the init image's name, not where it lives"


def test_the_text_reads_back_to_the_same_request(tmp_path):
    init = tmp_path / "dusk,start.png"
    Image.new("RGB", (8, 8)).save(init)
    request = full_request(init)
    fields = parameters.read(parameters.write(validate(request), 1.0, "0.1.0"))
    assert fields.pop("init_image") == "dusk,start.png", "only the name: the picture must be given again"
    assert fields.pop("image_prompts") == ("Xmas,tree.png:2", "Xmas,tree.png")
    defaults = {"truncation": 0.5, "max_classes": 3, "class_temperature": 2.0, "ema_decay": 0.99}
    expected = dataclasses.replace(request, init_image=None, image_prompts=(), options=defaults)
    assert RenderRequest(**fields) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512",
            "its parameters were not written by dreambot",
        ),
        ("Steps: 20, Seed: 1, Version: dreambot 0.1.0", "its parameters were not written by dreambot"),
        (
            "a cat\nSteps: 20, Sampler: Euler, Version: dreambot 0.1.0",
            "its parameters hold 'Sampler', which dreambot does not write",
        ),
        ("a cat\nSteps: many, Version: dreambot 0.1.0", "its parameter 'Steps' is not readable: 'many'"),
    ],
)
def test_foreign_or_broken_parameters_are_refused(text, message):
    with pytest.raises(BadRequest, match=f"^{message}"):
        parameters.read(text)


@pytest.mark.parametrize(
    ("model", "options", "written", "left_out"),
    [
        ("tiny-stylegan2", {}, "Noise: const", None),
        ("tiny-stylegan3", {}, None, "Noise"),  # StyleGAN3 has no noise inputs
        ("tiny-vqgan", {"sampling": "codebook", "codebook_temperature": 0.5}, "Codebook temperature: 0.5", None),
        ("tiny-vqgan", {"codebook_temperature": 0.5}, "Sampling: z+quantize", "Codebook temperature"),
    ],
)
def test_a_picture_records_only_the_options_that_mean_something_for_it(model, options, written, left_out):
    size = 64 if "stylegan" in model else 32
    request = RenderRequest("a face", model=model, perceptor="tiny-clip", width=size, height=size, seed=1, options=options)
    text = parameters.write(validate(request), 1.0, "0.1.0")
    if written:
        assert written in text
    if left_out:
        assert left_out not in text


def test_a_deepdreams_parameters_say_how_to_dream_it_again_not_that_dreambot_did_not_write_them():
    text = (
        "\nSteps: 40, Seed: 9, Size: 32x32, Model: inception-v1, Layer: inception4c, Octaves: 3, Octave scale: 1.4, "
        "Jitter: 32, Step size: 0.01, Prompt weight: 1.0, Time: 0.7s, Version: dreambot 0.1.0"
    )
    with pytest.raises(BadRequest) as refused:
        parameters.read(text)
    assert str(refused.value) == (
        "it is a DeepDream of a picture, which render does not paint; dream on the picture again with: dreambot deepdream "
        "PICTURE --model inception-v1 --steps 40 --seed 9 --layer inception4c --octaves 3 --octave-scale 1.4 --jitter 32 "
        "--step-size 0.01 --prompt-weight 1.0"
    )
