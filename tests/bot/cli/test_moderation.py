"""``dreambot check IMAGE...``: what the picture check finds, printed per picture; exit 1 when one is flagged."""

from __future__ import annotations

import json

import pytest

from bot.moderation.pictures import NudeNet
from tests.support.cli import dreambot_here
from tests.support.moderation import png

nudenet = pytest.mark.skipif(not NudeNet.available(), reason="NudeNet (the safety extra) is not installed")


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
    assert "the picture check needs NudeNet, which is not installed (pip install 'dreambot[safety]'); or give --concepts" in (
        result.stderr
    )


def test_dreambot_check_prints_the_clip_scores_the_bot_would_judge_and_flags_at_the_threshold(
    tmp_path, weights_dir, engine, monkeypatch
):
    """The owner tunes ``clip_threshold`` on these figures, so they must be the engine's own for the picture."""
    monkeypatch.setattr(NudeNet, "available", staticmethod(lambda: False))
    (tmp_path / "a.png").write_bytes(png("red", (64, 48)))
    concepts = ["gore", "a weapon"]
    ask = ("check", str(tmp_path / "a.png"), "--concepts", " gore, a weapon ", "--perceptor", "tiny-clip", "--device", "cpu")
    flagged = dreambot_here(*ask, "--clip-threshold", "0", "--json", weights_dir=weights_dir, cwd=tmp_path)
    assert flagged.returncode == 1, flagged.stderr
    printed = json.loads(flagged.stdout)
    assert printed["flagged"] and set(printed) == {"image", "flagged", "clip"}
    engines = engine.concept_scorer("tiny-clip").pictures([png("red", (64, 48))], concepts)
    assert printed["clip"] == pytest.approx({f"CLIP {c}": engines[c] for c in concepts}, abs=1e-4)
    above = max(engines.values()) + 1e-3
    assert above < 1
    clear = dreambot_here(*ask, "--clip-threshold", str(above), weights_dir=weights_dir, cwd=tmp_path)
    assert clear.returncode == 0, clear.stderr
    assert clear.stdout.startswith(f"{tmp_path / 'a.png'}: clear (clip: CLIP ")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--concepts", "x" * 101), "--concepts: each concept may be at most 100 characters"),
        (("--concepts", "gore", "--clip-threshold", "2"), "--clip-threshold is a share from 0 to 1"),
        (("--concepts", "gore", "--perceptor", "tiny-vqgan"), "tiny-vqgan"),
    ],
)
def test_dreambot_check_refuses_bad_concepts_before_loading_anything(tmp_path, extra, message):
    (tmp_path / "a.png").write_bytes(png("blue"))
    result = dreambot_here("check", str(tmp_path / "a.png"), *extra, weights_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not any(tmp_path.glob("**/*.safetensors")), "no weights were made or fetched"
