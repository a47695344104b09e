"""Per-server settings: what moderators type, settings that contradict each other, and a new server's start."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.admission.settings import (
    MAX_STYLE_CHARS,
    SERVER_ONLY,
    SETTINGS,
    SHOWN_CHARS,
    GuildSettings,
    ServerRefs,
    SettingError,
    SettingsStore,
    describe,
    parse_setting,
)
from bot.queue.store import Store
from contract.limits import MAX_SIDE, MAX_STEPS
from contract.registry import generator_names

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
        ("clip_concepts", " a weapon, Gore ,, a weapon", ("a weapon", "Gore")),
        ("clip_concepts", "off", ()),
        ("clip_threshold", " 0.25 ", 0.25),
        ("daily_gpu_minutes", " 30 ", "30"),
        ("daily_gpu_minutes", "7.5, <@&555555555> 120 , 666666666 none", "7.5, <@&555555555> 120, <@&666666666> none"),
        ("daily_gpu_minutes", "None", "none"),
        ("daily_gpu_minutes", "none, <@&555555555> 60", "none, <@&555555555> 60"),
        ("fairness", "Least_Used", "least_used"),
        ("fairness", "turns", "turns"),
        ("max_size", " AUTO ", "auto"),
        ("usage_window", "168", 168),
        ("clip_threshold", "1", 1.0),
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
        ("nope", "1", f"there is no setting 'nope'; settings: {', '.join(SETTINGS)}"),
        ("steps", "0", f"0 is out of range; use one from 1 to {MAX_STEPS}"),
        ("steps", str(MAX_STEPS + 1), f"{MAX_STEPS + 1} is out of range; use one from 1 to {MAX_STEPS}"),
        ("jobs_per_user", "101", "101 is out of range; use one from 1 to 100"),
        ("steps", "ten", f"'ten' is not a whole number; use one from 1 to {MAX_STEPS}"),
        ("size", "9999x9999", f"sides must be between 1 and {MAX_SIDE} pixels"),
        ("size", f"{MAX_SIDE + 1}x64", f"sides must be between 1 and {MAX_SIDE} pixels"),
        ("size", f"64x{MAX_SIDE + 1}", f"sides must be between 1 and {MAX_SIDE} pixels"),
        ("size", "0x64", f"sides must be between 1 and {MAX_SIDE} pixels"),
        ("max_size", "64x0", f"sides must be between 1 and {MAX_SIDE} pixels"),
        ("size", "64by64", "size '64by64' is not of the form WIDTHxHEIGHT, e.g. 256x256"),
        ("cooldown", "2d", "'2d' is not a duration; use seconds (30), or 30s, 5m, 1h"),
        ("cooldown", "48h", "the cooldown may be at most 86400 seconds (24h)"),
        ("cooldown", "86401", "the cooldown may be at most 86400 seconds (24h)"),
        ("channels", "#general", "'#general' is not a channel; mention it (#channel, @role) or give its id, or say 'none'"),
        (
            "moderator_role",
            "moderators",
            "'moderators' is not a role; mention it (#channel, @role) or give its id, or say 'none'",
        ),
        ("moderator_role", "<@&1111111> <@&2222222>", "give one role (or 'none')"),
        ("style", "a | b", "the style is one prompt; it may not contain '|'"),
        ("style", "x" * (MAX_STYLE_CHARS + 1), f"the style is {MAX_STYLE_CHARS + 1} characters long; at most {MAX_STYLE_CHARS}"),
        ("banned_words", "gore, " + "x" * 101, "each banned word or phrase may be at most 100 characters"),
        ("clip_concepts", "gore, " + "x" * 101, "each concept may be at most 100 characters"),
        ("clip_concepts", ",".join(f"c{n}" for n in range(21)), "at most 20 concepts, not 21"),
        ("clip_threshold", "1.01", "1.01 is out of range; use one from 0 to 1 (e.g. 0.5)"),
        ("clip_threshold", "-0.1", "-0.1 is out of range; use one from 0 to 1 (e.g. 0.5)"),
        ("clip_threshold", "nan", "nan is out of range; use one from 0 to 1 (e.g. 0.5)"),
        ("clip_threshold", "half", "'half' is not a number; use one from 0 to 1 (e.g. 0.5)"),
        ("daily_gpu_minutes", "", "give GPU-minutes a day (30), or none; roles after it: 30, @vip 120"),
        ("daily_gpu_minutes", "lots", "'lots' is not a number of minutes (or none)"),
        ("daily_gpu_minutes", "-1", "-1 minutes is out of range; use 0 to 1440, or none"),
        ("daily_gpu_minutes", "1441", "1441 minutes is out of range; use 0 to 1440, or none"),
        ("daily_gpu_minutes", "nan", "nan minutes is out of range; use 0 to 1440, or none"),
        ("daily_gpu_minutes", "30, vip 120", "'vip 120' is not a role and its minutes, e.g. @vip 120 (or @vip none)"),
        ("daily_gpu_minutes", "30, <@&555555555>", "'<@&555555555>' is not a role and its minutes, e.g. @vip 120 (or @vip none)"),
        ("fairness", "random", "'random' is not a fairness rule; use one of: turns, least_used"),
        ("pan_share", "0.05", "0.05 is out of range; a pan grows the canvas by 0.1 to 1 of the picture"),
        ("vary_grid", "wild", "'wild' is neither subtle nor strong"),
        ("usage_window", "0", "0 is out of range; use one from 1 to 720"),
        ("model", "ViT-B-32/openai", f"'ViT-B-32/openai' is not a generator; choose one of: {', '.join(generator_names())}"),
    ],
)
def test_bad_values_say_exactly_what_would_work(key, text, message):
    with pytest.raises(SettingError) as refused:
        parse_setting(key, text)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("steps", "1", 1),
        ("steps", str(MAX_STEPS), MAX_STEPS),
        ("jobs_per_user", "100", 100),
        ("size", f"{MAX_SIDE}x1", f"{MAX_SIDE}x1"),
        ("max_size", f"1x{MAX_SIDE}", f"1x{MAX_SIDE}"),
        ("style", "x" * MAX_STYLE_CHARS, "x" * MAX_STYLE_CHARS),
        ("cooldown", "86400", 86400),
        ("cooldown", "24h", 86400),
        ("cooldown", "2min", 120),
        ("cooldown", " 45 S ", 45),
        ("cooldown", "10sec", 10),
        ("banned_words", "x" * 100, ("x" * 100,)),
        ("banned_words", "ALL", ()),
        ("banned_words", " None ", ()),
        ("channels", "OFF", ()),
        ("moderator_role", "12345", 12345),
    ],
)
def test_values_at_the_edges_are_taken(key, text, value):
    assert parse_setting(key, text) == value


def test_show_lists_at_most_ten_items_and_clips_long_values():
    nine, ten, eleven = (tuple(f"w{i}" for i in range(n)) for n in (9, 10, 11))
    shown = {n: dict((key, value) for key, value, _ in describe(replace(BASE, banned_words=words))) for n, words in
             ((9, nine), (10, ten), (11, eleven))}  # fmt: skip
    assert shown[10]["banned_words"] == ", ".join(ten)
    assert shown[11]["banned_words"] == ", ".join(ten) + " and 1 more"
    assert dict((k, v) for k, v, _ in describe(BASE))["banned_words"] == "none"
    assert dict((k, v) for k, v, _ in describe(BASE))["style"] == "none"
    exactly = replace(BASE, style="x" * SHOWN_CHARS)
    over = replace(BASE, style="y" * (SHOWN_CHARS + 1))
    assert dict((k, v) for k, v, _ in describe(exactly))["style"] == "x" * SHOWN_CHARS
    assert dict((k, v) for k, v, _ in describe(over))["style"] == "y" * (SHOWN_CHARS - 1) + "…"
    assert dict((k, v) for k, v, _ in describe(replace(BASE, channels=(7, 8))))["channels"] == "<#7>, <#8>"


def test_contradictions_are_refused():
    with pytest.raises(SettingError, match="above max_steps"):
        GuildSettings("tiny-vqgan", 500, "64x64", max_steps=100).check()
    with pytest.raises(SettingError, match=r"the default size \(640x640\) would be larger than max_size \(512x512\)"):
        GuildSettings("tiny-vqgan", 50, "640x640").check()
    with pytest.raises(SettingError, match="would be larger than max_size"):
        GuildSettings("tiny-vqgan", 50, "66x64", max_size="64x64").check()
    with pytest.raises(SettingError, match="would be larger than max_size"):
        GuildSettings("tiny-vqgan", 50, "64x66", max_size="64x64").check()
    with pytest.raises(SettingError, match=r"the default model paints 128x128, larger than max_size \(128x64\)"):
        GuildSettings("biggan-deep-128", 50, "64x64", max_size="128x64").check()
    with pytest.raises(SettingError, match=r"the default model paints 128x128, larger than max_size \(64x128\)"):
        GuildSettings("biggan-deep-128", 50, "64x64", max_size="64x128").check()
    GuildSettings("tiny-vqgan", 100, "64x64", max_steps=100, max_size="64x64").check()
    with pytest.raises(SettingError, match="multiples of 16"):
        GuildSettings("vqgan-imagenet-f16-16384", 50, "100x100").check()
    with pytest.raises(SettingError, match=r"^vary_subtle \(0.7\) would be stronger than vary_strong \(0.6\)$"):
        replace(BASE, vary_subtle=0.7).check()
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
    with pytest.raises(SettingError, match="^@everyone cannot be the moderator role; pick a role that only moderators have$"):
        server.check("moderator_role", 100)
    with pytest.raises(SettingError, match="is not a role of this server"):
        server.check("moderator_role", 999)
    with pytest.raises(SettingError, match="<#301> is not a channel of this server"):
        server.check("channels", (300, 301))
    server.check("daily_gpu_minutes", "30, <@&200> 60")
    with pytest.raises(SettingError, match="^<@&999> is not a role of this server; mention its roles$"):
        server.check("daily_gpu_minutes", "30, <@&200> 60, <@&999> none")


async def test_the_store_keeps_each_servers_settings_apart_and_whole(tmp_path):
    store = await Store.open(tmp_path / "dreambot.sqlite3")
    try:
        settings = SettingsStore(store, BASE)
        one, other = 111, 222
        updated = await settings.set(one, "channels", "<#300> <#301>", ServerRefs(one, frozenset(), frozenset({300, 301})))
        assert updated.channels == (300, 301) and (await settings.get(one)).channels == (300, 301)
        assert await settings.get(other) == BASE
        with pytest.raises(SettingError, match="<#302> is not a channel of this server"):
            await settings.set(one, "channels", "<#302>", ServerRefs(one, frozenset(), frozenset({300})))
        with pytest.raises(SettingError, match="above max_steps"):
            await settings.set(one, "steps", "2000")
        assert (await settings.get(one)).steps == BASE.steps, "a refused value writes nothing"
        await settings.set(one, "max_steps", "3000")
        await settings.set(one, "steps", "2000")
        with pytest.raises(SettingError, match="above max_steps"):
            await settings.reset(one, "max_steps")
        assert (await SettingsStore(store, BASE).get(one)).max_steps == 3000
        await settings.reset(one, "steps")
        reset = await settings.reset(one, "channels")
        assert reset.channels == () and reset.steps == BASE.steps and reset.max_steps == 3000
        with pytest.raises(SettingError, match="there is no setting 'nope'"):
            await settings.reset(one, "nope")
    finally:
        await store.close()


async def test_a_channels_values_fall_back_to_the_servers_and_stay_whole_when_the_server_changes(tmp_path):
    store = await Store.open(tmp_path / "dreambot.sqlite3")
    try:
        settings = SettingsStore(store, BASE)
        guild, art, chat = 111, 500, 501
        await settings.set(guild, "max_steps", "800")
        here = await settings.set(guild, "steps", "700", channel_id=art)
        assert (here.steps, here.max_steps) == (700, 800)
        assert (await settings.get(guild, art)).steps == 700 and (await settings.get(guild, chat)).steps == BASE.steps
        assert (await settings.get(guild)).steps == BASE.steps
        assert await settings.sources(guild, art) == {
            **dict.fromkeys(SETTINGS, "default"),
            "max_steps": "server",
            "steps": "channel",
        }
        with pytest.raises(SettingError, match=r"in <#500>, which has settings of its own, the default steps \(700\)"):
            await settings.set(guild, "max_steps", "600")
        with pytest.raises(SettingError, match="above max_steps"):
            await settings.set(guild, "steps", "900", channel_id=chat)
        with pytest.raises(SettingError, match="a setting of the whole server"):
            await settings.set(guild, "moderator_role", "none", channel_id=art)
        assert await store.channel_settings(guild) == {art: {"steps": 700}} and await store.settings(guild) == {"max_steps": 800}
        back = await settings.reset(guild, "steps", channel_id=art)
        assert back.steps == BASE.steps and await store.channel_settings(guild) == {}
        assert (await settings.set(guild, "max_steps", "600")).max_steps == 600
    finally:
        await store.close()


# Every setting, as a moderator types a value away from the default.
TYPED = {
    "model": "pixels",
    "steps": "60",
    "size": "48x48",
    "style": "unreal engine",
    "max_steps": "900",
    "max_size": "256x256",
    "max_frames": "50",
    "max_scenes": "5",
    "max_count": "2",
    "advanced": "off",
    "perceptors": "ViT-B-16/openai",
    "jobs_per_user": "2",
    "cooldown": "30s",
    "channels": "<#300>",
    "banned_words": "gore, dragon",
    "moderator_role": "<@&200>",
    "flagged": "withhold",
    "clip_concepts": "gore, a weapon , gore",
    "clip_threshold": "0.35",
    "daily_gpu_minutes": "30, <@&200> 120, <@&201> none",
    "fairness": "least-used",
    "usage_window": "48",
    "vary_subtle": "0.1",
    "vary_strong": "0.9",
    "vary_grid": "Subtle",
    "builtin_presets": "off",
    "gallery": "members",
    "pan_share": "0.25",
    "audit_channel": "<#301>",
    "blocked_roles": "<@&201>, <@&202>",
}


def test_every_setting_has_a_typed_value_away_from_its_default():
    assert set(TYPED) == set(SETTINGS)
    assert all(parse_setting(key, text) != getattr(BASE, key) for key, text in TYPED.items())


@pytest.mark.parametrize("key", TYPED)
async def test_each_setting_survives_reopening_and_changes_nothing_else(tmp_path, key):
    value = parse_setting(key, TYPED[key])
    store = await Store.open(tmp_path / "dreambot.sqlite3")
    try:
        await SettingsStore(store, BASE).set(111, key, TYPED[key])
    finally:
        await store.close()
    store = await Store.open(tmp_path / "dreambot.sqlite3")
    try:
        settings = SettingsStore(store, BASE)
        assert await settings.get(111) == replace(BASE, **{key: value})
        assert await settings.get(222) == BASE, "another server is untouched"
        shown = {name: text for name, text, _ in describe(await settings.get(111))}
        assert shown[key] == SETTINGS[key].show(value) and shown[key] != SETTINGS[key].show(getattr(BASE, key))
    finally:
        await store.close()


@pytest.mark.parametrize("key", [key for key in TYPED if key not in SERVER_ONLY])
async def test_a_channels_setting_leaves_the_other_channel_and_the_server_untouched(tmp_path, key):
    value = parse_setting(key, TYPED[key])
    store = await Store.open(tmp_path / "dreambot.sqlite3")
    try:
        settings = SettingsStore(store, BASE)
        guild, art, chat = 111, 500, 501
        assert getattr(await settings.set(guild, key, TYPED[key], channel_id=art), key) == value
        assert await settings.get(guild, chat) == BASE and await settings.get(guild) == BASE
        await settings.set(guild, key, TYPED[key], channel_id=chat)
        assert await settings.reset(guild, key, channel_id=art) == BASE
        assert await settings.get(guild, chat) == replace(BASE, **{key: value}), "the other channel keeps its own"
        assert await settings.get(guild, art) == BASE and await settings.get(guild) == BASE
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("text", "value"),
    [("on", True), (" YES ", True), ("true", True), ("1", True), ("off", False), ("No", False), ("FALSE", False), ("0", False)],
)
def test_a_switch_takes_each_spelling_of_on_and_off(text, value):
    assert parse_setting("advanced", text) is value


@pytest.mark.parametrize("text", ["maybe", "2", "onn", ""])
def test_a_switch_refuses_anything_else_naming_it(text):
    with pytest.raises(SettingError) as refused:
        parse_setting("advanced", text)
    assert str(refused.value) == f"{text!r} is neither on nor off"


def test_the_threads_learned_from_interactions_are_bounded_the_oldest_forgotten_first(monkeypatch):
    from bot.admission import settings as settings_module

    monkeypatch.setattr(settings_module, "THREADS_KEPT", 3)
    store = SettingsStore(None, BASE)
    for thread in (1, 2, 3):
        store.learn_thread(thread, 100 + thread)
    store.learn_thread(1, 101)  # heard from again: the newest now
    store.learn_thread(4, 104)
    assert [store.home(thread) for thread in (1, 2, 3, 4)] == [101, 2, 103, 104]
