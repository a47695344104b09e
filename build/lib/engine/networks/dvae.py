"""DALL·E's discrete VAE (OpenAI, 2021), the decoder Aleph2Image steers, with its encoder for init images.

OpenAI publishes ``decoder.pkl`` and ``encoder.pkl`` as whole pickled modules of the ``dall-e`` package.
They are read with torch's weights-only unpickler (``load_checkpoint``) and an exact allow-list of the package's and torch's
module classes, so no code in the file runs; the tensors are then copied into modules built afresh from
the package, so nothing of the unpickled objects but their tensors and shape is used.
"""

from __future__ import annotations

from pathlib import Path

import torch
from dall_e.decoder import Decoder, DecoderBlock
from dall_e.encoder import Encoder, EncoderBlock
from dall_e.utils import Conv2d
from torch import nn

from contract.errors import WeightsError
from contract.models import DVAE_DECODER, DVAE_ENCODER
from engine.networks.bounds import check_within
from engine.networks.checkpoints import load_checkpoint

FACTOR = 8  # pixels per token along each side: 256x256 pictures are 32x32 tokens
LOGIT_LAPLACE_EPS = 0.1  # the dVAE's pixel range is squeezed into [eps, 1 - eps]
PICKLED_CLASSES = (
    Decoder,
    DecoderBlock,
    Encoder,
    EncoderBlock,
    Conv2d,
    nn.Sequential,
    nn.ReLU,
    nn.Upsample,
    nn.MaxPool2d,
    nn.Identity,
)
# The constructor arguments that shape each network; every other attribute is rebuilt by the package.
SHAPE = {
    Decoder: ("n_init", "n_hid", "n_blk_per_group", "output_channels", "vocab_size"),
    Encoder: ("n_hid", "n_blk_per_group", "input_channels", "vocab_size"),
}


class DVAE(nn.Module):
    """The decoder (one-hot tokens ``[b, vocab, h, w]`` to pictures) and the encoder (pictures to token logits)."""

    def __init__(self, decoder: Decoder, encoder: Encoder) -> None:
        super().__init__()
        if decoder.vocab_size != encoder.vocab_size:
            raise WeightsError(f"the decoder has {decoder.vocab_size} tokens and the encoder {encoder.vocab_size}")
        self.decoder, self.encoder = decoder, encoder
        self.vocab_size = decoder.vocab_size

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pictures ``[b, 3, 8h, 8w]``, unclamped around [0, 1]: the means of the decoder's logit-Laplace output."""
        means = self.decoder(tokens.float())[:, :3].float().sigmoid()
        return (means - LOGIT_LAPLACE_EPS) / (1 - 2 * LOGIT_LAPLACE_EPS)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Token logits ``[b, vocab, H/8, W/8]`` of pictures in [0, 1]."""
        return self.encoder((1 - 2 * LOGIT_LAPLACE_EPS) * image.float() + LOGIT_LAPLACE_EPS).float()


def read_module(path: Path, kind: type[nn.Module]) -> nn.Module:
    """The network pickled in ``path``, rebuilt from the ``dall-e`` package with the file's tensors."""
    pickled = load_checkpoint(path, PICKLED_CLASSES)
    if type(pickled) is not kind:
        raise WeightsError(f"{path} holds a {type(pickled).__name__}, not a dall-e {kind.__name__}")
    shape = {name: getattr(pickled, name) for name in SHAPE[kind]}
    check_within(lambda: kind(**shape, device=torch.device("meta"), requires_grad=False, use_mixed_precision=False), path)
    module = kind(**shape, device=torch.device("cpu"), requires_grad=False, use_mixed_precision=False)
    module.load_state_dict(pickled.state_dict())
    return module.eval()


def load_dvae(folder: Path) -> DVAE:
    return DVAE(read_module(folder / DVAE_DECODER, Decoder), read_module(folder / DVAE_ENCODER, Encoder))


def random_pair(
    vocab_size: int = 512, n_hid: int = 64, n_init: int = 32, blocks: int = 1, seed: int = 0
) -> tuple[Decoder, Encoder]:
    """A random decoder and encoder of the package (small by default; OpenAI's: 8192, 256, 128, 2), the same
    for the same arguments."""
    cpu = torch.device("cpu")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        decoder = Decoder(n_init=n_init, n_hid=n_hid, n_blk_per_group=blocks, vocab_size=vocab_size, device=cpu)
        encoder = Encoder(n_hid=n_hid, n_blk_per_group=blocks, vocab_size=vocab_size, device=cpu)
    with torch.no_grad():
        # Token embeddings of unit size rather than the package's 1/sqrt(vocab): the pictures then vary by
        # about 0.2 instead of 0.01 around grey, so tokens matter to CLIP as they do in the trained decoder.
        decoder.blocks.input.w.mul_(vocab_size**0.5)
    return decoder, encoder
