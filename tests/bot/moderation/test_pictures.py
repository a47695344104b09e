"""The picture check: a stand-in detector proves what is checked and how verdicts join; the real NudeNet
model (the safety extra) proves it loads and answers on this CPU; ``dreambot check`` prints the scores."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.moderation.pictures import Checker, Finding, NudeNet, Verdict, decode, film_frames
from engine.video import FilmWriter
from tests.support.cli import dreambot_here


class RedFlags:
    """Flags a picture whose top-left pixel is red (within a film's compression); notes every picture it saw."""

    name = "red"

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []

    def check(self, image: Image.Image) -> Verdict:
        pixel = image.getpixel((0, 0))
        self.seen.append(pixel)
        red = pixel[0] > 200 and max(pixel[1:]) < 60
        return Verdict(red, (Finding("RED", 0.9 if red else 0.1),))


def png(colour: str, size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def film(tmp_path: Path, colours: list[str]) -> bytes:
    writer = FilmWriter(tmp_path / "film.mp4", key_frames=len(colours))
    for colour in colours:
        writer.add(Image.new("RGB", (32, 32), colour))
    data = writer.close()
    assert data is not None
    return data


def test_verdicts_join_flagged_if_any_is_and_each_label_at_its_highest():
    joined = Verdict.join([
        Verdict(False, (Finding("FACE_FEMALE", 0.3), Finding("FEET_EXPOSED", 0.6))),
        Verdict(True, (Finding("BUTTOCKS_EXPOSED", 0.7), Finding("FACE_FEMALE", 0.8))),
        Verdict(),
    ])  # fmt: skip
    assert joined.flagged
    assert joined.findings == (Finding("FACE_FEMALE", 0.8), Finding("BUTTOCKS_EXPOSED", 0.7), Finding("FEET_EXPOSED", 0.6))
    assert str(joined) == "FACE_FEMALE 0.80, BUTTOCKS_EXPOSED 0.70, FEET_EXPOSED 0.60"
    assert not Verdict.join([Verdict(False, (Finding("FACE_MALE", 0.99),)), Verdict()]).flagged
    assert str(Verdict()) == "nothing"


async def test_each_picture_of_a_set_is_checked_and_one_flags_the_set():
    detector = RedFlags()
    checker = Checker([detector])
    assert not (await checker.pictures([png("blue"), png("green")])).flagged
    assert (await checker.pictures([png("blue"), png("red"), png("green")])).flagged
    assert detector.seen[2:] == [(0, 0, 255), (255, 0, 0), (0, 128, 0)], "every candidate, in order"
    assert (await checker.picture(png("red"))).flagged and not (await checker.picture(png("white"))).flagged


async def test_a_films_frames_are_sampled_over_its_whole_length_the_last_included(tmp_path):
    data = film(tmp_path, ["blue"] * 9 + ["red"])  # red only at the end: a zoom that ends somewhere else
    detector = RedFlags()
    verdict = await Checker([detector], film_samples=2).film(data)  # the first frame and the last
    assert verdict.flagged and len(detector.seen) == 2
    frames = film_frames(data, 4)
    assert len(frames) == 4 and frames[0].getpixel((0, 0))[2] > 200 and frames[-1].getpixel((0, 0))[0] > 200
    assert not (await Checker([RedFlags()], film_samples=4).film(film(tmp_path, ["blue"] * 10))).flagged


async def test_what_cannot_be_decoded_counts_as_flagged_and_is_never_shown_unchecked():
    checker = Checker([RedFlags()])
    for data in (b"not a picture", png("blue")[:40]):
        verdict = await checker.picture(data)
        assert verdict.flagged and verdict.findings == (Finding("UNCHECKED", 1.0),)
    assert (await checker.film(b"\x00\x00\x00\x18ftypmp42 not a film")).flagged
    with pytest.raises(ValueError, match="not a PNG, JPEG or WebP picture"):
        decode(b"GIF89a" + bytes(40))


async def test_no_check_configured_flags_nothing():
    checker = Checker([])
    assert not checker and not (await checker.picture(b"anything")).flagged


nudenet = pytest.mark.skipif(not NudeNet.available(), reason="NudeNet (the safety extra) is not installed")


@nudenet
@pytest.mark.parametrize("side", [256, 1024])
def test_the_real_nudenet_model_loads_and_answers_on_this_cpu(side):
    started = time.perf_counter()
    detector = NudeNet()
    clear = detector.check(Image.effect_noise((side, side), 40).convert("RGB"))
    assert not clear.flagged and all(0 <= f.score <= 1 for f in clear.findings)
    assert detector.check(Image.new("RGB", (side, side // 2), "peachpuff")).flagged is False
    assert time.perf_counter() - started < 120, "bounded: a picture takes about 30 ms on 2 cores"


@nudenet
def test_dreambot_check_prints_each_pictures_scores_and_exits_by_the_worst(tmp_path):
    (tmp_path / "a.png").write_bytes(png("blue", (256, 256)))
    result = dreambot_here("check", str(tmp_path / "a.png"), "--json", weights_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"image": str(tmp_path / "a.png"), "flagged": False, "nudenet": {}}
    (tmp_path / "b.txt").write_text("words")
    result = dreambot_here("check", str(tmp_path / "a.png"), str(tmp_path / "b.txt"), weights_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("b.txt could not be read as a picture (it is not a PNG, JPEG or WebP picture)")


def test_dreambot_check_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(NudeNet, "available", staticmethod(lambda: False))
    (tmp_path / "a.png").write_bytes(png("blue"))
    result = dreambot_here("check", str(tmp_path / "a.png"), weights_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "the picture check needs NudeNet, which is not installed: pip install 'dreambot[safety]'" in result.stderr
