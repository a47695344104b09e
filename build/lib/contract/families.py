"""Generator families, one declaration each: the painter, its network, its options, its learning
rate and the models it paints with.

A new painter is one module in ``engine/generators/`` plus one ``Family`` here. The torch side is
named by import path (``"module:attribute"``) and imported on first use, so the bot and the command
line read options and models from this table without loading torch, and rendering with one family
never imports another's libraries (pytorch-pretrained-biggan pulls in scipy).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.colours import is_colour
from contract.errors import BadRequest
from contract.models import (
    BIGGAN_CONFIG,
    BIGGAN_WEIGHTS,
    DALLE_CDN,
    DVAE_DECODER,
    DVAE_ENCODER,
    STYLEGAN2_ADA,
    STYLEGAN3_NGC,
    STYLEGAN_PICKLE,
    VQGAN_16384_RELEASE,
    VQGAN_CHECKPOINT,
    VQGAN_CONFIG,
    ModelSpec,
    WeightFile,
    biggan_files,
    heibox_vqgan,
    tiny_model,
)
from contract.options import Option, Value, resolve_options

VQGAN_SAMPLING = ("z+quantize", "codebook")


def load_attribute(path: str) -> Any:
    """The object named ``"module:attribute"``, importing its module."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Network:
    """A family's pretrained network: the function that reads it from a weights folder, and what to tune on it."""

    loader: str  # "module:function" taking the model's weights folder and returning the network
    main_file: str  # the file to blame when loading fails
    compiled_parts: tuple[str, ...] = ()  # submodules worth torch.compile (a ModuleList: each item)


@dataclass(frozen=True)
class Family:
    name: str
    painter: str  # "module:Class" of its ``engine.generators.Generator``
    lr: float  # the Adam learning rate that suits its parameterization
    models: tuple[ModelSpec, ...]
    network: Network | None = None  # None: nothing pretrained to load
    options: tuple[Option, ...] = ()
    option_lr: Mapping[tuple[str, Value], float] = field(default_factory=dict)  # an option's value with its own rate
    check: Callable[[str, Mapping[str, Value | None]], None] | None = None  # what no one option can check (model, options)
    vector: bool = False  # draws shapes, and can give the picture as an SVG too

    def __post_init__(self) -> None:
        if strays := [spec.name for spec in self.models if spec.family != self.name]:
            raise ValueError(f"the {self.name} family declares models of another family: {', '.join(strays)}")

    def resolve_options(self, model: str, given: Mapping[str, object]) -> dict[str, Value | None]:
        """Every option of the family with ``given`` checked and applied over the defaults."""
        resolved = resolve_options(model, self.options, given)
        if self.check is not None:
            self.check(model, resolved)
        return resolved

    def learning_rate(self, lr: float | None, options: Mapping[str, Value | None]) -> float:
        """The request's learning rate, or the family's own for the options it runs with."""
        if lr is not None:
            return lr
        return next((rate for (name, value), rate in self.option_lr.items() if options.get(name) == value), self.lr)


def _is_stylegan3(model: str) -> bool:
    """StyleGAN3's models by name (``stylegan3-*``, ``tiny-stylegan3``): the pickle says so too, but only once loaded."""
    return "stylegan3" in model


def _no_noise_in_stylegan3(model: str, options: Mapping[str, Value | None]) -> None:
    if options["noise"] == "optimize" and _is_stylegan3(model):
        raise BadRequest(f"noise=optimize: {model} is a StyleGAN3, which has no noise inputs to optimize (only StyleGAN2 has)")


def _width_range(model: str, options: Mapping[str, Value | None]) -> None:
    if options["min_width"] > options["max_width"]:  # type: ignore[operator]
        raise BadRequest(f"min_width {options['min_width']} is above max_width {options['max_width']}")


# Learning rates from the VQGAN+CLIP notebooks, The Big Sleep, SIREN image fitting and Lucid's Fourier images.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "vqgan",
            painter="engine.generators.z_quantize:VQGANGenerator",
            lr=0.1,
            network=Network("engine.networks.vqgan:load_vqgan", VQGAN_CHECKPOINT, compiled_parts=("decoder",)),
            models=(
                ModelSpec(
                    "vqgan-imagenet-f16-16384",
                    "vqgan",
                    "VQGAN ImageNet, f16, 16384 codes (taming-transformers)",
                    heibox_vqgan("a7530b09fed84f80a887", VQGAN_16384_RELEASE),
                    size_multiple=16,
                ),
                ModelSpec(
                    "vqgan-imagenet-f16-1024",
                    "vqgan",
                    "VQGAN ImageNet, f16, 1024 codes (taming-transformers)",
                    heibox_vqgan("8088892a516d4e3baf92"),
                    size_multiple=16,
                ),
                ModelSpec(
                    "vqgan-openimages-f8-8192",
                    "vqgan",
                    "Gumbel VQGAN OpenImages, f8, 8192 codes (taming-transformers)",
                    heibox_vqgan("2e5662443a6b4307b470"),
                    size_multiple=8,
                ),
                tiny_model("tiny-vqgan", "vqgan", "VQGAN", (VQGAN_CONFIG, VQGAN_CHECKPOINT), size_multiple=2),
            ),
            options=(
                Option(
                    "sampling",
                    str,
                    "z+quantize",
                    lambda v: v in VQGAN_SAMPLING,
                    " or ".join(VQGAN_SAMPLING),
                    "z+quantize optimizes the latent; codebook optimizes a choice of code per position (Gumbel-softmax)",
                ),
                Option(
                    "codebook_temperature",
                    float,
                    1.0,
                    lambda v: 0 < v <= 10,
                    "above 0 and at most 10",
                    "Gumbel-softmax temperature of codebook sampling: lower picks codes more firmly",
                    applies=lambda model, options: options["sampling"] == "codebook",
                ),
            ),
            # Logits need longer strides than a latent: at 0.1, 30 tiny steps steer by 0.002-0.003 (below the
            # bar of tests/support/steering.py); at 0.5 by 0.027-0.046 (seeds 3-8).
            option_lr={("sampling", "codebook"): 0.5},
        ),
        Family(
            "biggan",
            painter="engine.generators.big_sleep:BigGANGenerator",
            lr=0.07,
            network=Network("engine.networks.biggan:load_biggan", BIGGAN_WEIGHTS, compiled_parts=("generator.layers",)),
            models=(
                *(
                    ModelSpec(
                        f"biggan-deep-{side}",
                        "biggan",
                        f"BigGAN-deep {side}x{side}, ImageNet classes (The Big Sleep; pytorch-pretrained-biggan)",
                        biggan_files(f"biggan-deep-{side}", mirror),
                        native_size=side,
                    )
                    for side, mirror in ((128, "osanseviero/BigGAN-deep-128"), (256, None), (512, None))
                ),
                tiny_model("tiny-biggan", "biggan", "BigGAN-deep", (BIGGAN_CONFIG, BIGGAN_WEIGHTS), native_size=64),
            ),
            options=(
                Option(
                    "truncation", float, 1.0, lambda v: 0 < v <= 1, "above 0 and at most 1", "BigGAN truncation: lower is tamer"
                ),
                Option(
                    "max_classes", int, None, lambda v: 1 <= v <= 1000, "between 1 and 1000", "most ImageNet classes that may mix"
                ),
                Option(
                    "class_temperature",
                    float,
                    2.0,
                    lambda v: 0 < v <= 100,
                    "above 0 and at most 100",
                    "softness of the class choice",
                ),
                Option(
                    "ema_decay",
                    float,
                    0.99,
                    lambda v: 0 <= v < 1,
                    "at least 0 and below 1",
                    "averaging of the latents shown (0: off)",
                ),
                Option(
                    "start_class",
                    int,
                    None,
                    lambda v: 0 <= v <= 999,
                    "an ImageNet class index, 0 to 999",
                    "ImageNet class to start from",
                ),
            ),
        ),
        Family(
            "dvae",
            painter="engine.generators.aleph2image:DVAEGenerator",
            lr=0.5,
            network=Network("engine.networks.dvae:load_dvae", DVAE_DECODER, compiled_parts=("decoder",)),
            models=(
                ModelSpec(
                    "dalle-dvae",
                    "dvae",
                    "DALL·E's discrete VAE, f8, 8192 tokens (Aleph2Image; OpenAI's dall-e package)",
                    tuple(WeightFile(name, (f"{DALLE_CDN}/{name}",)) for name in (DVAE_DECODER, DVAE_ENCODER)),
                    size_multiple=8,
                ),
                tiny_model("tiny-dvae", "dvae", "dVAE", (DVAE_DECODER, DVAE_ENCODER), size_multiple=8),
            ),
            options=(
                Option(
                    "token_temperature",
                    float,
                    1.0,
                    lambda v: 0 < v <= 10,
                    "above 0 and at most 10",
                    "Gumbel-softmax temperature of Aleph2Image's token choice: lower picks tokens more firmly",
                ),
            ),
        ),
        Family(
            "clipdraw",
            painter="engine.generators.clipdraw:CLIPDrawGenerator",
            lr=0.01,
            models=(
                ModelSpec(
                    "clipdraw",
                    "clipdraw",
                    "CLIPDraw: Bézier strokes through a differentiable rasterizer; no weights; also saves an SVG",
                ),
            ),
            options=(
                Option("strokes", int, 128, lambda v: 1 <= v <= 1024, "between 1 and 1024", "how many Bézier strokes"),
                Option("min_width", float, 1.0, lambda v: 0.5 <= v <= 100, "between 0.5 and 100", "thinnest stroke, in pixels"),
                Option("max_width", float, 20.0, lambda v: 0.5 <= v <= 100, "between 0.5 and 100", "thickest stroke, in pixels"),
                Option(
                    "background",
                    str,
                    "white",
                    is_colour,
                    "white, black, grey or #rrggbb",
                    "the colour under the strokes",
                ),
            ),
            check=_width_range,
            vector=True,
        ),
        Family(
            "stylegan",
            painter="engine.generators.style_clip:StyleGANGenerator",
            lr=0.05,
            network=Network("engine.networks.stylegan:load_stylegan", STYLEGAN_PICKLE),
            models=(
                ModelSpec(
                    "stylegan2-ffhq-1024",
                    "stylegan",
                    "StyleGAN2 FFHQ faces, 1024x1024 (NVIDIA's stylegan2-ada-pytorch ffhq.pkl, ~360 MB)",
                    (WeightFile(STYLEGAN_PICKLE, (f"{STYLEGAN2_ADA}/ffhq.pkl",)),),
                    native_size=1024,
                ),
                ModelSpec(
                    "stylegan3-t-ffhqu-256",
                    "stylegan",
                    "StyleGAN3-T unaligned FFHQ faces, 256x256 (NVIDIA's stylegan3-t-ffhqu-256x256.pkl)",
                    (WeightFile(STYLEGAN_PICKLE, (f"{STYLEGAN3_NGC}/stylegan3-t-ffhqu-256x256.pkl",)),),
                    native_size=256,
                ),
                ModelSpec(
                    "stylegan3-r-afhqv2-512",
                    "stylegan",
                    "StyleGAN3-R AFHQv2 cats, dogs and wild animals, 512x512 (NVIDIA's stylegan3-r-afhqv2-512x512.pkl)",
                    (WeightFile(STYLEGAN_PICKLE, (f"{STYLEGAN3_NGC}/stylegan3-r-afhqv2-512x512.pkl",)),),
                    native_size=512,
                ),
                tiny_model("tiny-stylegan2", "stylegan", "StyleGAN2", (STYLEGAN_PICKLE,), native_size=64),
                tiny_model("tiny-stylegan3", "stylegan", "StyleGAN3", (STYLEGAN_PICKLE,), native_size=64),
            ),
            options=(
                Option(
                    "truncation_psi",
                    float,
                    0.7,
                    lambda v: 0 <= v <= 1,
                    "between 0 and 1",
                    "how far a start_seed's w is pulled towards the average face: 0 is the average itself",
                ),
                Option(
                    "start_seed",
                    int,
                    None,
                    lambda v: 0 <= v <= 2**32 - 1,
                    "between 0 and 4294967295",
                    "start from this seed's w instead of the average w",
                ),
                Option(
                    "noise",
                    str,
                    "const",
                    lambda v: v in ("const", "optimize"),
                    "const or optimize",
                    "StyleGAN2's per-layer noise: the recorded maps, or optimized along with W+ (StyleGAN3 has none)",
                    applies=lambda model, options: not _is_stylegan3(model),
                ),
            ),
            check=_no_noise_in_stylegan3,
        ),
        Family(
            "siren",
            painter="engine.generators.deep_daze:SirenGenerator",
            lr=1e-4,
            models=(
                ModelSpec(
                    "siren", "siren", "SIREN coordinate network trained from scratch for each image (Deep Daze); no weights"
                ),
            ),
            options=(
                Option("layers", int, 16, lambda v: 2 <= v <= 64, "between 2 and 64", "SIREN sine layers"),
                Option("hidden_width", int, 256, lambda v: 8 <= v <= 1024, "between 8 and 1024", "SIREN units per layer"),
                Option(
                    "w0",
                    float,
                    30.0,
                    lambda v: 0 < v <= 1000,
                    "above 0 and at most 1000",
                    "SIREN first-layer frequency: higher is finer",
                ),
            ),
        ),
        Family(
            "pixels",
            painter="engine.generators.pixels:PixelsGenerator",
            lr=0.05,
            models=(ModelSpec("pixels", "pixels", "the image itself in a decorrelated Fourier basis; no weights"),),
            options=(
                Option(
                    "decay_power", float, 1.0, lambda v: 0 <= v <= 4, "between 0 and 4", "Fourier falloff: higher is smoother"
                ),
            ),
        ),
    )
}
ALL_OPTIONS: dict[str, Option] = {o.name: o for family in FAMILIES.values() for o in family.options}
