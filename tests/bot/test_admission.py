"""What a /dream may ask for under a server's settings: defaults, limits, banned words, style and quotas."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.admission import DreamOptions, Refusal, banned_word, build_request, check_quota, styled
from bot.settings import GuildSettings, SettingError

BASE = GuildSettings(model="tiny-vqgan", steps=50, size="64x64")


def test_banned_words_match_whole_words_only():
    assert banned_word("A Gory scene", ("gore",)) is None
    assert banned_word("gore-fest", ("gore",)) == "gore"
    assert banned_word("red blood cells", ("gore", "red blood")) == "red blood"


def test_style_is_one_more_prompt_and_never_doubled():
    assert styled("a castle:2 | fog:-1", "unreal engine") == "a castle:2 | fog:-1 | unreal engine"
    assert styled("a castle, Unreal Engine", "unreal engine") == "a castle, Unreal Engine"
    assert styled("a castle", "") == "a castle"


def test_requests_take_server_defaults_and_limits():
    request = build_request(DreamOptions("a castle", seed=5), BASE, "tiny-clip", 10)
    assert (request.steps, request.size, request.model, request.seed) == (50, "64x64", "tiny-vqgan", 5)
    assert request.perceptor == "tiny-clip" and request.preview_every == 10
    seeds = {build_request(DreamOptions("a castle"), BASE, "tiny-clip", 10).seed for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= seed < 2**31 for seed in seeds)
    with pytest.raises(Refusal, match="seed"):
        build_request(DreamOptions("a castle", seed=-1), BASE, "tiny-clip", 10)


def test_the_size_follows_a_fixed_size_model():
    """BigGAN paints one size: without a size a request gets it; another size, or one above the limit, is refused."""
    request = build_request(DreamOptions("a castle", model="biggan-deep-128"), BASE, "tiny-clip", 10)
    assert (request.model, request.size) == ("biggan-deep-128", "128x128")
    assert build_request(DreamOptions("a castle", model="siren"), BASE, "tiny-clip", 10).size == "64x64"
    with pytest.raises(Refusal, match="biggan-deep-128 paints 128x128 only, not 64x64"):
        build_request(DreamOptions("a castle", model="biggan-deep-128", size="64x64"), BASE, "tiny-clip", 10)
    small = dataclasses.replace(BASE, max_size="256x256")
    with pytest.raises(Refusal, match=r"512x512 is larger than this server allows \(256x256\)"):
        build_request(DreamOptions("a castle", model="biggan-deep-512"), small, "tiny-clip", 10)


def test_a_fixed_size_default_model_keeps_the_default_size_for_other_models():
    biggan_server = GuildSettings("biggan-deep-256", 50, "64x64")
    biggan_server.check()
    assert build_request(DreamOptions("a castle"), biggan_server, "tiny-clip", 10).size == "256x256"
    assert build_request(DreamOptions("a castle", model="pixels"), biggan_server, "tiny-clip", 10).size == "64x64"
    with pytest.raises(SettingError, match=r"the default model paints 512x512, larger than max_size \(256x256\)"):
        GuildSettings("biggan-deep-512", 50, "64x64", max_size="256x256").check()


def test_quota_and_cooldown():
    strict = GuildSettings("tiny-vqgan", 50, "64x64", jobs_per_user=2, cooldown=60)
    check_quota(strict, 1, 1000.0, 1061.0)
    with pytest.raises(Refusal, match="already have 2"):
        check_quota(strict, 2, None, 0.0)
    with pytest.raises(Refusal, match="again in 30s"):
        check_quota(strict, 0, 1000.0, 1030.0)


@pytest.mark.parametrize(
    "disguised",
    ["ＧＯＲＥ fest", "g\u200bore", "go\u00adre", "GORE", "gO\u200dRe", "𝐠𝐨𝐫𝐞"],
    ids=["full-width", "zero-width space", "soft hyphen", "upper case", "zero-width joiner", "bold letters"],
)
def test_banned_words_see_through_unicode_disguises(disguised):
    assert banned_word(f"a {disguised} scene", ("gore",)) == "gore"
    assert banned_word("a scene", ("gore",)) is None


def test_absurd_numbers_are_refused_like_any_bad_value():
    for size in ("9" * 5000 + "x256", "256x" + "1" * 40):
        with pytest.raises(Refusal, match="WIDTHxHEIGHT"):
            build_request(DreamOptions("a castle", size=size), BASE, "tiny-clip", 10)


@settings(max_examples=300, deadline=None)
@given(
    prompt=st.text(max_size=1200),
    size=st.one_of(st.none(), st.text(max_size=40), st.from_regex(r"\d{1,8}[xX×]\d{1,8}", fullmatch=True)),
    steps=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    seed=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    model=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["tiny-vqgan", "biggan-deep-512", "pixels"])),
)
def test_any_dream_is_queued_or_refused_in_words(prompt, size, steps, seed, model):
    """Whatever a member types, the answer is a request within the server's limits or a ``Refusal``: never a crash."""
    try:
        request = build_request(DreamOptions(prompt, seed, steps, size, model), BASE, "tiny-clip", 10)
    except Refusal as refusal:
        assert str(refusal).strip()
        return
    assert 1 <= request.steps <= BASE.max_steps and 0 <= request.seed <= 2**53
    assert request.width <= 512 and request.height <= 512
