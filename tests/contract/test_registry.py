"""The registry holds every contract name, with the official files and mirrors of each."""

from __future__ import annotations

from contract import registry


def test_contract_names_are_registered():
    names = ["vqgan-imagenet-f16-16384", "vqgan-imagenet-f16-1024", "vqgan-openimages-f8-8192", "biggan-deep-128"]
    names += ["biggan-deep-256", "biggan-deep-512", "siren", "pixels", "tiny-vqgan", "tiny-biggan", "tiny-clip"]
    names += ["dalle-dvae", "tiny-dvae", "clipdraw", "stylegan2-ffhq-1024", "tiny-stylegan2"]
    names += ["stylegan3-t-ffhqu-256", "stylegan3-r-afhqv2-512", "tiny-stylegan3"]
    for name in names:
        assert registry.lookup(name).name == name
    assert set(registry.generator_names()) == set(names) - {"tiny-clip"}
    dvae = registry.lookup("dalle-dvae")
    assert [f.urls for f in dvae.files] == [(f"https://cdn.openai.com/dall-e/{n}.pkl",) for n in ("decoder", "encoder")]
    real = registry.lookup("vqgan-imagenet-f16-16384")
    assert {f.name for f in real.files} == {"model.yaml", "last.ckpt"}
    assert all(f.urls and f.urls[0].startswith("https://") for f in real.files)
    for side in (128, 256, 512):
        spec = registry.lookup(f"biggan-deep-{side}")
        assert (spec.family, spec.native_size) == ("biggan", side)
        assert [f.name for f in spec.files] == ["config.json", "pytorch_model.bin"]
        assert (
            spec.files[1].urls[0] == f"https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-{side}-pytorch_model.bin"
        )
    assert registry.lookup("biggan-deep-128").files[1].urls[1].startswith("https://huggingface.co/osanseviero/BigGAN-deep-128/")
    assert not registry.lookup("siren").needs_weights and not registry.lookup("pixels").needs_weights
