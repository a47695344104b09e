"""``dreambot render`` and ``dreambot weights`` as a user runs them: a fresh process, real arguments."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from bot.cli import build_parser
from bot.cli.request import request_from_args
from bot.config import Config, ConfigError, load_config
from contract import parameters
from contract.errors import BadRequest
from contract.protocol import RenderRequest
from contract.validation import validate
from engine.sets import GAP
from tests.support.requests import KINDS, as_recorded, painted


def dreambot(*args: str, weights_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    config = cwd / "test-config.toml"
    config.write_text(f'[engine]\nweights_dir = "{weights_dir}"\ndevice = "cpu"\n')
    env = {**os.environ, "DREAMBOT_CONFIG": str(config)}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_render_json_summary(weights_dir, tmp_path):
    result = dreambot(
        "render",
        "a magic fairy house, unreal engine",
        "--model",
        "tiny-vqgan",
        "--perceptor",
        "tiny-clip",
        "--steps",
        "30",
        "--size",
        "64x64",
        "--seed",
        "7",
        "--out",
        "fairy.png",
        "--json",
        "--animation",
        "run.gif",
        "--speed",
        "plain,+channels_last",
        weights_dir=weights_dir,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["out"] == "fairy.png"
    assert (summary["model"], summary["perceptor"], summary["seed"], summary["steps"]) == ("tiny-vqgan", "tiny-clip", 7, 30)
    assert (summary["width"], summary["height"]) == (64, 64)
    assert summary["seconds"] > 0
    assert summary["speed"] == "channels_last"
    losses = summary["losses"]
    assert len(losses) == 30 and all(isinstance(x, float) for x in losses)
    assert sum(losses[-5:]) < sum(losses[:5])
    image = Image.open(tmp_path / "fairy.png")
    assert image.size == (64, 64)
    assert image.text["parameters"].startswith("a magic fairy house, unreal engine\nSteps: 30, Seed: 7, Size: 64x64")
    assert Image.open(tmp_path / "run.gif").format == "GIF"


@pytest.mark.parametrize(
    ("model", "size", "options"),
    [
        ("tiny-biggan", None, ["--truncation", "0.8"]),
        ("siren", "64x64", ["--layers", "6"]),
        ("pixels", "64x64", []),
        ("tiny-vqgan", "64x64", ["--sampling", "codebook"]),
        ("tiny-dvae", "64x64", ["--token-temperature", "0.5"]),
        ("clipdraw", "64x64", ["--strokes", "64"]),
        ("tiny-stylegan2", None, ["--start-seed", "5"]),
        ("tiny-stylegan3", None, ["--start-seed", "7"]),
    ],
)
def test_render_with_each_new_painter(engine, weights_dir, tmp_path, model, size, options):
    """The issue's acceptance commands: each writes a PNG of the right size, and paints what the engine paints
    for the same request (tests/engine/generators/test_painters.py shows that the prompt steers it)."""
    args = ["the grand canyon in 3d", "--model", model, "--perceptor", "tiny-clip", "--steps", "30", "--seed", "3"]
    args += ["--out", "canyon.png", "--json", *options, *(["--size", size] if size else [])]
    result = dreambot("render", *args, weights_dir=weights_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["model"], summary["width"], summary["height"]) == (model, 64, 64)
    same = RenderRequest("the grand canyon in 3d", model, "tiny-clip", 64, 64, steps=30, seed=3, options=summary["options"])
    assert summary["losses"] == engine.render(same).losses
    image = Image.open(tmp_path / "canyon.png")
    assert image.size == (64, 64)
    parameters = image.text["parameters"]
    assert f"Model: {model}" in parameters
    if options:
        flag, value = options
        name = flag[2:].replace("-", "_")
        typed = value if value.isalpha() else float(value) if "." in value else int(value)
        assert summary["options"] == {name: typed}
        assert f"{name.replace('_', ' ').capitalize()}: {value}" in parameters


def test_clipdraw_saves_its_strokes_as_svg(weights_dir, tmp_path):
    args = ["a lighthouse", "--model", "clipdraw", "--perceptor", "tiny-clip", "--steps", "3", "--size", "48x32"]
    args += ["--strokes", "9", "--out", "light.png", "--svg", "vector/light.svg", "--json"]
    result = dreambot("render", *args, weights_dir=weights_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["svg"] == "vector/light.svg"
    svg = (tmp_path / "vector" / "light.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="48" height="32"') and svg.count("<path ") == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["", "--model", "tiny-vqgan"], "prompt is empty"),
        (["x", "--model", "tiny-biggan", "--size", "128x128"], "tiny-biggan paints 64x64 only"),
        (["x", "--model", "tiny-biggan", "--max-classes", "0"], "max_classes must be between 1 and 1000, not 0"),
        (["x", "--model", "pixels", "--w0", "5"], "pixels has no option 'w0'"),
        (["x", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["x", "--model", "tiny-vqgan", "--size", "64by64"], "not of the form WIDTHxHEIGHT"),
        (["x", "--model", "tiny-vqgan", "--size", "65x64"], "multiples of 2"),
        (["x", "--model", "tiny-vqgan", "--steps", "0"], "steps must be between"),
        (["x", "--model", "tiny-vqgan", "--preview-every", "0"], "preview_every must be at least 1"),
        (["x", "--model", "tiny-vqgan", "--init-image", "missing.png"], "does not exist"),
        (["x"], "dreambot weights download vqgan-imagenet-f16-16384"),
        (["x", "--model", "tiny-vqgan", "--speed", "turbo"], "speed 'turbo' must start with fast or plain"),
        (["x", "--model", "tiny-vqgan", "--count", "5"], "count must be between 1 and 4, not 5"),
        (["x", "--model", "tiny-vqgan", "--count", "2", "--video", "a.mp4"], "leave them out with --count"),
        (["x", "--model", "tiny-vqgan", "--init-noise", "0.3"], "mixes noise into an init image"),
        (["x", "--model", "pixels", "--svg", "a.svg"], "--svg saves the strokes of clipdraw; pixels paints pixels"),
        (["x", "--model", "clipdraw", "--count", "2", "--svg", "a.svg"], "--svg saves the strokes of one picture"),
        (["x", "--model", "clipdraw", "--min-width", "9", "--max-width", "3"], "min_width 9.0 is above max_width 3.0"),
        (["x", "--model", "tiny-vqgan", "--speed", "fast,-warp"], "'-warp' in speed 'fast,-warp' is not +SWITCH or -SWITCH"),
    ],
)
def test_bad_render_arguments_exit_nonzero_and_write_nothing(weights_dir, tmp_path, args, message):
    result = dreambot("render", *args, "--perceptor", "tiny-clip", "--out", "out.png", weights_dir=weights_dir, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_weights_commands(weights_dir, tmp_path):
    listing = dreambot("weights", "list", weights_dir=weights_dir, cwd=tmp_path)
    assert listing.returncode == 0
    assert "vqgan-imagenet-f16-16384" in listing.stdout and "ViT-B-32/openai" in listing.stdout
    path = dreambot("weights", "path", "ViT-B-32/openai", weights_dir=weights_dir, cwd=tmp_path)
    assert path.stdout.strip() == str(weights_dir / "ViT-B-32__openai")
    made = dreambot("weights", "download", "tiny-vqgan", weights_dir=weights_dir, cwd=tmp_path)
    assert made.returncode == 0 and (weights_dir / "tiny-vqgan" / "last.ckpt").is_file()
    assert "no weights needed" in next(line for line in listing.stdout.splitlines() if line.startswith("siren "))
    scratch = dreambot("weights", "download", "pixels", weights_dir=weights_dir, cwd=tmp_path)
    assert scratch.returncode == 0 and "pixels needs no weights" in scratch.stdout
    unknown = dreambot("weights", "path", "nope", weights_dir=weights_dir, cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown model 'nope'" in unknown.stderr


def test_config_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DREAMBOT_CONFIG", raising=False)
    assert load_config().source is None
    Path("config.toml").write_text("[defaults]\nsteps = 50\n")
    assert load_config().defaults.steps == 50
    Path("env.toml").write_text("[defaults]\nsteps = 60\n")
    monkeypatch.setenv("DREAMBOT_CONFIG", "env.toml")
    assert load_config().defaults.steps == 60
    Path("explicit.toml").write_text('[defaults]\nsteps = 70\nsize = "128x128"\n')
    config = load_config("explicit.toml")
    assert (config.defaults.steps, config.defaults.size, config.defaults.model) == (70, "128x128", "vqgan-imagenet-f16-16384")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\nstep = 5\n", "unknown key"),
        ("[default]\n", "unknown section"),
        ("[defaults]\nsteps = '5'\n", "must be of type int"),
        ("[defaults\n", "could not be read"),
    ],
)
def test_bad_config_is_refused(tmp_path, text, message):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(tmp_path / "c.toml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[discord]\napi_base = "discord.com"\n', "must be an http(s) URL"),
        ("[discord]\npreview_interval = 0\n", "preview_interval must be a positive"),
        ("[engine]\npreview_every = 0\n", "preview_every must be at least 1"),
        ('[engine]\nspeed = "fast,+magic"\n', "[engine] '+magic' in speed 'fast,+magic' is not +SWITCH or -SWITCH"),
        ('[defaults]\nmodel = "dall-e"\n', "model 'dall-e' is not one of"),
        ("[defaults]\nsteps = 0\n", "steps must be between"),
        ('[defaults]\nsize = "100x100"\n', "multiples of 16"),
    ],
)
def test_unusable_config_values_are_refused(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(str(path))


def test_a_picture_is_painted_again_from_its_png(weights_dir, tmp_path):
    """``--from`` reads everything back from the ``parameters`` chunk: the same pixels; a given option overrides."""
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
    other = dreambot("render", "--from", "first.png", "--seed", "5", "--out", "other.png", weights_dir=weights_dir, cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert Image.open(tmp_path / "other.png").tobytes() != pixels[0]
    assert "Seed: 5" in Image.open(tmp_path / "other.png").text["parameters"]


def test_a_set_writes_its_grid_and_each_candidate_and_is_painted_again_from_the_grid(weights_dir, tmp_path):
    args = ["--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--steps", "4", "--size", "24x16", "--seed", "30"]
    args += ["--count", "3", "--out", "set.png", "--json"]
    first = dreambot("render", "a harbour", *args, weights_dir=weights_dir, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["count"] == 3 and summary["candidates"] == ["set-1.png", "set-2.png", "set-3.png"]
    seeds = [parameters.read(Image.open(tmp_path / f"set-{n}.png").text["parameters"])["seed"] for n in (1, 2, 3)]
    assert seeds == [30, 31, 32]
    assert Image.open(tmp_path / "set.png").size == (2 * 24 + GAP, 2 * 16 + GAP)
    again = dreambot("render", "--from", "set.png", "--out", "again.png", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "again.png").tobytes() == Image.open(tmp_path / "set.png").tobytes()
    assert (tmp_path / "again-3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_render_writes_a_video_and_a_zoom_or_a_story_film(weights_dir, tmp_path):
    tiny = ("--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--size", "32x32", "--json")
    still = dreambot(
        "render", "a moon", *tiny, "--steps", "6", "--seed", "1", "--video", "moon.mp4", weights_dir=weights_dir, cwd=tmp_path
    )
    (tmp_path / "story.txt").write_text("a seed\na sapling\n\nan oak || a forest\n")
    zoom = ["render", "a tunnel", *tiny, "--steps", "4", "--seed", "2", "--out", "tunnel.png", "--zoom", "3"]
    zoom += ["--zoom-factor", "1.1", "--rotate", "5", "--shift", "1,-2", "--steps-per-frame", "2"]
    zoomed = dreambot(*zoom, weights_dir=weights_dir, cwd=tmp_path)
    story = ["render", *tiny, "--story", "story.txt", "--steps", "8", "--seed", "3", "--out", "oak.png", "--captions"]
    told = dreambot(*story, weights_dir=weights_dir, cwd=tmp_path)
    summaries = []
    for run in (still, zoomed, told):
        assert run.returncode == 0, run.stderr
        summaries.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert summaries[0]["video"] == "moon.mp4" and "frames" not in summaries[0]
    assert (tmp_path / "moon.mp4").read_bytes()[4:8] == b"ftyp"
    assert summaries[1]["video"] == "tunnel.mp4" and summaries[1]["frames"] > 3 and len(summaries[1]["losses"]) == 8
    assert summaries[2]["video"] == "oak.mp4" and summaries[2]["frames"] > 8 and len(summaries[2]["losses"]) == 8
    recorded = Image.open(tmp_path / "oak.png").text["parameters"]
    assert recorded.startswith("a seed || a sapling || an oak || a forest\nSteps: 8, Seed: 3") and "Captions: on" in recorded
    assert (
        "Zoom frames: 3, Steps per frame: 2, Zoom: 1.1, Rotate: 5.0, Shift: 1 -2"
        in Image.open(tmp_path / "tunnel.png").text["parameters"]
    )
    again = dreambot("render", "--from", "tunnel.png", "--out", "again.png", "--json", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "again.png").tobytes() == Image.open(tmp_path / "tunnel.png").tobytes()


def test_upscale_writes_a_picture_four_times_larger_with_its_parameters(weights_dir, tmp_path):
    tiny = ("--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--size", "32x32", "--steps", "2", "--seed", "4")
    assert dreambot("render", "a moon", *tiny, "--out", "moon.png", weights_dir=weights_dir, cwd=tmp_path).returncode == 0
    run = dreambot("upscale", "moon.png", "--model", "tiny-esrgan", "--json", weights_dir=weights_dir, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert (summary["out"], summary["width"], summary["height"]) == ("moon-x4.png", 128, 128)
    text = Image.open(tmp_path / "moon-x4.png").text["parameters"]
    assert text.startswith("a moon\nSteps: 2, Seed: 4") and text.endswith(", Upscale: tiny-esrgan 4x")
    missing = dreambot("upscale", "nowhere.png", weights_dir=weights_dir, cwd=tmp_path)
    assert missing.returncode != 0 and "does not exist" in missing.stderr


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
    first = dreambot(
        "render", "a harbour | fog:-0.5", "--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--steps", "4", "--size",
        "32x32", "--seed", "11", "--cutn", "6", "--lr", "0.2", "--optimizer", "adamw", "--init-weight", "0.3",
        "--init-noise", "0.2", "--noise-prompt", "4:0.5", "--sampling", "codebook", *given, "--out", "first.png",
        weights_dir=weights_dir, cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = dreambot("render", "--from", "first.png", *given, "--out", "again.png", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "again.png").tobytes() == Image.open(tmp_path / "first.png").tobytes()
    Image.new("RGB", (20, 20), (200, 10, 30)).save(tmp_path / "green.png")  # another picture under the same name
    other = dreambot("render", "--from", "first.png", *given, "--out", "other.png", weights_dir=weights_dir, cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert Image.open(tmp_path / "other.png").tobytes() != Image.open(tmp_path / "first.png").tobytes()


def built(tmp_path, *argv: str) -> RenderRequest:
    """The request ``dreambot render ARGV`` would paint, built in this process (no painting)."""
    return request_from_args(build_parser().parse_args(["render", *argv]), Config())


def test_from_with_another_model_keeps_the_prompt_and_seed_and_drops_the_pictures_own_options_and_size(tmp_path):
    request = painted(tmp_path, **KINDS["still"])
    painted_png(tmp_path, request)
    given = ["--init-image", request.init_image, *(f"--image-prompt={p}" for p in request.image_prompts)]
    other = built(tmp_path, "--from", str(tmp_path / "painted.png"), *given, "--model", "pixels")
    assert (other.model, other.prompt, other.seed, other.steps) == ("pixels", request.prompt, request.seed, request.steps)
    assert other.options == {} and other.lr is None and other.size == Config().defaults.size
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


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "give a prompt, or --from PICTURE.png"),
        (["--from", "{png}"], "started from the picture 'start.png'; give it again with --init-image PATH"),
        (["--from", "{png}", "--init-image", "{start}"], r"was steered by pictures \(picture.png:2 \| picture.png\); give them"),
        (["--from", "{plain}"], "has no parameters chunk"),
        (["--from", "{missing}"], "could not be read as a PNG"),
    ],
    ids=["nothing", "init-image", "image-prompts", "no-chunk", "missing"],
)
def test_what_from_cannot_rebuild_is_refused_in_words(tmp_path, given, message):
    request = painted(tmp_path, **KINDS["still"])
    painted_png(tmp_path, request)
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    paths = {"png": tmp_path / "painted.png", "start": request.init_image, "plain": tmp_path / "plain.png"}
    argv = [arg.format(**paths, missing=tmp_path / "missing.png") for arg in given]
    with pytest.raises(BadRequest, match=message):
        built(tmp_path, *argv)
