"""DALL·E's dVAE read from OpenAI's file format (whole pickled modules) without running the pickle's code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contract.errors import WeightsError
from contract.models import DVAE_DECODER, DVAE_ENCODER
from contract.registry import lookup
from engine.networks.dvae import load_dvae, random_pair
from engine.pipeline import Engine
from engine.weights import WeightStore
from tests.support.checkpoints import RunsCode


@pytest.fixture
def store(tmp_path) -> WeightStore:
    return WeightStore(tmp_path / "weights")


def tokens(vocab: int, side: int = 4) -> torch.Tensor:
    return F.one_hot(torch.randint(vocab, (1, side, side), generator=torch.Generator().manual_seed(1)), vocab).movedim(3, 1)


def test_the_rebuilt_networks_compute_what_the_pickled_ones_do(tmp_path):
    """The tensors of the pickled modules are copied into modules built afresh from the package."""
    decoder, encoder = random_pair(seed=5)
    torch.save(decoder, tmp_path / DVAE_DECODER)
    torch.save(encoder, tmp_path / DVAE_ENCODER)
    net = load_dvae(tmp_path)
    torch.testing.assert_close(net.decoder(tokens(512).float()), decoder(tokens(512).float()))
    picture = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(net.encoder(picture), encoder(picture))
    assert net.encode(picture).shape == (1, 512, 4, 4) and net.decode(tokens(512)).shape == (1, 3, 32, 32)


def test_a_dvae_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path, store):
    folder = store.ensure(lookup("tiny-dvae"))
    decoder, _ = random_pair()
    marker = tmp_path / "ran"
    decoder.note = RunsCode(marker)
    torch.save(decoder, folder / DVAE_DECODER)
    with pytest.raises(WeightsError, match=r"decoder.pkl for tiny-dvae is corrupt, incomplete or unsafe .*_exec_with_source"):
        Engine(store, "cpu").network("tiny-dvae")
    assert not marker.exists(), "the file's code ran"


def test_files_swapped_or_unreadable_are_named(store):
    folder = store.ensure(lookup("tiny-dvae"))
    (folder / DVAE_DECODER).write_bytes((folder / DVAE_ENCODER).read_bytes())
    with pytest.raises(WeightsError, match=r"decoder.pkl holds a Encoder, not a dall-e Decoder"):
        Engine(store, "cpu").network("tiny-dvae")
    (folder / DVAE_DECODER).write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match=r"decoder.pkl for tiny-dvae is corrupt, incomplete or unsafe"):
        Engine(store, "cpu").network("tiny-dvae")


def test_an_init_image_starts_aleph2image_from_the_encoders_tokens(engine, tmp_path):
    from engine.generators.aleph2image import DVAEGenerator

    net = engine.network("tiny-dvae")
    generator = DVAEGenerator(net, 32, 32, torch.device("cpu"))
    picture = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    generator.init_from_image(picture)
    wanted = net.encode(picture).argmax(dim=1)
    assert torch.equal(generator.choice.logits.argmax(dim=1), wanted)
    assert not torch.equal(generator.choice.start, wanted), "the init image changed the start"
