"""``dreambot render``, ``upscale`` and their files, with real arguments: a fresh process for the JSON summary and
the refusals, as a user runs them; elsewhere the same command's handler in this process (``dreambot_here``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from contract import parameters
from contract.protocol import RenderRequest
from contract.validation import GPU_DRIVERS
from engine.sets import GAP
from tests.support.cli import dreambot, dreambot_here


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
    for the same request (tests/engine/generators/test_painters.py shows that the prompt steers it over 30 steps;
    10 are enough to show the same painting)."""
    args = ["the grand canyon in 3d", "--model", model, "--perceptor", "tiny-clip", "--steps", "10", "--seed", "3"]
    args += ["--out", "canyon.png", "--json", *options, *(["--size", size] if size else [])]
    result = dreambot_here("render", *args, weights_dir=weights_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["model"], summary["width"], summary["height"]) == (model, 64, 64)
    same = RenderRequest("the grand canyon in 3d", model, "tiny-clip", 64, 64, steps=10, seed=3, options=summary["options"])
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
    result = dreambot_here("render", *args, weights_dir=weights_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["svg"] == "vector/light.svg"
    svg = (tmp_path / "vector" / "light.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="48" height="32"') and svg.count("<path ") == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["", "--model", "tiny-vqgan"], "prompt is empty"),
        (["x", "--model", "tiny-biggan", "--size", "128x128"], "tiny-biggan paints 64x64 only"),
        (["x", "--model", "tiny-biggan", "--max-classes", "0"], "--max-classes must be between 1 and 1000, not 0"),
        (["x", "--model", "pixels", "--w0", "5"], "pixels has no option '--w0'; its options are --decay-power"),
        (
            ["x", "--model", "tiny-vqgan", "--max-classes", "3"],
            "tiny-vqgan has no option '--max-classes'; its options are --sampling, --codebook-temperature",
        ),
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "gpu"], "device 'gpu' is not one of: auto, cpu, cuda, cuda:N (a GPU is cuda, or cuda:N for the Nth)"),
        pytest.param(
            ["--device", "cuda:1"],
            "device cuda:1 was asked for, but this machine shows no GPU driver (no /proc/driver/nvidia); use auto or cpu",
            marks=pytest.mark.skipif(any(Path(d).exists() for d in GPU_DRIVERS), reason="this machine has a GPU driver"),
        ),
        (
            ["--model", "tiny-stylegan3", "--noise", "optimize"],
            "noise=optimize: tiny-stylegan3 is a StyleGAN3, which has no noise inputs to optimize (only StyleGAN2 has)",
        ),
        (["--out", "folder"], "--out folder is a folder; name a file in it, such as folder/dream.png"),
        (["--video", "folder"], "--video folder is a folder; name a file in it, such as folder/dream.mp4"),
        (["--animation", "a-file/a.gif"], "--animation: the folder a-file cannot be made: a-file is a file"),
        (["--frames", "a-file"], "--frames a-file is a file; name a folder for the frames"),
        (["--model", "tiny-vqgn"], "unknown model 'tiny-vqgn'; did you mean tiny-vqgan? generators: tiny-vqgan, "),
        (
            ["--steps", "4", "--preview-every", "10", "--animation", "a.gif"],
            "--animation needs two frames or more: with --steps 4 and a frame every 10 steps (--preview-every) it would have "
            "one; give --preview-every 2 or less",
        ),
    ],
)
def test_mistakes_are_refused_before_any_model_loads(weights_dir, tmp_path, monkeypatch, args, message):
    from engine import pipeline

    def loaded(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the mistake was refused")

    monkeypatch.setattr(pipeline.Engine, "__init__", loaded)
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("")
    result = dreambot_here("render", "x", "--model", "tiny-vqgan", "--perceptor", "tiny-clip", *args, weights_dir=weights_dir,
                           cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder", "test-config.toml"]


def test_an_animation_into_a_missing_folder_makes_it(weights_dir, tmp_path):
    tiny = ("--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--size", "32x32", "--steps", "4", "--preview-every", "2")
    run = dreambot_here("render", "a moon", *tiny, "--out", "moon.png", "--animation", "new/deeper/moon.gif",
                        weights_dir=weights_dir, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "new" / "deeper" / "moon.gif").read_bytes()[:6] == b"GIF89a"


def test_a_set_writes_its_grid_and_each_candidate_and_is_painted_again_from_the_grid(weights_dir, tmp_path):
    args = ["--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--steps", "4", "--size", "24x16", "--seed", "30"]
    args += ["--count", "3", "--out", "set.png", "--json"]
    first = dreambot_here("render", "a harbour", *args, weights_dir=weights_dir, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["count"] == 3 and summary["candidates"] == ["set-1.png", "set-2.png", "set-3.png"]
    seeds = [parameters.read(Image.open(tmp_path / f"set-{n}.png").text["parameters"])["seed"] for n in (1, 2, 3)]
    assert seeds == [30, 31, 32]
    assert Image.open(tmp_path / "set.png").size == (2 * 24 + GAP, 2 * 16 + GAP)
    again = dreambot_here("render", "--from", "set.png", "--out", "again.png", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "again.png").tobytes() == Image.open(tmp_path / "set.png").tobytes()
    assert (tmp_path / "again-3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_writes_a_video_and_a_zoom_or_a_story_film(weights_dir, tmp_path):
    tiny = ("--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--size", "32x32", "--json")
    still = dreambot_here(
        "render", "a moon", *tiny, "--steps", "6", "--seed", "1", "--video", "moon.mp4", weights_dir=weights_dir, cwd=tmp_path
    )
    (tmp_path / "story.txt").write_text("a seed\na sapling\n\nan oak || a forest\n")
    zoom = ["render", "a tunnel", *tiny, "--steps", "4", "--seed", "2", "--out", "tunnel.png", "--zoom", "3"]
    zoom += ["--zoom-factor", "1.1", "--rotate", "5", "--shift", "1,-2", "--steps-per-frame", "2"]
    zoomed = dreambot_here(*zoom, weights_dir=weights_dir, cwd=tmp_path)
    story = ["render", *tiny, "--story", "story.txt", "--steps", "8", "--seed", "3", "--out", "oak.png", "--captions"]
    told = dreambot_here(*story, weights_dir=weights_dir, cwd=tmp_path)
    summaries = []
    for run in (still, zoomed, told):
        assert run.returncode == 0, run.stderr
        summaries.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert summaries[0]["video"] == "moon.mp4" and summaries[0]["frames"] > 1
    assert (tmp_path / "moon.mp4").read_bytes()[4:8] == b"ftyp"
    assert summaries[1]["video"] == "tunnel.mp4" and summaries[1]["frames"] > 3 and len(summaries[1]["losses"]) == 8
    assert summaries[2]["video"] == "oak.mp4" and summaries[2]["frames"] > 8 and len(summaries[2]["losses"]) == 8
    recorded = Image.open(tmp_path / "oak.png").text["parameters"]
    assert recorded.startswith("a seed || a sapling || an oak || a forest\nSteps: 8, Seed: 3") and "Captions: on" in recorded
    assert (
        "Zoom frames: 3, Steps per frame: 2, Zoom: 1.1, Rotate: 5.0, Shift: 1 -2"
        in Image.open(tmp_path / "tunnel.png").text["parameters"]
    )
    again = dreambot_here("render", "--from", "tunnel.png", "--out", "again.png", "--json", weights_dir=weights_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "again.png").tobytes() == Image.open(tmp_path / "tunnel.png").tobytes()


def test_upscale_writes_a_picture_four_times_larger_with_its_parameters(weights_dir, tmp_path):
    tiny = ("--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--size", "32x32", "--steps", "2", "--seed", "4")
    assert dreambot_here("render", "a moon", *tiny, "--out", "moon.png", weights_dir=weights_dir, cwd=tmp_path).returncode == 0
    run = dreambot_here("upscale", "moon.png", "--model", "tiny-esrgan", "--json", weights_dir=weights_dir, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert (summary["out"], summary["width"], summary["height"]) == ("moon-x4.png", 128, 128)
    text = Image.open(tmp_path / "moon-x4.png").text["parameters"]
    assert text.startswith("a moon\nSteps: 2, Seed: 4") and text.endswith(", Upscale: tiny-esrgan 4x")
    missing = dreambot_here("upscale", "nowhere.png", weights_dir=weights_dir, cwd=tmp_path)
    assert missing.returncode != 0 and "does not exist" in missing.stderr


def test_a_zoom_of_no_frames_is_refused_by_the_parser(weights_dir, tmp_path):
    refused = dreambot("render", "x", "--zoom", "0", weights_dir=weights_dir, cwd=tmp_path)
    assert refused.returncode == 2
    assert "--zoom: a zoom has 1 frame or more, not 0 (leave --zoom out for a still picture)" in refused.stderr


def test_deepdreams_help_shows_its_default_steps(capsys):
    from bot.cli import build_parser
    from contract.deepdream import DEFAULT_DREAM_STEPS

    with pytest.raises(SystemExit):
        build_parser().parse_args(["deepdream", "--help"])
    assert f"(default {DEFAULT_DREAM_STEPS})" in " ".join(capsys.readouterr().out.split())
