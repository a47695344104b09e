import dataclasses

import pytest

from bot.admission import DreamOptions, Refusal, banned_word, build_request, check_quota, styled
from bot.settings import GuildSettings, SettingError, parse_setting

BASE = GuildSettings(model="tiny-vqgan", steps=50, size="64x64")


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("steps", " 120 ", 120),
        ("size", "128X96", "128x96"),
        ("cooldown", "90", 90),
        ("cooldown", "5m", 300),
        ("cooldown", "1h", 3600),
        ("channels", "<#123456789> 987654321, <#123456789>", (123456789, 987654321)),
        ("channels", "none", ()),
        ("banned_words", "Gore,  blood ,gore", ("gore", "blood")),
        ("moderator_role", "<@&555555555>", 555555555),
        ("moderator_role", "none", None),
        ("style", " unreal engine ", "unreal engine"),
        ("model", "vqgan-imagenet-f16-1024", "vqgan-imagenet-f16-1024"),
        ("model", "biggan-deep-256", "biggan-deep-256"),
        ("model", " siren ", "siren"),
    ],
)
def test_values_parse(key, text, value):
    assert parse_setting(key, text) == value


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("nope", "1", "no setting 'nope'; settings: model, steps"),
        ("steps", "0", "out of range"),
        ("steps", "ten", "not a whole number"),
        ("size", "9999x9999", "sides must be between"),
        ("cooldown", "2d", "not a duration"),
        ("cooldown", "48h", "at most 86400"),
        ("channels", "#general", "not a channel"),
        ("moderator_role", "<@&1111111> <@&2222222>", "one role"),
        ("style", "a | b", "may not contain '|'"),
        ("model", "ViT-B-32/openai", "not a generator"),
    ],
)
def test_bad_values_say_what_would_work(key, text, message):
    with pytest.raises(SettingError, match=message.replace("|", r"\|")):
        parse_setting(key, text)


def test_contradictions_are_refused():
    with pytest.raises(SettingError, match="above max_steps"):
        GuildSettings("tiny-vqgan", 500, "64x64", max_steps=100).check()
    with pytest.raises(SettingError, match="larger than max_size"):
        GuildSettings("tiny-vqgan", 50, "640x640").check()
    with pytest.raises(SettingError, match="multiples of 16"):
        GuildSettings("vqgan-imagenet-f16-16384", 50, "100x100").check()
    BASE.check()


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


def test_new_servers_start_from_the_config_defaults():
    assert GuildSettings.from_defaults("tiny-vqgan", 50, "64x64") == BASE
    raised = GuildSettings.from_defaults("tiny-vqgan", 3000, "1024x256")
    assert raised.max_steps == 3000 and raised.max_size == "1024x512"
    raised.check()
