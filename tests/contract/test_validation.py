"""Every refusal ``validate`` gives, at each limit's edge: the value at a bound passes, one past it is
refused with a message that names the bound."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from contract.errors import BadRequest
from contract.films import MAX_FRAMES, MAX_SHIFT, MAX_ZOOM
from contract.limits import MAX_CUTN, MAX_IMAGE_PIXELS, MAX_SEED, MAX_SIDE, MAX_STEPS, MIN_SIDE
from contract.protocol import RenderRequest
from contract.registry import lookup
from contract.validation import check_device_here, check_seed, check_size, open_image, parse_size, size_for, validate


def request(**overrides) -> RenderRequest:
    values = dict(prompt="a magic fairy house", model="tiny-vqgan", perceptor="tiny-clip", width=32, height=32, steps=5, seed=7)
    return RenderRequest(**{**values, **overrides})


@pytest.fixture
def picture(tmp_path) -> str:
    path = tmp_path / "picture.png"
    Image.new("RGB", (8, 6), "red").save(path)
    return str(path)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompt": "  "}, "the prompt is empty"),
        ({"model": "vqgan-nope"}, "unknown model 'vqgan-nope'"),
        ({"model": "tiny-clip"}, "tiny-clip is a perceptor, not a generator; generators: vqgan-imagenet-f16-16384, "),
        ({"perceptor": "clip"}, "perceptor 'clip' must be tiny-clip or an open_clip MODEL/PRETRAINED pair"),
        ({"perceptor": "tiny-vqgan"}, "perceptor 'tiny-vqgan' must be tiny-clip or an open_clip MODEL/PRETRAINED pair"),
        ({"perceptor": "ViT-B-32/"}, "perceptor 'ViT-B-32/' must be tiny-clip or an open_clip"),
        ({"perceptor": "tiny-clip+clip"}, r"perceptor 'clip' must be .* \(join several with \+ for an ensemble\)"),
        ({"perceptor": "tiny-clip+"}, "perceptor '' must be tiny-clip or"),
        ({"perceptor": "tiny-clip+tiny-clip"}, "perceptor ensemble 'tiny-clip\\+tiny-clip' names one perceptor twice"),
        ({"perceptor": "+".join(f"ViT-B-32/{n}" for n in "abcde")}, "an ensemble may join at most 4 perceptors, not 5"),
        ({"width": 33}, r"the model tiny-vqgan makes sides that are multiples of 2; 33x32 is not \(try 32x32\)"),
        ({"height": 39}, r"the model tiny-vqgan makes sides that are multiples of 2; 32x39 is not \(try 32x40\)"),
        ({"model": "vqgan-imagenet-f16-16384", "width": 100}, r"the model .* multiples of 16; 100x32 is not \(try 96x32\)"),
        (
            {"model": "vqgan-imagenet-f16-16384", "width": 8},
            "width 8 is out of range: vqgan-imagenet-f16-16384 makes sides from 16 ",
        ),
        ({"height": MAX_SIDE + 2}, f"height {MAX_SIDE + 2} is out of range: tiny-vqgan makes sides from 16 to {MAX_SIDE} pixels"),
        ({"width": MIN_SIDE - 2}, f"width {MIN_SIDE - 2} is out of range"),
        ({"steps": 0}, f"steps must be between 1 and {MAX_STEPS}, not 0"),
        ({"steps": MAX_STEPS + 1}, f"steps must be between 1 and {MAX_STEPS}, not {MAX_STEPS + 1}"),
        ({"cutn": 0}, f"cutn must be between 1 and {MAX_CUTN}, not 0"),
        ({"cutn": MAX_CUTN + 1}, f"cutn must be between 1 and {MAX_CUTN}, not {MAX_CUTN + 1}"),
        ({"lr": -1.0}, "lr must be a positive number, not -1.0"),
        ({"lr": 0.0}, "lr must be a positive number, not 0.0"),
        ({"lr": float("nan")}, "lr must be a positive number, not nan"),
        ({"cut_pow": float("inf")}, "cut_pow must be a positive number, not inf"),
        ({"optimizer": "lion"}, "optimizer 'lion' is not one of adam, adamw, sgd"),
        ({"preview_every": 0}, "preview_every must be at least 1"),
        ({"seed": -1}, f"the seed must be between 0 and {MAX_SEED}, not -1"),
        ({"options": {"gain": 2}}, "tiny-vqgan has no option 'gain'; its options are sampling, codebook_temperature"),
        ({"options": {"sampling": "both"}}, "sampling must be z\\+quantize or codebook, not 'both'"),
        ({"init_image": "/no/such/file.png"}, "image '/no/such/file.png' does not exist or is not a file"),
        ({"image_prompts": ("/no/such.png:2",)}, "image '/no/such.png' does not exist or is not a file"),
        ({"noise_prompts": ("x",)}, "noise prompt 'x' must look like SEED or SEED:WEIGHT"),
    ],
)
def test_each_bad_request_is_refused_with_its_reason(overrides, message):
    with pytest.raises(BadRequest, match=f"^{message}"):  # anchored: the message starts with the reason
        validate(request(**overrides))


def test_a_request_at_every_bound_passes_and_resolves_once(picture):
    edge = request(
        width=MAX_SIDE, height=MIN_SIDE, steps=MAX_STEPS, cutn=MAX_CUTN, seed=MAX_SEED, preview_every=1, lr=1e-9,
        init_image=picture, image_prompts=(f"{picture}:0.5",), noise_prompts=("3:-1",),
    )  # fmt: skip
    resolved = validate(edge)
    assert resolved.request is edge and resolved.spec is lookup("tiny-vqgan") and resolved.family.name == "vqgan"
    assert resolved.lr == 1e-9 and resolved.options == {"sampling": "z+quantize", "codebook_temperature": 1.0}
    assert validate(request(perceptor="ViT-B-32/openai")).request.perceptor == "ViT-B-32/openai", "open_clip names pass"
    assert validate(request(perceptor="tiny-clip+ViT-B-16/openai")).request.perceptor == "tiny-clip+ViT-B-16/openai"
    assert validate(request(steps=1, cutn=1, seed=0, width=MIN_SIDE)).lr == 0.1, "the family's rate when none is given"
    codebook = request(steps=1, options={"sampling": "codebook"})
    assert validate(codebook).lr == 0.5, "codebook sampling's own rate"
    assert validate(dataclasses.replace(codebook, lr=0.2)).lr == 0.2, "a rate given wins"


def test_family_options_resolve_with_their_defaults():
    assert validate(request(model="pixels")).options == {"decay_power": 1.0}
    assert validate(request(model="pixels", options={"decay_power": 2})).options == {"decay_power": 2.0}


@given(st.integers(MIN_SIDE // 2, MAX_SIDE // 2), st.integers(MIN_SIDE // 2, MAX_SIDE // 2))
def test_every_even_size_in_range_passes_tiny_vqgan(half_width, half_height):
    check_size(lookup("tiny-vqgan"), 2 * half_width, 2 * half_height)


@given(st.integers(min_value=-(2**64), max_value=2**64))
def test_seeds_pass_exactly_from_zero_to_the_largest(seed):
    if 0 <= seed <= MAX_SEED:
        check_seed(seed)
    else:
        with pytest.raises(BadRequest, match=f"between 0 and {MAX_SEED}, not {seed}"):
            check_seed(seed)


@pytest.mark.parametrize("seed", [0, MAX_SEED])
def test_the_seed_bounds_themselves_pass(seed):
    check_seed(seed)


def test_fixed_size_models_name_the_sizes_they_paint():
    check_size(lookup("biggan-deep-256"), 256, 256)
    with pytest.raises(BadRequest) as refused:
        check_size(lookup("biggan-deep-256"), 256, 128)
    assert str(refused.value) == (
        "the model biggan-deep-256 paints 256x256 only, not 256x128; leave the size out, or pick the model for the size "
        "you want: 128x128 (biggan-deep-128), 256x256 (biggan-deep-256), 512x512 (biggan-deep-512)"
    )
    assert size_for("biggan-deep-512", None, "64x64") == (512, 512)
    assert size_for("siren", None, "64x48") == (64, 48)
    assert size_for("biggan-deep-512", "128x128", "64x64") == (128, 128)


@pytest.mark.parametrize(("text", "size"), [("256x128", (256, 128)), (" 64 X 32 ", (64, 32)), ("10×20", (10, 20))])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["256", "256x", "x256", "1234567x2", "２５６x256", "-16x16", "16.0x16"])
def test_malformed_sizes_are_refused(text):
    with pytest.raises(BadRequest, match=f"size {text!r} is not of the form WIDTHxHEIGHT"):
        parse_size(text)


def test_pictures_open_as_rgb_and_refuse_what_is_not_one(tmp_path, picture, monkeypatch):
    assert open_image(picture).mode == "RGB" and open_image(picture).size == (8, 6)
    Image.new("P", (4, 4)).save(tmp_path / "palette.png")
    Image.new("RGBA", (4, 4)).save(tmp_path / "clear.webp")
    assert open_image(str(tmp_path / "palette.png")).mode == open_image(str(tmp_path / "clear.webp")).mode == "RGB"
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(BadRequest, match="could not be read as a picture"):
        open_image(str(tmp_path / "broken.png"))
    with pytest.raises(BadRequest, match="does not exist or is not a file"):
        open_image(str(tmp_path))
    Image.new("RGB", (8, 6)).save(tmp_path / "picture.tiff")
    with pytest.raises(BadRequest, match="could not be read as a picture"):
        open_image(str(tmp_path / "picture.tiff"))
    monkeypatch.setattr("contract.validation.MAX_IMAGE_PIXELS", 47)
    with pytest.raises(BadRequest, match="is 8x6, more than 47 pixels"):
        open_image(picture)
    monkeypatch.setattr("contract.validation.MAX_IMAGE_PIXELS", 48)
    assert open_image(picture).size == (8, 6)
    assert MAX_IMAGE_PIXELS > 48


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"zoom_frames": MAX_FRAMES + 1}, f"zoom frames must be between 1 and {MAX_FRAMES}, not {MAX_FRAMES + 1}$"),
        ({"zoom_frames": 2, "steps_per_frame": 0}, "steps per frame must be at least 1, not 0$"),
        ({"prompt": "a || b || c", "zoom_frames": 2}, "a zooming story needs at least one frame per scene: 3 scenes, 2 frames$"),
        ({"prompt": "a || b || c", "steps": 2}, "a story needs at least one step per scene: 3 scenes, 2 steps$"),
        (
            {"zoom_frames": 2, "zoom": 1 / MAX_ZOOM - 0.01},
            r"zoom must be between 0.5 and 2 a frame \(1.02: 2% closer\), not 0.49$",
        ),
        ({"zoom_frames": 2, "zoom": MAX_ZOOM + 0.01}, "zoom must be between 0.5 and 2 a frame"),
        ({"zoom_frames": 2, "rotate": float("inf")}, "rotate must be a number of degrees, not inf$"),
        (
            {"zoom_frames": 2, "shift": (0.0, MAX_SHIFT + 0.5)},
            r"shift must be within 256 pixels a frame on each axis, not \(0.0, 256.5\)$",
        ),
        ({"prompt": "a || b", "story_fade": -0.1}, "the scenes' fade is a share of a scene's steps, from 0 to 1, not -0.1$"),
        ({"prompt": "a || b", "story_fade": 1.1}, "the scenes' fade is a share of a scene's steps, from 0 to 1, not 1.1$"),
        (
            {"zoom_frames": 10, "steps_per_frame": MAX_STEPS},
            f"the film takes {5 + 9 * MAX_STEPS} steps in all, more than {MAX_STEPS}; use fewer frames or steps$",
        ),
        ({"init_noise": 1.5}, "init_noise must be between 0 and 1, not 1.5$"),
        ({"init_noise": 0.5, "init_image": None}, "init_noise mixes noise into an init image; give one$"),
        ({"init_weight": float("nan")}, "init_weight must be"),
        ({"keep": (0, 0, 0, 8)}, "the kept box 0,0 0x8 is not inside the "),
        ({"keep": (-1, 0, 8, 8)}, "the kept box -1,0 8x8 is not inside the "),
        ({"keep": (1, 0, 32, 8)}, "the kept box 1,0 32x8 is not inside the 32x32 picture$"),
        ({"keep": (0, 1, 8, 32)}, "the kept box 0,1 8x32 is not inside the 32x32 picture$"),
        ({"keep": (0, 0, 8)}, "keep is a box of four whole numbers: x, y, width, height$"),
        ({"keep": (0, 0, 8.5, 8)}, "keep is a box of four whole numbers"),
        ({"keep": (0, 0, 8, 8), "init_image": None}, "a kept region keeps part of an init image; give one$"),
        ({"keep": (0, 0, 8, 8), "zoom_frames": 2}, "a zoom or a story does not keep a region; pan or zoom out a still$"),
    ],
)
def test_each_bad_film_or_start_is_refused_with_its_reason(overrides, message, picture):
    with pytest.raises(BadRequest, match=f"^{message}"):
        validate(request(**{"init_image": picture, **overrides}))


def test_films_and_starts_at_their_bounds_pass(picture):
    for overrides in (
        {"zoom_frames": MAX_FRAMES, "steps_per_frame": 1, "zoom": 1 / MAX_ZOOM, "shift": (MAX_SHIFT, -MAX_SHIFT)},
        {"zoom_frames": 1, "steps_per_frame": 1, "zoom": MAX_ZOOM, "rotate": -720.0},
        {"prompt": "a || b || c", "zoom_frames": 3},
        {"prompt": "a || b || c", "steps": 3, "story_fade": 0.0},
        {"prompt": "a || b", "story_fade": 1.0},
        {"init_image": picture, "init_noise": 1.0, "init_weight": 0.0},
        {"init_image": picture, "init_noise": 0.0},
        {"perceptor": "+".join(f"ViT-B-32/{tag}" for tag in "abcd")},
    ):
        assert validate(request(**overrides)).request == request(**overrides)


def test_a_gpu_is_refused_at_once_where_no_driver_shows_and_taken_where_one_does(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    absent, present = str(tmp_path / "no-driver"), str(tmp_path / "driver")
    (tmp_path / "driver").write_text("")
    for device in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(BadRequest, match=f"device {device} was asked for, but this machine shows no GPU driver"):
            check_device_here(device, (absent,))
        check_device_here(device, (absent, present))  # any one of them will do: torch has the last word
    for device in ("cpu", "auto"):
        check_device_here(device, (absent,))
    with pytest.raises(BadRequest, match="device 'gpu' is not one of"):
        check_device_here("gpu", (present,))
    monkeypatch.setattr("sys.platform", "darwin")  # no /proc, no /dev nodes to look at: torch decides
    check_device_here("cuda", (absent,))
