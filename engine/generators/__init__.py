"""Painters: each owns the tensors being optimized and turns them into an RGB image in [0, 1].

Each family's module is imported on first use, so that, e.g., rendering with VQGAN never pays
for pytorch-pretrained-biggan's import of scipy.
"""

from __future__ import annotations

import importlib

from engine.generators.base import Generator

_CLASSES = {
    "vqgan": "engine.generators.vqgan:VQGANGenerator",
    "biggan": "engine.generators.biggan:BigGANGenerator",
    "siren": "engine.generators.siren:SirenGenerator",
    "pixels": "engine.generators.pixels:FourierImage",
}


def generator_class(family: str) -> type[Generator]:
    module, name = _CLASSES[family].split(":")
    return getattr(importlib.import_module(module), name)


__all__ = ["Generator", "generator_class"]
