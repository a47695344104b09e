"""What a model is made of: its files, their mirrors and checksums, and the sizes it paints.

The file names of the official formats are written here once; the engine's readers and the
smoke-test writers (``engine/networks/tiny.py``) use the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HF = "https://huggingface.co"
HEIBOX = "https://heibox.uni-heidelberg.de"
BIGGAN_S3 = "https://s3.amazonaws.com/models.huggingface.co/biggan"
# The copy that feed_forward_vqgan_clip (Cherti 2021) publishes of the ImageNet f16 16384 VQGAN
VQGAN_16384_RELEASE = "https://github.com/mehdidc/feed_forward_vqgan_clip/releases/download/0.1/vqgan_imagenet_f16_16384"

VQGAN_CONFIG = "model.yaml"  # taming-transformers: the model's config
VQGAN_CHECKPOINT = "last.ckpt"  # taming-transformers: a PyTorch Lightning checkpoint
BIGGAN_CONFIG = "config.json"  # pytorch-pretrained-biggan
BIGGAN_WEIGHTS = "pytorch_model.bin"  # pytorch-pretrained-biggan: a bare state dict
CLIP_CONFIG = "open_clip_config.json"  # open_clip's local-dir layout
CLIP_WEIGHTS = "open_clip_model.safetensors"  # open_clip's local-dir layout, as published on Hugging Face
ESRGAN_WEIGHTS = "RealESRGAN_x4plus.pth"  # Real-ESRGAN's release: {"params_ema": RRDBNet state dict}
DVAE_DECODER = "decoder.pkl"  # OpenAI's dall-e: a whole pickled module
DVAE_ENCODER = "encoder.pkl"
DALLE_CDN = "https://cdn.openai.com/dall-e"
ESRGAN_RELEASE = "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0"
ESRGAN_HF_COPY = f"{HF}/lllyasviel/Annotators/resolve/main"  # ControlNet's annotator weights: the same file

GOOGLENET_WEIGHTS = "googlenet-1378be20.pth"  # torchvision's InceptionV1: a bare state dict
TORCHVISION_MODELS = "https://download.pytorch.org/models"

STYLEGAN_PICKLE = "network.pkl"  # NVIDIA's persistence pickle of G, D and G_ema, under one name for every model
STYLEGAN2_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
STYLEGAN3_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files"

PERCEPTOR_KIND = "clip"  # the ``family`` of every perceptor spec
DREAMER_KIND = "dreamer"  # the ``family`` of every DeepDream network
UPSCALER_KIND = "upscaler"  # the ``family`` of every super-resolution spec


@dataclass(frozen=True)
class WeightFile:
    """One file of a model; ``urls`` are mirrors tried in order. ``sha256`` is the published digest,
    or the leading digits of it that torchvision writes into its file names; without one, the digest
    of the first download is recorded (``engine.integrity``)."""

    name: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # a generator family of ``contract.families``, or ``PERCEPTOR_KIND``
    description: str
    files: tuple[WeightFile, ...] = ()
    synthetic: bool = False  # random weights made on first use (engine/networks/tiny.py), never downloaded
    size_multiple: int = 1
    native_size: int | None = None  # generators that paint one square size only

    @property
    def needs_weights(self) -> bool:
        return bool(self.files)

    @property
    def folder_name(self) -> str:
        return self.name.replace("/", "__")

    def folder_in(self, root: Path) -> Path:
        """Where this model's files live under the weights folder ``root``."""
        return root / self.folder_name

    def missing_in(self, root: Path) -> list[Path]:
        """The files of this model that the weights folder ``root`` lacks."""
        folder = self.folder_in(root)
        return [folder / f.name for f in self.files if not (folder / f.name).is_file()]


def heibox_vqgan(share: str, mirror: str | None = None) -> tuple[WeightFile, ...]:
    """The official taming-transformers config + checkpoint pair, from its Heidelberg share, then from
    ``{mirror}.yaml`` and ``{mirror}.ckpt`` where a second copy is published."""
    base = f"{HEIBOX}/d/{share}/files/?p="
    return (
        WeightFile(VQGAN_CONFIG, (f"{base}%2Fconfigs%2Fmodel.yaml&dl=1", *((f"{mirror}.yaml",) if mirror else ()))),
        WeightFile(VQGAN_CHECKPOINT, (f"{base}%2Fckpts%2Flast.ckpt&dl=1", *((f"{mirror}.ckpt",) if mirror else ()))),
    )


def biggan_files(name: str, mirror: str | None = None) -> tuple[WeightFile, ...]:
    """The official ``config.json`` + ``pytorch_model.bin`` pair of pytorch-pretrained-biggan."""
    mirrors = (f"{HF}/{mirror}/resolve/main",) if mirror else ()
    return tuple(
        WeightFile(file, (f"{BIGGAN_S3}/{name}-{file}", *(f"{m}/{file}" for m in mirrors)))
        for file in (BIGGAN_CONFIG, BIGGAN_WEIGHTS)
    )


def tiny_model(name: str, family: str, what: str, files: tuple[str, ...], **size: int) -> ModelSpec:
    """A smoke-test model: no URL, its files are made on first use."""
    description = f"random-weight {what} for smoke tests (its pictures are noise)"
    return ModelSpec(name, family, description, tuple(WeightFile(f) for f in files), synthetic=True, **size)


def clip_from_hub(name: str, hub: str, description: str) -> ModelSpec:
    """An open_clip ``MODEL/PRETRAINED`` perceptor whose weights live in the Hugging Face repo ``hub``."""
    url = f"{HF}/{hub}/resolve/main/{CLIP_WEIGHTS}"
    return ModelSpec(name, PERCEPTOR_KIND, description, (WeightFile(CLIP_WEIGHTS, (url,)),))
