"""What ``dreambot render`` leaves behind, asked for by its arguments and nothing more, and its JSON summary."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from types import SimpleNamespace

from PIL import Image

from bot.cli.outputs import render_summary, write_outputs
from bot.cli.outputs import save as save_output
from contract.protocol import RenderRequest


def args(**given) -> argparse.Namespace:
    return argparse.Namespace(**({"frames": None, "animation": None, "svg": None} | given))


def result(**fields) -> SimpleNamespace:
    base = {"png": b"PNG", "frames": [], "svg": None, "video": None, "video_frames": 0, "seconds": 1.23456,
            "losses": [0.5, 0.25], "animation": lambda: b"GIF"}  # fmt: skip
    return SimpleNamespace(**(base | fields))


def test_only_the_picture_unless_more_is_asked(tmp_path):
    out = tmp_path / "deep" / "fairy.png"
    assert write_outputs(args(), RenderRequest("a"), result(), out, None) == (out, [out.with_name("fairy-1.png")])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["fairy.png"]
    assert out.read_bytes() == b"PNG"


def test_frames_animation_svg_film_and_candidates_when_asked(tmp_path):
    frames = [Image.new("RGB", (4, 4), (n * 80, 0, 0)) for n in range(3)]
    film = tmp_path / "films" / "run.mp4"
    given = args(frames=str(tmp_path / "frames"), animation=str(tmp_path / "run.gif"), svg=str(tmp_path / "s" / "run.svg"))
    painted = result(frames=frames, svg="<svg/>", video=b"MP4", video_frames=3, candidates=[b"one", b"two"])
    _, candidates = write_outputs(given, RenderRequest("a", count=2), painted, tmp_path / "set.png", film)
    assert [p.read_bytes() for p in candidates] == [b"one", b"two"]
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert (tmp_path / "run.gif").read_bytes() == b"GIF" and film.read_bytes() == b"MP4"
    assert (tmp_path / "s" / "run.svg").read_text() == "<svg/>"


def test_the_summary_says_what_was_painted_and_where_it_went(tmp_path):
    engine = SimpleNamespace(speed="fast", device="cpu")
    request = RenderRequest("a", model="tiny-vqgan", seed=7, steps=2, width=32, height=16)
    summary = render_summary(args(), request, result(), engine, Path("out.png"), None, [])
    assert summary == {
        "out": "out.png", "model": "tiny-vqgan", "perceptor": request.perceptor, "seed": 7, "steps": 2, "width": 32,
        "height": 16, "options": {}, "seconds": 1.235, "speed": "fast", "device": "cpu", "losses": [0.5, 0.25],
    }  # fmt: skip
    film = render_summary(args(svg="s.svg"), RenderRequest("a", zoom_frames=3), result(video_frames=3), engine,
                          Path("z.png"), Path("z.mp4"), [])  # fmt: skip
    assert (film["video"], film["svg"], film["frames"]) == ("z.mp4", "s.svg", 3)
    plain = render_summary(args(), RenderRequest("a"), result(video_frames=5), engine, Path("p.png"), Path("p.mp4"), [])
    assert (plain["video"], plain["frames"]) == ("p.mp4", 5), "a plain --video says its frames, as README shows"
    grid = render_summary(args(), RenderRequest("a", count=2), result(), engine, Path("g.png"), None, [Path("g-1.png")])
    assert (grid["count"], grid["candidates"]) == (2, ["g-1.png"])


def test_a_finished_render_that_cannot_be_written_where_asked_is_saved_in_the_working_folder(tmp_path, caplog):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    asked = tmp_path / "blocked" / "fairy.png"
    with contextlib.chdir(tmp_path), caplog.at_level(logging.ERROR, logger="dreambot"):
        out, _ = write_outputs(args(), RenderRequest("a"), result(), asked, None)
    assert out == tmp_path / "dreambot-rescued-fairy.png"
    assert (tmp_path / "dreambot-rescued-fairy.png").read_bytes() == b"PNG"
    assert f"could not write {asked}" in caplog.text and "saved it as" in caplog.text


def test_a_render_is_saved_in_the_temporary_folder_when_the_working_folder_refuses_it_too(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "dreambot-rescued-x.png").mkdir()  # the working folder's rescue name is taken by a folder
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with contextlib.chdir(tmp_path / "cwd"):
        assert save_output(tmp_path / "blocked" / "x.png", b"data") == tmp_path / "tmp" / "dreambot-rescued-x.png"
    assert (tmp_path / "tmp" / "dreambot-rescued-x.png").read_bytes() == b"data"
