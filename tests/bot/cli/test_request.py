"""``dreambot render``'s request from its arguments, and ``--from`` painting a picture again from its PNG."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from bot.cli import build_parser
from bot.cli.request import recorded_request, request_from_args
from bot.config import Config
from contract import parameters
from contract.errors import BadRequest
from contract.protocol import RenderRequest
from contract.validation import validate
from tests.support.cli import dreambot, dreambot_here
from tests.support.requests import KINDS, as_recorded, painted


def test_a_picture_is_painted_again_from_its_png(weights_dir, tmp_path):
    """``--from`` reads everything back from the ``parameters`` chunk: the same pixels (each in a fresh process, as
    a member would run them); a given option overrides."""
    first = dreambot(
        "render", "a magic fairy house | fog:-0.5", "--model", "tiny-biggan", "--perceptor", "tiny-clip", "--steps", "6",
        "--seed", "9", "--truncation", "0.6", "--noise-prompt", "4:0.5", "--cut-pow", "0.8", "--out", "first.png",
        weights_dir=weights_dir, cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = dreambot("render", "--from", "first.png", "--out", "again.png", "--json", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["seed"] == 9 and summary["model"] == "tiny-biggan" and summary["options"]["truncation"] == 0.6
    pixels = [Image.open(tmp_path / name).tobytes() for name in ("first.png", "again.png")]
    assert pixels[0] == pixels[1]
    other = dreambot_here(
        "render", "--from", "first.png", "--seed", "5", "--out", "other.png", weights_dir=weights_dir, cwd=tmp_path
    )
    assert other.returncode == 0, other.stderr
    assert Image.open(tmp_path / "other.png").tobytes() != pixels[0]
    assert "Seed: 5" in Image.open(tmp_path / "other.png").text["parameters"]


def test_pictures_that_cannot_be_painted_again_say_why(weights_dir, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    foreign = PngImagePlugin.PngInfo()
    foreign.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512")
    Image.new("RGB", (8, 8)).save(tmp_path / "foreign.png", pnginfo=foreign)
    started = PngImagePlugin.PngInfo()
    started.add_text("parameters", "a cat\nSteps: 5, Seed: 1, Model: pixels, Init image: cat.png, Version: dreambot 0.1.0")
    Image.new("RGB", (8, 8)).save(tmp_path / "started.png", pnginfo=started)
    for args, message in (
        (["--from", "plain.png"], "plain.png has no parameters chunk"),
        (["--from", "foreign.png"], "foreign.png cannot be painted again: its parameters were not written by dreambot"),
        (["--from", "started.png"], "started.png started from the picture 'cat.png'; give it again with --init-image PATH"),
        (["--from", "missing.png"], "missing.png could not be read as a PNG"),
        ([], "give a prompt, or --from PICTURE.png"),
    ):
        result = dreambot("render", *args, "--out", "out.png", weights_dir=weights_dir, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "out.png").exists()


def painted_png(folder: Path, request: RenderRequest) -> Path:
    """``painted.png`` in ``folder``: a PNG whose parameters chunk records ``request``, as the engine writes it."""
    picture = PngImagePlugin.PngInfo()
    picture.add_text("parameters", parameters.write(validate(request), 1.0, "0.1.0"))
    Image.new("RGB", (request.width, request.height)).save(folder / "painted.png", pnginfo=picture)
    return folder / "painted.png"


@pytest.mark.parametrize("kind", KINDS)
def test_from_rebuilds_every_field_of_the_request_that_painted_the_picture(tmp_path, kind):
    """``--from`` over a PNG whose request has every field away from its default (a still with an init image and
    image prompts given again, a zoom, a story, a set) builds that very request, the preview rate aside."""
    request = painted(tmp_path, **KINDS[kind])
    painted_png(tmp_path, request)
    again = ["--init-image", request.init_image, *(f"--image-prompt={p}" for p in request.image_prompts)]
    args = build_parser().parse_args(["render", "--from", str(tmp_path / "painted.png"), *again])
    assert request_from_args(args, Config()) == as_recorded(request, kind)
    overridden = build_parser().parse_args(["render", "--from", str(tmp_path / "painted.png"), *again, "--cutn", "9"])
    expected = dataclasses.replace(as_recorded(request, kind), cutn=9)
    assert request_from_args(overridden, Config()) == expected, "an option given overrides that field and no other"


def test_a_picture_started_from_a_picture_and_steered_by_pictures_is_painted_again_from_its_png(weights_dir, tmp_path):
    Image.effect_noise((32, 32), 50).convert("RGB").save(tmp_path / "start.png")
    Image.new("RGB", (20, 20), (10, 200, 30)).save(tmp_path / "green.png")
    given = ["--init-image", "start.png", "--image-prompt", "green.png:0.5"]
    first = dreambot_here(
        "render", "a harbour | fog:-0.5", "--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--steps", "4", "--size",
        "32x32", "--seed", "11", "--cutn", "6", "--lr", "0.2", "--optimizer", "adamw", "--init-weight", "0.3",
        "--init-noise", "0.2", "--noise-prompt", "4:0.5", "--sampling", "codebook", *given, "--out", "first.png",
        weights_dir=weights_dir, cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = dreambot_here("render", "--from", "first.png", *given, "--out", "again.png", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "again.png").tobytes() == Image.open(tmp_path / "first.png").tobytes()
    Image.new("RGB", (20, 20), (200, 10, 30)).save(tmp_path / "green.png")  # another picture under the same name
    other = dreambot_here("render", "--from", "first.png", *given, "--out", "other.png", weights_dir=weights_dir, cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert Image.open(tmp_path / "other.png").tobytes() != Image.open(tmp_path / "first.png").tobytes()


def built(tmp_path, *argv: str) -> RenderRequest:
    """The request ``dreambot render ARGV`` would paint, built in this process (no painting)."""
    return request_from_args(build_parser().parse_args(["render", *argv]), Config())


def test_from_with_another_model_keeps_the_prompt_seed_and_size_and_drops_the_pictures_own_options(tmp_path):
    request = painted(tmp_path, **KINDS["still"])
    painted_png(tmp_path, request)
    given = ["--init-image", request.init_image, *(f"--image-prompt={p}" for p in request.image_prompts)]
    other = built(tmp_path, "--from", str(tmp_path / "painted.png"), *given, "--model", "pixels")
    assert (other.model, other.prompt, other.seed, other.steps) == ("pixels", request.prompt, request.seed, request.steps)
    assert other.options == {} and other.lr is None and other.size == request.size
    assert request.size == "64x64"
    native = built(tmp_path, "--from", str(tmp_path / "painted.png"), *given, "--model", "biggan-deep-128")
    assert native.size == "128x128", "a model that cannot paint the picture's size paints its own"
    sized = built(tmp_path, "--from", str(tmp_path / "painted.png"), *given, "--size", "32x32")
    assert sized.size == "32x32" and sized.options == as_recorded(request, "still").options


def test_without_from_a_request_is_the_prompt_over_the_defaults(tmp_path):
    plain = built(tmp_path, "a castle", "--seed", "4")
    defaults = Config().defaults
    assert (plain.prompt, plain.seed, plain.model, plain.perceptor, plain.steps) == (
        "a castle",
        4,
        defaults.model,
        defaults.perceptor,
        defaults.steps,
    )
    assert plain.size == defaults.size and plain.options == {} and plain.init_image is None
    width, height = (int(side) for side in defaults.size.split("x"))
    everything = RenderRequest("a castle", defaults.model, defaults.perceptor, width, height, defaults.steps, seed=4)
    assert plain == everything, "every other field is the request's own default"


def test_without_a_seed_one_is_drawn_and_each_given_field_is_taken(tmp_path):
    drawn = {built(tmp_path, "a castle").seed for _ in range(3)}
    assert all(isinstance(seed, int) for seed in drawn) and len(drawn) > 1
    given = built(tmp_path, "a castle", "--preview-every", "3", "--optimizer", "sgd", "--init-noise", "0.2")
    assert (given.preview_every, given.optimizer, given.init_noise) == (3, "sgd", 0.2)
    story = built(tmp_path, "--story", "a forest || a castle", "--seed", "1")
    assert story.prompt == "a forest || a castle" and story.scenes == ["a forest", "a castle"]


def test_from_keeps_the_pictures_own_size_and_with_its_own_model_its_options(tmp_path):
    request = painted(tmp_path, **KINDS["still"])
    painted_png(tmp_path, request)
    given = ["--init-image", request.init_image, *(f"--image-prompt={p}" for p in request.image_prompts)]
    same = built(tmp_path, "--from", str(tmp_path / "painted.png"), *given, "--model", request.model)
    assert same.options == as_recorded(request, "still").options and same.lr == request.lr
    wide = dataclasses.replace(request, model="pixels", width=48, height=32, options={}, lr=None, keep=())
    painted_png(tmp_path, wide)
    assert built(tmp_path, "--from", str(tmp_path / "painted.png"), *given).size == "48x32"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "^give a prompt, or --from PICTURE.png to paint one of dreambot's pictures again$"),
        (["--from", "{png}"], "started from the picture 'start.png'; give it again with --init-image PATH"),
        (["--from", "{png}", "--init-image", "{start}"], r"was steered by pictures \(picture.png:2 \| picture.png\); give them"),
        (["--from", "{plain}"], "has no parameters chunk"),
        (["--from", "{missing}"], "could not be read as a PNG"),
        (["--from", "{jpeg}"], "could not be read as a PNG"),
        (["--from", "{foreign}"], "foreign.png cannot be painted again: its parameters were not written by dreambot"),
    ],
    ids=["nothing", "init-image", "image-prompts", "no-chunk", "missing", "jpeg", "foreign"],
)
def test_what_from_cannot_rebuild_is_refused_in_words(tmp_path, given, message):
    request = painted(tmp_path, **KINDS["still"])
    painted_png(tmp_path, request)
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.jpg")
    foreign = PngImagePlugin.PngInfo()
    foreign.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512")
    Image.new("RGB", (8, 8)).save(tmp_path / "foreign.png", pnginfo=foreign)
    paths = {"png": tmp_path / "painted.png", "start": request.init_image, "plain": tmp_path / "plain.png"}
    paths |= {"jpeg": tmp_path / "photo.jpg", "foreign": tmp_path / "foreign.png"}
    argv = [arg.format(**paths, missing=tmp_path / "missing.png") for arg in given]
    with pytest.raises(BadRequest, match=message):
        built(tmp_path, *argv)


@pytest.mark.parametrize("chunk", ["tEXt", "zTXt", "iTXt", "iTXt compressed"])
def test_the_parameters_are_read_from_any_text_chunk_without_decoding_a_pixel(tmp_path, chunk):
    """A 14000x14000 picture (a decompression bomb to Pillow: 196 million pixels) is read for its words alone."""
    prompt = "a café at night" if chunk.startswith("iTXt") else "a cafe at night"
    text = f"{prompt}\nSteps: 5, Seed: 1, Size: 64x64, Model: pixels, Version: dreambot 0.1.0"
    info = PngImagePlugin.PngInfo()
    if chunk == "tEXt":
        info.add_text("parameters", text)
    elif chunk == "zTXt":
        info.add_text("parameters", text, zip=True)
    else:
        info.add_itxt("parameters", text, zip=chunk.endswith("compressed"))
    info.add_text("other", "x" * 100)
    Image.new("1", (14000, 14000)).save(tmp_path / "huge.png", pnginfo=info)
    recorded = recorded_request(str(tmp_path / "huge.png"))
    assert (recorded["prompt"], recorded["steps"], recorded["seed"], recorded["model"]) == (prompt, 5, 1, "pixels")


def test_a_cut_or_foreign_file_is_refused_in_a_sentence(tmp_path):
    painted = painted_png(tmp_path, RenderRequest("a castle", model="pixels", width=16, height=16, steps=2, seed=1))
    whole = painted.read_bytes()
    for name, data, message in (
        ("cut.png", whole[: whole.index(b"tEXt") + 6], "cut.png could not be read as a PNG (the file ends inside a chunk)"),
        ("header.png", whole[:12], "header.png could not be read as a PNG (the file ends inside a chunk)"),
        ("short.png", whole[:8], "short.png could not be read as a PNG (the file ends before its last chunk)"),
        ("fake.png", b"GIF89a" + whole[6:], "fake.png could not be read as a PNG (not a PNG file)"),
        (
            "empty.png",
            whole[:8] + b"\0\0\0\x0biTXtparameters\0" + b"\0" * 4,
            "empty.png cannot be painted again: its parameters were not written by dreambot (they name no dreambot version)",
        ),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadRequest) as refused:
            recorded_request(str(tmp_path / name))
        assert str(refused.value).replace(str(tmp_path) + "/", "") == message


def test_an_empty_story_file_is_named_in_its_refusal(tmp_path):
    empty = tmp_path / "story.txt"
    empty.write_text("\n  \n || \n")
    with pytest.raises(BadRequest) as refused:
        built(tmp_path, "--story", str(empty))
    assert str(refused.value) == f"the story file {str(empty)!r} has no scenes: write one per line"


def test_vary_from_starts_from_the_picture_itself_with_a_new_seed_and_the_strength_asked(tmp_path):
    request = painted(tmp_path, **KINDS["still"])
    png = str(painted_png(tmp_path, request))
    given = [f"--image-prompt={p}" for p in request.image_prompts]
    strong = built(tmp_path, "--vary-from", png, *given)
    assert (strong.init_image, strong.init_noise, strong.init_weight) == (png, 0.6, 0.4), "strong by default"
    assert strong.seed != request.seed and strong.count == 1
    kept = dataclasses.replace(as_recorded(request, "still"), seed=0, init_image=None, init_noise=0.0, init_weight=0.0, keep=())
    same = dataclasses.replace(strong, seed=0, init_image=None, init_noise=0.0, init_weight=0.0)
    assert same == kept, "the rest is the parent's"
    for strength, noise, weight in (("subtle", 0.2, 0.8), ("0.35", 0.35, 0.65), ("1", 1.0, 0.0)):
        varied = built(tmp_path, "--vary-from", png, *given, "--strength", strength)
        assert (varied.init_noise, varied.init_weight) == (noise, weight), strength
    assert built(tmp_path, "--vary-from", png, *given, "--seed", "7", "--init-weight", "0.9").seed == 7
    assert built(tmp_path, "--vary-from", png, *given, "--init-weight", "0.9").init_weight == 0.9, "a given option wins"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strength", "subtle", "a castle"], "--strength goes with --vary-from PICTURE.png"),
        (["--vary-from", "{png}", "--from", "{png}"], "give --from (paint it again) or --vary-from (a variation of it)"),
        (["--vary-from", "{png}", "--strength", "wild", "{given}"], "--strength: 'wild' is not a strength; use subtle, strong"),
        (["--vary-from", "{png}", "--strength", "1.5", "{given}"], "--strength: a strength is a share from 0 to 1, not 1.5"),
        (["--vary-from", "{png}"], "was steered by pictures"),
    ],
)
def test_what_vary_from_cannot_do_is_refused_in_words(tmp_path, argv, message):
    request = painted(tmp_path, **KINDS["still"])
    png = str(painted_png(tmp_path, request))
    given = [f"--image-prompt={p}" for p in request.image_prompts]
    argv = [arg for a in argv for arg in (given if a == "{given}" else [a.format(png=png)])]
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        built(tmp_path, *argv)


def harbour(weights_dir: Path, folder: Path, size: str, steps: int, out: str) -> None:
    """A small picture painted for real by the pixels painter, as the parent of a move."""
    painted = dreambot_here(
        "render", "a harbour", "--model", "pixels", "--perceptor", "tiny-clip", "--steps", str(steps), "--size", size,
        "--seed", "3", "--cutn", "6", "--out", out, weights_dir=weights_dir, cwd=folder,
    )  # fmt: skip
    assert painted.returncode == 0, painted.stderr


def test_a_subtle_variation_stays_closer_to_its_parent_than_a_strong_one(weights_dir, tmp_path):
    """Painted for real: the same new seed, subtle and strong; the subtle one's pixels stay nearer the parent's."""
    import numpy as np

    harbour(weights_dir, tmp_path, "48x48", 6, "parent.png")
    distance = {}
    for strength in ("subtle", "strong"):
        varied = dreambot_here(
            "render", "--vary-from", "parent.png", "--strength", strength, "--seed", "8", "--out", f"{strength}.png",
            weights_dir=weights_dir, cwd=tmp_path,
        )  # fmt: skip
        assert varied.returncode == 0, varied.stderr
        picture = Image.open(tmp_path / f"{strength}.png")
        recorded = parameters.read(picture.text["parameters"])
        assert (recorded["seed"], recorded["init_noise"]) == (8, {"subtle": 0.2, "strong": 0.6}[strength])
        pixels = np.asarray(picture, dtype=float)
        distance[strength] = np.abs(pixels - np.asarray(Image.open(tmp_path / "parent.png"), dtype=float)).mean()
    assert 0 < distance["subtle"] < 0.8 * distance["strong"], distance


def test_pan_and_zoom_out_from_a_png_keep_the_picture_and_paint_around_it(weights_dir, tmp_path):
    import numpy as np

    harbour(weights_dir, tmp_path, "48x32", 4, "harbour.png")
    old = np.asarray(Image.open(tmp_path / "harbour.png").convert("RGB"))
    here = {"weights_dir": weights_dir, "cwd": tmp_path}
    panned = dreambot_here("render", "--from", "harbour.png", "--pan", "left", "--out", "left.png", **here)
    assert panned.returncode == 0, panned.stderr
    left = Image.open(tmp_path / "left.png")
    assert left.size == (80, 32) and (np.asarray(left.convert("RGB"))[:, 32:] == old).all()
    recorded = parameters.read(left.text["parameters"])
    assert recorded["keep"] == (32, 0, 48, 32) and recorded["init_image"] == "harbour-pan-left-start.png"
    assert (tmp_path / "harbour-pan-left-start.png").exists(), "the start it names is beside it"
    zoomed = dreambot_here("render", "--from", "harbour.png", "--zoom-out", "1.25", "--out", "far.png", **here)
    assert zoomed.returncode == 0, zoomed.stderr
    assert parameters.read(Image.open(tmp_path / "far.png").text["parameters"])["keep"] == (5, 3, 38, 26)
    for argv, message in (
        (["a castle", "--pan", "left"], "--pan and --zoom-out move a picture: give it with --from PICTURE.png"),
        (["--from", "harbour.png", "--pan", "up", "--zoom-out", "2"], "give --pan or --zoom-out, not both"),
        (["--from", "harbour.png", "--zoom-out", "1"], "a zoom out is a factor above 1 and at most 4, not 1.0"),
        (["--from", "harbour.png", "--pan", "up", "--pan-share", "2"], "--pan-share is from 0.1 to 1"),
    ):
        refused = dreambot_here("render", *argv, **here)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


def test_morph_takes_both_prompts_and_the_first_pictures_size_seed_and_options_and_refuses_two_models(tmp_path):
    base = RenderRequest("a red dawn | fog:0.3", model="pixels", perceptor="tiny-clip", width=48, height=32, seed=4, cutn=9)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    first = str(painted_png(tmp_path / "a", base))
    second = str(painted_png(tmp_path / "b", dataclasses.replace(base, prompt="a blue night", seed=8, cutn=20)))
    morph = built(tmp_path, "--morph", first, second)
    assert (morph.prompt, morph.init_image, morph.morph_to) == ("a red dawn | fog:0.3 || a blue night", first, second)
    assert (morph.model, morph.size, morph.seed, morph.cutn) == ("pixels", "48x32", 4, 9)
    assert (morph.zoom_frames, morph.steps, morph.init_weight, morph.kind.name) == (24, 60, 0.5, "morph")
    asked = built(tmp_path, "--morph", first, second, "--zoom", "5", "--steps", "7", "--steps-per-frame", "3")
    assert (asked.zoom_frames, asked.steps, asked.steps_per_frame, asked.total_steps) == (5, 7, 3, 2 * 7 + 3 * 3)
    other = str(painted_png(tmp_path / "c", dataclasses.replace(base, model="tiny-vqgan", width=32)))
    with pytest.raises(BadRequest, match=f"one model: {first} is pixels, {other} is tiny-vqgan"):
        built(tmp_path, "--morph", first, other)
    with pytest.raises(BadRequest, match="leave out --from"):
        built(tmp_path, "--morph", first, second, "--from", first)
