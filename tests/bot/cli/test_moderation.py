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
    assert "the picture check needs NudeNet, which is not installed: pip install 'dreambot[safety]'" in result.stderr
