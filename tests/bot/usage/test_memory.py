"""Memory-aware admission and routing: a job whose predicted peak fits no executor is refused with the largest size
that fits, and a remote job goes only to a worker with the memory for it."""

from __future__ import annotations

import dataclasses

import pytest

from bot.admission.refusal import Refusal
from bot.usage.memory import check_fits, largest_fitting
from contract.costs import predict
from contract.protocol import RenderRequest
from contract.wire import WorkerInfo

VQGAN = RenderRequest("a castle", width=512, height=384)  # the default generator: about 6.9 GiB predicted


def test_the_largest_fitting_size_is_the_largest_that_fits():
    memory = 4.0
    width, height = largest_fitting(VQGAN, memory)
    assert (width % 16, height % 16) == (0, 0) and abs(width / height - 512 / 384) < 0.1, "the shape is kept"
    assert predict(dataclasses.replace(VQGAN, width=width, height=height)).memory_gib <= memory
    bigger = dataclasses.replace(VQGAN, width=width + 16, height=round((width + 16) * 384 / 512 / 16) * 16)
    assert predict(bigger).memory_gib > memory, "one step larger would not fit"
    assert largest_fitting(VQGAN, 0.5) is None


def test_a_job_that_fits_no_executor_is_refused_with_what_would_fit():
    check_fits(VQGAN, [])  # nobody said: nothing is refused
    check_fits(VQGAN, [4.0, 16.0])  # fits the larger one
    with pytest.raises(Refusal) as refused:
        check_fits(VQGAN, [2.0, 4.0])
    width, height = largest_fitting(VQGAN, 4.0)
    need = predict(VQGAN).memory_gib
    assert str(refused.value) == (
        f"This needs about {need:.1f} GiB of memory, more than any engine here has (the largest: 4.0 GiB). The largest "
        f"size that fits is {width}x{height}; fewer cutouts save memory too."
    )
    set_of_four = dataclasses.replace(VQGAN, width=256, height=256, count=4)
    with pytest.raises(Refusal, match="One picture at a time fits: ask for count 1."):
        check_fits(set_of_four, [4.0])
    stylegan = RenderRequest("a face", model="stylegan3-r-afhqv2-512", width=512, height=512)
    with pytest.raises(Refusal, match="Try a smaller picture, another model or fewer perceptors.$"):
        check_fits(stylegan, [16.0])  # one native size: no smaller size to offer


def test_a_models_measured_peaks_scale_what_admission_judges():
    fits = dataclasses.replace(VQGAN, width=256, height=256)  # about 3.6 GiB by the table
    check_fits(fits, [4.0])
    with pytest.raises(Refusal, match="The largest size that fits is") as refused:
        check_fits(fits, [4.0], scale=2.0)  # its jobs measured twice the table's figure
    width, _ = map(int, str(refused.value).split("fits is ")[1].split(";")[0].split("x"))
    assert width < 256 and width == largest_fitting(fits, 4.0, 2.0)[0]


def test_a_worker_paints_only_what_fits_its_memory_where_it_said():
    small = WorkerInfo("small", "cuda", ("vqgan-imagenet-f16-16384",), 1024, memory_gib=4.0)
    silent = dataclasses.replace(small, worker_id="old", memory_gib=0.0)
    need = predict(VQGAN).memory_gib
    assert not small.can_paint(VQGAN.model, 512, 384, need) and small.can_paint(VQGAN.model, 512, 384, 3.9)
    assert silent.can_paint(VQGAN.model, 512, 384, need), "a worker that did not say is not held to a figure"


@pytest.mark.parametrize("memory", [-1, "16", True, float("nan"), float("inf"), 1e30])
def test_an_announced_memory_that_is_not_a_size_is_refused(memory):
    announced = {"worker_id": "w", "device": "cuda", "models": ["pixels"], "max_side": 512, "memory_gib": memory}
    with pytest.raises(ValueError, match="memory_gib"):
        WorkerInfo.from_dict(announced)
    assert WorkerInfo.from_dict({**announced, "memory_gib": 24}).memory_gib == 24.0
    del announced["memory_gib"]
    assert WorkerInfo.from_dict(announced).memory_gib == 0.0, "an older worker's announcement"
