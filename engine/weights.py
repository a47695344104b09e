"""Where model weights come from and where they live.

The registry maps the contract names in DESIGN.md to files, mirror URLs and (where known)
checksums. Files live in ``{weights_dir}/{name}/``; downloads resume from a ``.part`` file,
show a progress bar and are verified before they are moved into place. The ``tiny-*`` models
have no URL: they are made deterministically on first use (see ``engine.tiny``) and then load
through exactly the same code as the real files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from engine.errors import DownloadError, WeightsError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
HF = "https://huggingface.co"
HEIBOX = "https://heibox.uni-heidelberg.de"
BIGGAN_S3 = "https://s3.amazonaws.com/models.huggingface.co/biggan"


@dataclass(frozen=True)
class WeightFile:
    """One file of a model; ``urls`` are mirrors tried in order."""

    name: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    approx_size: str = ""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "vqgan", "clip", "biggan", "siren", "pixels"
    description: str
    files: tuple[WeightFile, ...] = ()
    synthetic: bool = False
    size_multiple: int = 1
    native_size: int | None = None  # generators that paint one square size only

    @property
    def needs_weights(self) -> bool:
        return bool(self.files)

    @property
    def folder_name(self) -> str:
        return self.name.replace("/", "__")


def _heibox_pair(share: str, ckpt_size: str) -> tuple[WeightFile, ...]:
    base = f"{HEIBOX}/d/{share}/files/?p="
    return (
        WeightFile("model.yaml", (f"{base}%2Fconfigs%2Fmodel.yaml&dl=1",), approx_size="1 KB"),
        WeightFile("last.ckpt", (f"{base}%2Fckpts%2Flast.ckpt&dl=1",), approx_size=ckpt_size),
    )


def _biggan_files(name: str, bin_size: str, mirror: str | None = None) -> tuple[WeightFile, ...]:
    """The official ``config.json`` + ``pytorch_model.bin`` pair of pytorch-pretrained-biggan."""
    mirrors = (f"{HF}/{mirror}/resolve/main",) if mirror else ()
    return tuple(
        WeightFile(file, (f"{BIGGAN_S3}/{name}-{file}", *(f"{m}/{file}" for m in mirrors)), approx_size=size)
        for file, size in (("config.json", "1 KB"), ("pytorch_model.bin", bin_size))
    )


def _tiny_generator(name: str, family: str, what: str, files: tuple[str, ...], **size: int) -> ModelSpec:
    """A smoke-test generator: no URL, its files are made on first use (``engine.tiny``)."""
    description = f"random-weight {what} for smoke tests (its pictures are noise)"
    return ModelSpec(name, family, description, tuple(WeightFile(f) for f in files), synthetic=True, **size)


_GENERATORS = (
    ModelSpec(
        "vqgan-imagenet-f16-16384",
        "vqgan",
        "VQGAN ImageNet, f16, 16384 codes (taming-transformers)",
        _heibox_pair("a7530b09fed84f80a887", "980 MB"),
        size_multiple=16,
    ),
    ModelSpec(
        "vqgan-imagenet-f16-1024",
        "vqgan",
        "VQGAN ImageNet, f16, 1024 codes (taming-transformers)",
        _heibox_pair("8088892a516d4e3baf92", "958 MB"),
        size_multiple=16,
    ),
    ModelSpec(
        "vqgan-openimages-f8-8192",
        "vqgan",
        "Gumbel VQGAN OpenImages, f8, 8192 codes (taming-transformers)",
        _heibox_pair("2e5662443a6b4307b470", "376 MB"),
        size_multiple=8,
    ),
    _tiny_generator("tiny-vqgan", "vqgan", "VQGAN", ("model.yaml", "last.ckpt"), size_multiple=2),
    *(
        ModelSpec(
            f"biggan-deep-{side}",
            "biggan",
            f"BigGAN-deep {side}x{side}, ImageNet classes (The Big Sleep; pytorch-pretrained-biggan)",
            _biggan_files(f"biggan-deep-{side}", size, mirror),
            native_size=side,
        )
        for side, size, mirror in ((128, "211 MB", "osanseviero/BigGAN-deep-128"), (256, "234 MB", None), (512, "236 MB", None))
    ),
    _tiny_generator("tiny-biggan", "biggan", "BigGAN-deep", ("config.json", "pytorch_model.bin"), native_size=64),
    ModelSpec("siren", "siren", "SIREN coordinate network trained from scratch for each image (Deep Daze); no weights"),
    ModelSpec("pixels", "pixels", "the image itself in a decorrelated Fourier basis; no weights"),
)
_PERCEPTORS = (
    ModelSpec(
        "tiny-clip",
        "clip",
        "random-weight CLIP for smoke tests (it understands nothing)",
        (WeightFile("open_clip_config.json"), WeightFile("open_clip_model.safetensors")),
        synthetic=True,
    ),
)
KNOWN_PERCEPTORS = ("ViT-B-32/openai", "ViT-B-16/openai", "ViT-L-14/openai", "ViT-B-32/laion2b_s34b_b79k")
REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _GENERATORS + _PERCEPTORS}


def generator_names() -> list[str]:
    return [spec.name for spec in _GENERATORS]


def fixed_size_generators(family: str) -> list[ModelSpec]:
    """The real (not synthetic) generators of ``family`` that paint one size only."""
    return [s for s in _GENERATORS if s.family == family and s.native_size and not s.synthetic]


def clip_spec(name: str) -> ModelSpec:
    """Spec for an open_clip ``MODEL/PRETRAINED`` name; the weights come from its Hugging Face repo."""
    model, sep, tag = name.partition("/")
    if not sep or not model or not tag:
        raise WeightsError(f"perceptor {name!r} must look like MODEL/PRETRAINED, e.g. ViT-B-32/openai")
    import open_clip  # deferred: pulls in torch

    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        known = ", ".join(KNOWN_PERCEPTORS)
        raise WeightsError(f"open_clip has no pretrained weights {tag!r} for {model!r} (try one of: {known})")
    hub = cfg.get("hf_hub", "").strip("/")
    if not hub:
        raise WeightsError(f"{name} has no Hugging Face copy; only open_clip weights published there are supported")
    url = f"{HF}/{hub}/resolve/main/open_clip_model.safetensors"
    return ModelSpec(name, "clip", f"open_clip {model} trained on {tag}", (WeightFile("open_clip_model.safetensors", (url,)),))


def lookup(name: str) -> ModelSpec:
    """Spec of any known generator or perceptor name."""
    if name in REGISTRY:
        return REGISTRY[name]
    if "/" in name:
        return clip_spec(name)
    raise WeightsError(f"unknown model {name!r}; known models: {', '.join(generator_names())}")


def default_weights_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dreambot" / "weights"


@dataclass(frozen=True)
class WeightStore:
    """The cache folder: resolves, checks and fetches the files of a model."""

    root: Path

    def folder(self, spec: ModelSpec) -> Path:
        return self.root / spec.folder_name

    def missing(self, spec: ModelSpec) -> list[Path]:
        return [self.folder(spec) / f.name for f in spec.files if not (self.folder(spec) / f.name).is_file()]

    def ensure(self, spec: ModelSpec) -> Path:
        """The model's folder with every file present, making synthetic models on first use."""
        missing = self.missing(spec)
        if missing and spec.synthetic:
            from engine import tiny  # deferred: needs torch

            tiny.make(spec.name, self.folder(spec))
            missing = self.missing(spec)
        if missing:
            raise WeightsError(
                f"weights for {spec.name} are missing: {missing[0]} not found "
                f"(looked in {self.folder(spec)}). Fetch them with: dreambot weights download {spec.name}"
            )
        return self.folder(spec)

    def corrupt(self, spec: ModelSpec, path: Path, why: str) -> WeightsError:
        """The error for a file that exists but cannot be read."""
        return WeightsError(
            f"weights file {path} for {spec.name} is corrupt or incomplete ({why}). "
            f"Delete it and fetch it again with: dreambot weights download {spec.name}"
        )

    def download(self, spec: ModelSpec, progress: bool = True) -> Path:
        """Fetch every missing file of ``spec``; synthetic models are made instead."""
        if spec.synthetic:
            return self.ensure(spec)
        folder = self.folder(spec)
        folder.mkdir(parents=True, exist_ok=True)
        for file in spec.files:
            dest = folder / file.name
            if dest.is_file():
                log.info("%s already present", dest)
                continue
            fetch(file, dest, progress=progress)
        return folder


def _describe_failure(url: str, error: Exception) -> str:
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(error, urllib.error.HTTPError):
        return f"{host} answered HTTP {error.code} for {url}"
    if isinstance(error, urllib.error.URLError):
        return f"could not reach {host} ({error.reason}); this machine may be offline"
    return str(error)


def fetch(file: WeightFile, dest: Path, progress: bool = True) -> None:
    """Download ``file`` to ``dest`` through the first mirror that answers, resuming a partial download."""
    if not file.urls:
        raise DownloadError(f"{file.name} has no download address")
    failures = []
    for url in file.urls:
        try:
            _fetch_one(url, dest, file.sha256, progress)
            return
        except (urllib.error.URLError, OSError, DownloadError) as error:
            failures.append(_describe_failure(url, error))
            log.warning("download failed: %s", failures[-1])
    raise DownloadError(
        f"could not download {file.name}: {'; '.join(failures)}. You can fetch {file.urls[0]} by hand and save it as {dest}"
    )


def _fetch_one(url: str, dest: Path, sha256: str | None, progress: bool) -> None:
    from tqdm import tqdm

    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "dreambot"}
    if start:
        headers["Range"] = f"bytes={start}-"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
        if start and response.status != 206:
            log.info("%s ignored the resume request; starting %s again", url, dest.name)
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length else None
        with (
            open(part, "ab" if start else "wb") as out,
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size != total:
        raise DownloadError(f"{url} ended early: got {part.stat().st_size} of {total} bytes; run the command again to resume")
    if sha256:
        digest = sha256_of(part)
        if digest != sha256:
            part.unlink()
            raise DownloadError(f"{dest.name} from {url} has sha256 {digest}, expected {sha256}; the partial file was removed")
    os.replace(part, dest)
    log.info("saved %s", dest)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
