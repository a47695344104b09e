"""Per-server settings: what moderators type, settings that contradict each other, and a new server's start."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.settings import SETTINGS, GuildSettings, ServerRefs, SettingError, parse_setting

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


def test_new_servers_start_from_the_config_defaults():
    assert GuildSettings.from_defaults("tiny-vqgan", 50, "64x64") == BASE
    raised = GuildSettings.from_defaults("tiny-vqgan", 3000, "1024x256")
    assert raised.max_steps == 3000 and raised.max_size == "1024x512"
    raised.check()


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(sorted(SETTINGS)),
    text=st.one_of(st.text(max_size=300), st.from_regex(r"<[#@]&?\d{1,6000}>", fullmatch=True)),
)
def test_any_value_is_taken_or_refused_in_words(key, text):
    """Whatever a moderator types, the answer is a value or a ``SettingError``: never a crash."""
    try:
        parse_setting(key, text)
    except SettingError as error:
        assert str(error).strip()


def test_absurdly_long_numbers_are_refused_in_words():
    for key, text in (("cooldown", "9" * 5000), ("channels", f"<#{'1' * 5000}>"), ("max_size", "1" * 5000 + "x2")):
        with pytest.raises(SettingError):
            parse_setting(key, text)


def test_moderator_role_and_channels_must_be_the_servers_own():
    server = ServerRefs(guild_id=100, roles=frozenset({100, 200}), channels=frozenset({300}))
    server.check("moderator_role", 200)
    server.check("channels", (300,))
    server.check("moderator_role", None)
    with pytest.raises(SettingError, match="@everyone cannot be the moderator role"):
        server.check("moderator_role", 100)
    with pytest.raises(SettingError, match="is not a role of this server"):
        server.check("moderator_role", 999)
    with pytest.raises(SettingError, match="<#301> is not a channel of this server"):
        server.check("channels", (300, 301))
