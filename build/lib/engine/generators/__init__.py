"""Painters: each owns the tensors being optimized and turns them into an RGB image in [0, 1].

Each family (``contract.families``) names its painter's module, imported on first use.
"""

from engine.generators.base import Generator

__all__ = ["Generator"]
