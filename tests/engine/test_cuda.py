"""The CUDA paths: every painter (irfft2 of the Fourier image, the SIREN layers, the rasterizer, the
StyleGANs' filters), determinism, autocast, checkpointing and compile on a GPU.

They need a GPU, so CI (CPU only) skips them; ``bench/gpu_check.sh`` runs them with ``pytest -m cuda``.
Tolerances: a GPU's float32 kernels are not bit-identical from run to run (atomics in the backward
passes), so repeats agree to 1e-3 in the loss, and fast (bf16) paths to 0.05 of a loss near 1.
"""

from __future__ import annotations

import math

import pytest
import torch

from engine.pipeline import Engine
from engine.weights import WeightStore
from tests.support.painters import PAINTERS, request

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def cuda_engine(weights_dir, speed: str = "plain") -> Engine:
    return Engine(WeightStore(weights_dir), "cuda", speed)


@pytest.mark.parametrize(("model", "size", "options"), PAINTERS, ids=[p[0] for p in PAINTERS])
def test_every_painter_runs_on_cuda_and_repeats_itself(weights_dir, model, size, options):
    engine = cuda_engine(weights_dir)
    first = engine.render(request(model, size, options, steps=8))
    again = engine.render(request(model, size, options, steps=8))
    assert first.image.size == (size, size)
    assert all(math.isfinite(loss) for loss in first.losses)
    assert first.losses == pytest.approx(again.losses, abs=1e-3)


def test_cuda_starts_from_the_same_picture_as_the_cpu(weights_dir, engine):
    """Random starts are drawn on the CPU, so a seed means the same picture on every device."""
    on_cpu = engine.render(request("pixels", 64, {}, steps=1))
    on_gpu = cuda_engine(weights_dir).render(request("pixels", 64, {}, steps=1))
    assert on_gpu.losses[0] == pytest.approx(on_cpu.losses[0], abs=1e-3)


@pytest.mark.parametrize("speed", ["fast", "plain,+autocast", "plain,+checkpoint", "plain,+compile"])
def test_each_speed_switch_paints_what_plain_paints(weights_dir, speed):
    plain = cuda_engine(weights_dir).render(request("tiny-vqgan", 64, {}, steps=6))
    switched = cuda_engine(weights_dir, speed).render(request("tiny-vqgan", 64, {}, steps=6))
    assert switched.losses[0] == pytest.approx(plain.losses[0], abs=0.05)
    assert all(math.isfinite(loss) for loss in switched.losses)


def test_a_batch_paints_each_job_as_alone(weights_dir):
    from engine.pipeline import RenderTask

    engine = cuda_engine(weights_dir, "fast")
    alone = [engine.render(request("tiny-vqgan", 64, {}, steps=6, seed=seed)).losses for seed in (3, 4)]
    batch = engine.render_batch([RenderTask(request("tiny-vqgan", 64, {}, steps=6, seed=seed)) for seed in (3, 4)])
    for losses, result in zip(alone, batch, strict=True):
        assert result.losses == pytest.approx(losses, abs=0.05)
