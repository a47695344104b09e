"""The fast path computes what the plain path computes: same losses within a stated tolerance, same determinism.

Tolerances, on losses of about 1.0 over 10 to 20 steps of the tiny models:
- float32 switches (channels_last, batched cutouts, sync-free, checkpointing) and batching: 5e-3.
  They only reorder float sums, but VQGAN's nearest-code quantization can turn a last-bit
  difference into another code, so its trajectory drifts by up to about 1e-3;
- bf16 autocast: 2e-2 (seen: at most 9.5e-3, with the Fourier image).
This CPU has no native bf16, so the bf16 path runs emulated (about 50x slower) on small requests.
"""

from __future__ import annotations

import pytest
from PIL import Image

from contract import speed as speed_module
from contract.errors import JobCancelled
from contract.protocol import RenderRequest
from engine import models
from engine.pipeline import Engine, RenderTask
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
    monkeypatch.setattr(models, "native_bf16", lambda device: True)
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
    together = engine.render_batch([RenderTask(r) for r in jobs])
    for alone_request, batched in zip(jobs, together, strict=True):
        alone = engine.render(alone_request)
        assert max_gap(alone.losses, batched.losses) <= FLOAT32_TOLERANCE
        assert batched.image.size == (64, 64)


def test_a_cancelled_job_leaves_the_batch_and_the_rest_finish(engines):
    engine = engines["fast32"]
    done: list[int] = []
    stopper = RenderTask(
        request("tiny-vqgan", {}, steps=12), on_progress=lambda event: done.append(event.step), should_stop=lambda: len(done) >= 4
    )
    keeper = RenderTask(request("tiny-vqgan", {}, steps=12, seed=5))
    cancelled, finished = engine.render_batch([stopper, keeper])
    assert isinstance(cancelled, JobCancelled) and cancelled.step == 4
    assert len(finished.losses) == 12
    alone = engine.render(keeper.request)
    assert max_gap(alone.losses, finished.losses) <= FLOAT32_TOLERANCE


def test_a_batch_must_share_model_and_size(engines):
    jobs = [RenderTask(request("tiny-vqgan", {})), RenderTask(request("tiny-vqgan", {}, width=48))]
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
