"""The picture check: a stand-in detector proves what is checked and how verdicts join; the real NudeNet
model (the safety extra) proves it loads and answers on this CPU."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from bot.moderation.pictures import Checker, Finding, NudeNet, Verdict, decode, film_frames
from engine.video import FilmWriter
from tests.support.moderation import RedFlags, png


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
    assert len(detector.seen) == 5, "every candidate"
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
