"""Speed settings: parsing, refusals, the presets and what each device keeps."""

from __future__ import annotations

import dataclasses
import re

import pytest

from contract.speed import Speed, SpeedError


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
