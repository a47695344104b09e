"""``dreambot weights`` as a user runs it."""

from __future__ import annotations

from tests.support.cli import dreambot


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
