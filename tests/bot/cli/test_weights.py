"""``dreambot weights`` as a user runs it."""

from __future__ import annotations

from tests.support.cli import dreambot, dreambot_here


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
    strokes = dreambot_here("weights", "download", "clipdraw", weights_dir=weights_dir, cwd=tmp_path)
    assert strokes.stdout.strip() == (
        "clipdraw needs no weights: CLIPDraw: Bézier strokes through a differentiable rasterizer; no weights; also saves an SVG"
    ), "strokes are optimized, not a network trained"
    unknown = dreambot("weights", "path", "nope", weights_dir=weights_dir, cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown model 'nope'" in unknown.stderr


def test_weights_verify_names_the_changed_file_and_what_to_do(weights_dir, tmp_path):
    cache = tmp_path / "weights"
    upscaler = cache / "realesrgan-x4plus"
    upscaler.mkdir(parents=True)
    (upscaler / "RealESRGAN_x4plus.pth").write_bytes(b"not the published file")
    vqgan = cache / "vqgan-imagenet-f16-16384"
    vqgan.mkdir()
    for name in ("model.yaml", "last.ckpt"):
        (vqgan / name).write_bytes(name.encode())
    first = dreambot_here("weights", "verify", weights_dir=cache, cwd=tmp_path)
    assert first.returncode == 1
    assert "RealESRGAN_x4plus.pth" in first.stdout and "MISMATCH: sha256" in first.stdout
    assert f"delete {upscaler} and fetch it again with: dreambot weights download realesrgan-x4plus" in first.stdout
    assert first.stdout.count("recorded now") == 2
    (upscaler / "RealESRGAN_x4plus.pth").unlink()
    again = dreambot_here("weights", "verify", "vqgan-imagenet-f16-16384", weights_dir=cache, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("ok (sha256 recorded at download)") == 2
    (vqgan / "last.ckpt").write_bytes(b"swapped")
    assert dreambot_here("weights", "verify", weights_dir=cache, cwd=tmp_path).returncode == 1


def test_weights_list_lines_up_its_columns_whatever_the_names(weights_dir, tmp_path):
    from engine.weights import spec_for

    listing = dreambot_here("weights", "list", weights_dir=weights_dir, cwd=tmp_path).stdout.splitlines()[1:-1]
    starts = {line.rindex(spec_for(line.split()[0]).description) for line in listing}
    assert len(starts) == 1, "every description starts in the same column"
    assert any(" upscaler " in line for line in listing) and any(" dreamer " in line for line in listing)
