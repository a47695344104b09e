"""The fast path computes what the plain path computes: same losses within a stated tolerance, same determinism.

Tolerances, on losses of about 1.0 over 10 to 20 steps of the tiny models:
- float32 switches (channels_last, batched cutouts, sync-free, checkpointing) and batching: 5e-3.
  They only reorder float sums, but VQGAN's nearest-code quantization can turn a last-bit
  difference into another code, so its trajectory drifts by up to about 1e-3;
- bf16 autocast: 2e-2 (seen: at most 9.5e-3, with the Fourier image).
This CPU has no native bf16, so the bf16 path runs emulated (about 50x slower) on small requests.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from PIL import Image

from engine import pipeline
from engine import speed as speed_module
from engine.errors import Cancelled
from engine.pipeline import Engine, Job
from engine.protocol import RenderRequest
from engine.speed import Speed, SpeedError
from engine.vqgan import decode_in_segments
from engine.weights import WeightStore
from tests.support.pictures import pixels

FLOAT32_TOLERANCE = 5e-3
BF16_TOLERANCE = 2e-2
PAINTERS = [
    ("tiny-vqgan", {}),
    ("tiny-biggan", {}),
    ("siren", {"layers": 4, "hidden_width": 64}),
    ("pixels", {}),
]


def request(model: str, options: dict, **overrides) -> RenderRequest:
    values = dict(prompt="a magic fairy house", model=model, perceptor="tiny-clip", width=64, height=64, steps=20, seed=3)
    return RenderRequest(**{**values, "options": options, **overrides})


def max_gap(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.fixture
def engines(weights_dir, monkeypatch):
    """Checkpoint even the tiny pictures, and let this CPU run bf16 (slowly: it emulates it) so both paths are tested."""
    monkeypatch.setattr(speed_module, "CHECKPOINT_PIXELS", 0)
    monkeypatch.setattr(pipeline, "native_bf16", lambda device: True)
    store = WeightStore(weights_dir)
    return {
        "plain": Engine(store, "cpu", "plain"),
        "fast32": Engine(store, "cpu", "fast,-autocast,+checkpoint"),
        "bf16": Engine(store, "cpu", "plain,+autocast"),
    }


@pytest.mark.parametrize(("model", "options"), PAINTERS)
def test_float32_fast_path_follows_the_plain_loss_trajectory(engines, model, options):
    assert engines["fast32"].speed.checkpoint_for(64, 64)
    plain = engines["plain"].render(request(model, options)).losses
    fast = engines["fast32"].render(request(model, options)).losses
    assert max_gap(plain, fast) <= FLOAT32_TOLERANCE


@pytest.mark.parametrize(("model", "options"), [PAINTERS[0], PAINTERS[3]])
def test_bf16_autocast_follows_the_plain_loss_trajectory(engines, model, options, tmp_path):
    init = tmp_path / "init.png"
    Image.effect_noise((32, 32), 64).convert("RGB").save(init)
    small = request(model, options, width=32, height=32, cutn=8, steps=10, init_image=str(init), init_weight=0.2)
    plain = engines["plain"].render(small).losses
    bf16 = engines["bf16"].render(small).losses
    assert engines["bf16"].speed.autocast and plain != bf16  # it really ran in bf16
    assert max_gap(plain, bf16) <= BF16_TOLERANCE
    assert engines["bf16"].render(small).losses == bf16


@pytest.mark.parametrize("path", ["plain", "fast32"])
def test_each_path_is_deterministic(engines, path):
    engine = engines[path]
    first = engine.render(request("tiny-vqgan", {}, steps=8))
    again = engine.render(request("tiny-vqgan", {}, steps=8))
    other = engine.render(request("tiny-vqgan", {}, steps=8, seed=4))
    assert first.losses == again.losses and pixels(first.png) == pixels(again.png)
    assert pixels(first.png) != pixels(other.png)


@pytest.mark.parametrize(("model", "options"), PAINTERS)
def test_a_batched_job_gets_what_it_would_get_alone(engines, model, options):
    engine = engines["fast32"]
    jobs = [
        request(model, options, steps=12),
        request(model, options, steps=12, seed=5, prompt="a lighthouse|storm:-0.5"),
        request(model, options, steps=6, seed=9),  # leaves the batch early
    ]
    together = engine.render_batch([Job(r) for r in jobs])
    for alone_request, batched in zip(jobs, together, strict=True):
        alone = engine.render(alone_request)
        assert max_gap(alone.losses, batched.losses) <= FLOAT32_TOLERANCE
        assert batched.image.size == (64, 64)


def test_a_cancelled_job_leaves_the_batch_and_the_rest_finish(engines):
    engine = engines["fast32"]
    done: list[int] = []
    stopper = Job(
        request("tiny-vqgan", {}, steps=12), on_progress=lambda event: done.append(event.step), should_stop=lambda: len(done) >= 4
    )
    keeper = Job(request("tiny-vqgan", {}, steps=12, seed=5))
    cancelled, finished = engine.render_batch([stopper, keeper])
    assert isinstance(cancelled, Cancelled) and cancelled.step == 4
    assert len(finished.losses) == 12
    alone = engine.render(keeper.request)
    assert max_gap(alone.losses, finished.losses) <= FLOAT32_TOLERANCE


def test_a_batch_must_share_model_and_size(engines):
    jobs = [Job(request("tiny-vqgan", {})), Job(request("tiny-vqgan", {}, width=48))]
    with pytest.raises(ValueError, match="one model, perceptor and size"):
        engines["fast32"].render_batch(jobs)


def test_sync_free_progress_reports_every_step_with_the_latest_loss_read(engines):
    events = []
    result = engines["fast32"].render(request("tiny-vqgan", {}, steps=12, preview_every=5), on_progress=events.append)
    assert [e.step for e in events] == list(range(1, 13))
    read_at = {1: 1, 2: 1, 4: 1, 5: 5, 9: 5, 10: 10, 11: 10, 12: 12}  # step -> the step whose loss it shows
    for step, shown in read_at.items():
        assert events[step - 1].loss == result.losses[shown - 1]
    assert [e.step for e in events if e.preview] == [5, 10, 12]


def test_plain_progress_reports_each_steps_own_loss(engines):
    events = []
    result = engines["plain"].render(request("tiny-vqgan", {}, steps=6), on_progress=events.append)
    assert [e.loss for e in events] == result.losses


@pytest.mark.parametrize(("model", "options"), PAINTERS[:3])
def test_checkpointed_network_gives_the_same_picture_and_gradient(engines, model, options):
    from engine.generators import generator_class
    from engine.weights import lookup

    net = engines["plain"].network(model)
    torch.manual_seed(0)
    generator = generator_class(lookup(model).family)(net, 64, 64, torch.device("cpu"), **options)
    pictures, grads = [], []
    for checkpoint in (False, True):
        generator.checkpoint = checkpoint
        picture = generator.decode()
        picture.square().mean().backward()
        pictures.append(picture.detach())
        grads.append([p.grad.clone() for p in generator.parameters()])
        for p in generator.parameters():
            p.grad = None
    torch.testing.assert_close(pictures[0], pictures[1])
    for plain, recomputed in zip(*grads, strict=True):
        torch.testing.assert_close(plain, recomputed)


def test_decode_in_segments_is_tamings_forward(engines):
    decoder = engines["plain"].network("tiny-vqgan").decoder
    h = torch.randn(2, decoder.conv_in.in_channels, 4, 4)
    torch.testing.assert_close(decode_in_segments(decoder, h), decoder(h))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", Speed()),
        ("fast", Speed.fast()),
        ("fast,-checkpoint", dataclasses.replace(Speed.fast(), checkpoint=False)),
        ("plain, +compile, +channels_last", Speed(compile=True, channels_last=True)),
    ],
)
def test_speed_parses(text, expected):
    assert Speed.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quick", "must start with fast or plain"),
        ("fast,-turbo", "'-turbo' in speed 'fast,-turbo' is not"),
        ("fast,compile", "is not +SWITCH or -SWITCH"),
        ("fast,", "is not +SWITCH"),
        ("", "must start with fast or plain"),
    ],
)
def test_bad_speed_is_refused_with_the_switches(text, message):
    with pytest.raises(SpeedError, match=re.escape(message)):
        Speed.parse(text)


def test_the_fast_preset_checkpoints_on_gpus_only():
    assert Speed.parse("fast", "cuda").checkpoint and Speed.parse("fast,-checkpoint", "cuda") == Speed.fast("cpu")
    assert not Speed.parse("fast", "cpu").checkpoint and Speed.parse("fast,+checkpoint", "cpu") == Speed.fast("cuda")


def test_a_device_keeps_only_what_it_can_use():
    fast = Speed.fast()
    assert not fast.for_device("cpu", native_bf16=False).autocast
    assert fast.for_device("cpu", native_bf16=True).autocast
    assert not fast.for_device("cpu", native_bf16=True).cudnn_benchmark
    assert fast.for_device("cuda", native_bf16=True) == fast
    assert fast.checkpoint_for(512, 512) and not fast.checkpoint_for(256, 256)
    assert not Speed().checkpoint_for(1024, 1024)
