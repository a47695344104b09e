"""/settings: moderators only; unknown keys and bad values refused with what would work; nothing
half-written; settings survive a restart."""

from __future__ import annotations

import dataclasses

import pytest

from bot.admission.settings import SETTINGS, GuildSettings
from cogs.settings import _table
from tests.support.discord_bot import IDLE_ENGINE, option, refused, running_bot, settings, subcommand
from tests.support.discord_emulator import MANAGE_GUILD, Member


@pytest.fixture
def bot(idle_bot):
    """Settings paint nothing: these tests' bot runs the stand-in engine, ready at once."""
    return idle_bot


async def test_only_moderators_change_settings(bot, emulator):
    member = Member(emulator.snowflake(), "member")
    assert "Only moderators" in await settings(emulator, "set", member, key="max_steps", value="50")
    assert (await bot.settings.get(emulator.guild_id)).max_steps == 1000

    role_holder = Member(emulator.snowflake(), "helper", roles=(emulator.mod_role_id,))
    assert "Only moderators" in await settings(emulator, "show", role_holder)
    owner = Member(emulator.snowflake(), "owner", permissions=MANAGE_GUILD)
    assert "is now <@&" in await settings(emulator, "set", owner, key="moderator_role", value=f"<@&{emulator.mod_role_id}>")
    assert "is now 50" in await settings(emulator, "set", role_holder, key="max_steps", value="50")


async def test_set_show_reset_and_refusals(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    shown = await settings(emulator, "show", mod)
    assert "**steps** = 6" in shown and "**max_size** = 512x512" in shown and "**style** = none" in shown

    text = await settings(emulator, "set", mod, key="colour", value="blue")
    assert "no setting 'colour'" in text and "max_steps" in text and "banned_words" in text
    assert "not a whole number" in await settings(emulator, "set", mod, key="steps", value="lots")
    assert "choose one of" in await settings(emulator, "set", mod, key="model", value="dall-e")
    assert "not a duration" in await settings(emulator, "set", mod, key="cooldown", value="soon")
    assert "default steps (6) would be above max_steps (4)" in await settings(emulator, "set", mod, key="max_steps", value="4")
    assert "multiples of 2" in await settings(emulator, "set", mod, key="size", value="33x33")
    assert await bot.store.settings(emulator.guild_id) == {}, "a refused value must write nothing"

    assert "is now unreal engine" in await settings(emulator, "set", mod, key="style", value="unreal engine")
    assert "is now 300s" in await settings(emulator, "set", mod, key="cooldown", value="5m")
    assert "is now 64x64" in await settings(emulator, "set", mod, key="size", value="64X64")
    interaction = await emulator.slash("dream", [option("prompt", "a fairy house")])
    text = await emulator.wait_for(lambda: emulator.reply_text(interaction))
    job = await bot.store.job(text.split("`")[1])
    assert job.request.prompt == "a fairy house | unreal engine" and job.request.size == "64x64"

    assert "is back to none" in await settings(emulator, "reset", mod, key="style")
    assert await bot.store.settings(emulator.guild_id) == {"cooldown": 300, "size": "64x64"}


async def test_settings_survive_a_restart(config, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    async with running_bot(config, emulator, IDLE_ENGINE):
        assert "is now" in await settings(emulator, "set", mod, key="banned_words", value="gore, spiders")
    async with running_bot(config, emulator, IDLE_ENGINE) as bot:
        assert (await bot.settings.get(emulator.guild_id)).banned_words == ("gore", "spiders")
        assert "**banned_words** = gore, spiders" in await settings(emulator, "show", mod)


def test_settings_show_fits_one_embed_whatever_the_settings_hold():
    crowded = dataclasses.replace(
        GuildSettings("tiny-vqgan", 50, "64x64"),
        style="s" * 200,
        banned_words=tuple("w" * 100 + str(i) for i in range(300)),
        channels=tuple(range(10**17, 10**17 + 300)),
    )
    table = _table(crowded, dict.fromkeys(SETTINGS, "channel"))
    assert len(table) <= 4096 and "banned_words" in table and "and 290 more" in table
    assert "  ·  " in _table(GuildSettings("tiny-vqgan", 50, "64x64"), dict.fromkeys(SETTINGS, "default")), "help fits"


async def test_a_channel_has_its_own_values_over_the_servers_and_show_says_where_each_comes_from(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    here, other = emulator.channel_id, emulator.other_channel_id
    assert "**max_steps** is now 60." in await settings(emulator, "set", mod, key="max_steps", value="60")
    assert f"is now oil painting in <#{other}>" in await settings(
        emulator, "set", mod, key="style", value="oil painting", channel=f"<#{other}>"
    )
    assert "is now 40 in <#" in await settings(emulator, "set", mod, key="steps", value="40", channel="here")
    shown = await settings(emulator, "show", mod, channel="here")
    assert "**steps** = 40 (this channel)" in shown
    assert "**max_steps** = 60  ·" in shown and "**style** = none (default)" in shown

    async def dreamed(channel_id: int):
        interaction = await emulator.slash("dream", [option("prompt", "a mill")], channel_id=channel_id)
        text = await emulator.wait_for(lambda: emulator.reply_text(interaction))
        return (await bot.store.job(text.split("`")[1])).request

    assert (await dreamed(here)).steps == 40
    painted = await dreamed(other)
    assert painted.steps == 6 and painted.prompt == "a mill | oil painting"

    refused = await settings(emulator, "set", mod, key="max_steps", value="30")
    assert f"in <#{here}>, which has settings of its own, the default steps (40) would be above max_steps (30)" in refused
    assert (await bot.settings.get(emulator.guild_id)).max_steps == 60, "a refused value must write nothing"
    assert "setting of the whole server" in await settings(emulator, "set", mod, key="channels", value="none", channel="here")
    assert "is not a channel" in await settings(emulator, "set", mod, key="steps", value="5", channel="#nowhere")
    two = f"<#{here}> <#{other}>"
    assert "give one channel of this server" in await settings(emulator, "set", mod, key="steps", value="5", channel=two)

    assert "is back to 6 in <#" in await settings(emulator, "reset", mod, key="steps", channel="here")
    assert "is now 30" in await settings(emulator, "set", mod, key="max_steps", value="30")
    assert await bot.store.channel_settings(emulator.guild_id) == {other: {"style": "oil painting"}}


async def test_a_thread_obeys_its_channels_settings_and_place_in_the_channel_list(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    dreams, general = emulator.channel_id, emulator.other_channel_id
    unlisted = emulator.new_thread(dreams)
    assert bot.settings.home(emulator.thread_id) == dreams, "a thread in the client's cache is known at once"
    assert bot.settings.home(unlisted) == unlisted, "a thread the cache lacks is learned from its interactions"
    assert f"in <#{dreams}>" in await settings(emulator, "set", mod, key="banned_words", value="gore", channel=f"<#{dreams}>")
    for thread in (emulator.thread_id, unlisted):
        text = await refused(emulator, bot, "dream", [option("prompt", "gore everywhere")], channel_id=thread)
        assert "('gore')" in text, text

    assert "is now" in await settings(emulator, "set", mod, key="channels", value=f"<#{dreams}>")
    text = await refused(emulator, bot, "dream", [option("prompt", "a moon")], channel_id=emulator.new_thread(general))
    assert "not painted in this channel" in text and f"<#{dreams}>" in text
    admitted = await emulator.slash("dream", [option("prompt", "a moon")], channel_id=unlisted)
    assert "Queued as job" in await emulator.wait_for(lambda: emulator.reply_text(admitted)), "a thread of a listed channel"

    here = subcommand("set", key="steps", value="9", channel="here")
    interaction = await emulator.slash("settings", here, member=mod, channel_id=emulator.thread_id)
    assert f"**steps** is now 9 in <#{dreams}>." in await emulator.wait_for(lambda: emulator.reply_text(interaction))
    assert (await bot.settings.get(emulator.guild_id, emulator.thread_id)).steps == 9
    assert await bot.store.channel_settings(emulator.guild_id) == {dreams: {"banned_words": ["gore"], "steps": 9}}
