"""``dreambot describe IMAGE``: the perceptor's closest phrases and candidate prompts, printed or as JSON."""

from __future__ import annotations

import json

from PIL import Image

from engine.describe import PROMPTS, VOCABULARIES
from tests.support.cli import dreambot_here


def test_describe_prints_the_ranked_phrases_and_the_prompts_and_refuses_what_it_cannot_read(tmp_path, weights_dir):
    Image.effect_noise((48, 32), 60).convert("RGB").save(tmp_path / "a.png")
    ask = ("describe", "a.png", "--perceptor", "tiny-clip", "--device", "cpu")
    result = dreambot_here(*ask, "--json", "--top", "3", weights_dir=weights_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert list(described["ranked"]) == list(VOCABULARIES) and all(len(v) == 3 for v in described["ranked"].values())
    assert len(described["prompts"]) == PROMPTS
    best = described["ranked"]["artists"][0]["text"]
    assert f", by {best}, " in described["prompts"][0], "the first prompt names the closest artist"
    text = dreambot_here(*ask, weights_dir=weights_dir, cwd=tmp_path).stdout
    assert text.startswith("mediums: ") and "\nprompts:\n  " in text
    (tmp_path / "b.txt").write_text("words")
    for argv, message in (
        (("describe", "b.txt"), "b.txt could not be read as a picture"),
        ((*ask, "--top", "0"), "--top is from 1 to 50"),
    ):
        refused = dreambot_here(*argv, weights_dir=weights_dir, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
