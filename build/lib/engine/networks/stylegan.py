"""Which StyleGAN an official pickle holds, rebuilt with its recorded arguments and tensors."""

from __future__ import annotations

from pathlib import Path

from contract.models import STYLEGAN_PICKLE
from engine.networks import stylegan2, stylegan3
from engine.networks.bounds import check_within
from engine.networks.persistence import read_pickle

StyleGAN = stylegan2.Generator | stylegan3.Generator


def load_stylegan(folder: Path) -> StyleGAN:
    """``G_ema`` of the folder's official pickle: a StyleGAN3 when its synthesis starts from Fourier features."""
    record = read_pickle(folder / STYLEGAN_PICKLE)["G_ema"]
    synthesis = record.children().get("synthesis")
    is_stylegan3 = synthesis is not None and "input" in synthesis.children()
    generator = (stylegan3 if is_stylegan3 else stylegan2).Generator
    check_within(lambda: generator(**record.init_kwargs), folder / STYLEGAN_PICKLE)
    net = generator(**record.init_kwargs)
    net.load_state_dict(dict(record.tensors()))
    return net.eval().requires_grad_(False)
