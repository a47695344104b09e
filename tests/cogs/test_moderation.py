"""What may be shown, end to end: a stand-in detector flags red pictures, and the pixels painter keeps a red init
image red, so each test chooses the flagged job. Checked before every post: previews, results, grids, the
pictures made from a flagged one, and its film; age-restricted channels (and their threads) show all as is."""

from __future__ import annotations

import pytest

from bot.moderation.gate import BLURRED_NAME, INHERITED
from bot.moderation.handling import Handling
from bot.moderation.pictures import Checker
from tests.cogs.test_results import press
from tests.support.discord_bot import dream, job_id_of, option, settings
from tests.support.discord_emulator import MANAGE_GUILD, DiscordEmulator, Member
from tests.support.moderation import RedFlags, png


@pytest.fixture
def detector(bot) -> RedFlags:
    """Flags red pictures of at most 32 pixels a side: a 4x upscale of one is flagged only by where it came from."""
    found = RedFlags(max_side=32)
    bot.gate.checker = Checker([found])
    return found


async def painted(emulator: DiscordEmulator, colour: str, member: Member, channel_id: int | None = None, *options) -> str:
    """/dream with the pixels painter from a picture of ``colour``; returns the job's id."""
    start = emulator.attachment(f"{colour}.png", png(colour))
    interaction = await emulator.slash(
        "dream", [option("prompt", "a castle"), option("model", "pixels"), option("init_image", start["id"], 11), *options],
        member=member, channel_id=channel_id, attachments={start["id"]: start},
    )  # fmt: skip
    return job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction)))


def uploaded(emulator: DiscordEmulator, message: dict) -> set[str]:
    """Every file name ever uploaded to ``message`` (its previews too)."""
    return set(emulator.files.get(int(message["id"]), {}))


def attached(message: dict) -> list[str]:
    return [attachment["filename"] for attachment in message["attachments"]]


def note(message: dict) -> str:
    return message["embeds"][0].get("description", "") + " ".join(f["value"] for f in message["embeds"][0].get("fields", []))


async def test_a_flagged_result_goes_behind_a_spoiler_its_previews_never_show_and_a_clear_one_is_untouched(
    bot, emulator, detector
):
    alice = Member(emulator.snowflake(), "alice")
    red, blue = await painted(emulator, "red", alice), await painted(emulator, "blue", alice)
    flagged, clear = await emulator.wait_title(red, "Done"), await emulator.wait_title(blue, "Done")
    seed = (await bot.store.job(red)).request.seed
    assert attached(flagged) == [BLURRED_NAME, f"SPOILER_dream-{seed}.png"]
    assert flagged["embeds"][0]["image"]["url"] == f"attachment://{BLURRED_NAME}"
    assert "The picture check flagged this (RED 0.90). It is behind the spoiler below." in note(flagged)
    assert "preview.jpg" not in uploaded(emulator, flagged), "no preview of it was ever posted"
    assert emulator.files[int(flagged["id"])][f"SPOILER_dream-{seed}.png"] == bot.files.result(red).read_bytes()
    assert (await bot.store.job(red)).flagged == "a preview: RED 0.90"

    blue_seed = (await bot.store.job(blue)).request.seed
    assert attached(clear) == [f"dream-{blue_seed}.png"] and "preview.jpg" in uploaded(emulator, clear)
    assert "flagged" not in note(clear) and (await bot.store.job(blue)).flagged is None
    assert len(detector.seen) >= 4, "previews and results alike were checked"


async def test_age_restricted_channels_and_their_threads_show_everything_as_is(bot, emulator, detector):
    alice = Member(emulator.snowflake(), "alice")
    thread = emulator.new_thread(emulator.nsfw_channel_id)
    for channel in (emulator.nsfw_channel_id, thread):
        job = await painted(emulator, "red", alice, channel)
        message = await emulator.wait_title(job, "Done")
        seed = (await bot.store.job(job)).request.seed
        assert attached(message) == [f"dream-{seed}.png"] and "preview.jpg" in uploaded(emulator, message)
        assert (await bot.store.job(job)).flagged is None
    assert detector.seen == [], "nothing there is even checked"


async def test_private_sends_the_picture_to_its_painter_and_withhold_to_nobody(bot, emulator, detector):
    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    emulator.closed_dms.add(bob.id)
    assert "flagged" in await settings(emulator, "set", moderator, key="flagged", value=Handling.PRIVATE, channel="here")
    job = await painted(emulator, "red", alice)
    message = await emulator.wait_title(job, "Done")
    assert attached(message) == [BLURRED_NAME]
    assert "It is not shown in this channel; it was sent to its painter privately." in note(message)
    (dm,) = emulator.dms(alice.id)
    assert attached(dm) == [f"dream-{(await bot.store.job(job)).request.seed}.png"] and job in dm["content"]
    job = await painted(emulator, "red", bob)
    message = await emulator.wait_title(job, "Done")
    assert attached(message) == [BLURRED_NAME] and "it could not be sent privately (closed DMs)" in note(message)

    await settings(emulator, "set", moderator, key="flagged", value=Handling.WITHHOLD, channel="here")
    job = await painted(emulator, "red", alice)
    message = await emulator.wait_title(job, "Done")
    assert attached(message) == [BLURRED_NAME] and "It is withheld until a moderator releases it." in note(message)
    assert len(emulator.dms(alice.id)) == 1, "nothing more was sent privately"
    answer = await press(emulator, message, "Animation", alice)
    assert answer == f"The picture check flagged job {job}, so its pictures and film are not shown in this channel."
    blue = await painted(emulator, "blue", alice)  # a clear picture is posted as ever under any setting
    message = await emulator.wait_title(blue, "Done")
    assert attached(message) == [f"dream-{(await bot.store.job(blue)).request.seed}.png"]


async def test_what_is_made_from_a_flagged_picture_starts_flagged_and_its_film_is_a_spoiler(bot, emulator, detector):
    alice = Member(emulator.snowflake(), "alice")
    red = await painted(emulator, "red", alice)
    message = await emulator.wait_title(red, "Done")
    upscale = job_id_of(await press(emulator, message, "Upscale", alice))
    big = await emulator.wait_title(upscale, "Upscaled")
    assert (await bot.store.job(upscale)).flagged == INHERITED
    assert (64, 64) not in detector.seen and (128, 128) in detector.seen, "the 4x picture was checked, and passed"
    assert attached(big)[0] == BLURRED_NAME and attached(big)[1].startswith("SPOILER_"), "yet it is flagged"
    film = await press(emulator, message, "Animation", alice)
    assert film == "The run, as a film:"
    (answer,) = [m for m in emulator.messages.values() if m.get("content") == "The run, as a film:"]
    assert attached(answer) == [f"SPOILER_dream-{red}.mp4"]


def audit_text(emulator: DiscordEmulator) -> str:
    return "\n".join(m["content"] for m in emulator.channel_messages(emulator.other_channel_id))


async def test_the_audit_channel_hears_jobs_refusals_flags_settings_and_deletions_and_releases_a_withheld_picture(
    bot, emulator, detector
):
    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    await settings(emulator, "set", moderator, key="audit_channel", value=f"<#{emulator.other_channel_id}>")
    await settings(emulator, "set", moderator, key="flagged", value=Handling.WITHHOLD)
    await settings(emulator, "set", moderator, key="banned_words", value="spiders")
    blue = await painted(emulator, "blue", bob)
    red = await painted(emulator, "red", alice)
    _, text = await dream(emulator, "a nest of spiders", member=bob)
    assert "spiders" in text and "Queued" not in text
    withheld = await emulator.wait_title(red, "Done")
    await emulator.wait_title(blue, "Done")
    message = await emulator.wait_title(blue, "Done")
    await emulator.react(int(message["id"]), "🗑️", bob)

    def heard(*parts: str) -> bool:
        return all(part in audit_text(emulator) for part in parts)

    await emulator.wait_for(lambda: heard("🗑️ ", f"job `{blue}` taken down", "🚩 ", f"job `{red}` flagged (RED 0.90)"))
    log = audit_text(emulator)
    assert "⚙️ " in log and f"<@{moderator.id}>: flagged = withhold" in log and "banned_words = spiders" in log
    assert "🎨 " in log and f"<@{alice.id}> in <#{emulator.channel_id}>: job `{red}`: picture of 'a castle'" in log
    assert "⛔ " in log and f"<@{bob.id}> in <#{emulator.channel_id}>: " in log and "spiders" in log
    (flag,) = [m for m in emulator.channel_messages(emulator.other_channel_id) if m["attachments"]]
    assert attached(flag) == ["SPOILER_flagged.png"] and "withheld: Release shows it in its channel" in flag["content"]
    assert emulator.files[int(flag["id"])]["SPOILER_flagged.png"] == bot.files.result(red).read_bytes()

    assert "can release a flagged picture." in await press(emulator, flag, "Release", alice)
    assert attached(emulator.job_message(red)) == [BLURRED_NAME], "still withheld"
    answer = await press(emulator, flag, "Release", moderator)
    assert answer == f"Released: job `{red}` is shown in <#{emulator.channel_id}>."
    shown = emulator.job_message(red)
    assert shown["id"] == withheld["id"] and attached(shown) == [f"dream-{(await bot.store.job(red)).request.seed}.png"]
    assert "A moderator released it after the picture check flagged it." in note(shown)
    assert (await bot.store.job(red)).flagged is None
    await emulator.wait_for(lambda: heard("✅ ", f"job `{red}` released by <@{moderator.id}>"))
    assert "is not withheld" in await press(emulator, flag, "Release", moderator)

    interaction = await emulator.slash("audit", [option("member", str(alice.id), 6)], member=moderator, users=(alice,))
    told = await emulator.wait_for(lambda: emulator.reply_text(interaction))
    assert f"job `{red}` released" in told and f"job `{red}` flagged" in told and f"job `{blue}`" not in told
    assert told.index("released") < told.index("flagged"), "newest first"
    interaction = await emulator.slash("audit", [option("member", str(alice.id), 6)], member=alice, users=(alice,))
    assert "Only moderators" in await emulator.wait_for(lambda: emulator.reply_text(interaction))


async def test_a_blocked_member_is_refused_everywhere_with_the_reason_and_others_are_not(bot, emulator):
    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a castle", member=alice)
    before = await emulator.wait_title(job_id_of(text), "Done")

    async def block(*options: dict) -> str:
        interaction = await emulator.slash("block", [option("member", str(alice.id), 6), *options], member=moderator,
                                           users=(alice,))  # fmt: skip
        return await emulator.wait_for(lambda: emulator.reply_text(interaction))

    answer = await block(option("duration", "2d"), option("reason", "spam"))
    assert answer.startswith(f"<@{alice.id}> is blocked until <t:") and answer.endswith(":f>: spam")
    reason = "A moderator blocked you from using dreambot in this server until <t:"
    _, text = await dream(emulator, "another", member=alice)
    assert text.startswith(reason) and text.endswith(":f>: spam")
    assert (await press(emulator, before, "Again", alice)).startswith(reason)
    assert (await press(emulator, before, "Animation", alice)).startswith(reason)
    interaction = await emulator.slash("queue", [], member=alice)
    assert (await emulator.wait_for(lambda: emulator.reply_text(interaction))).startswith(reason)
    await emulator.react(int(before["id"]), "🎞️", alice)  # a reaction that queues nothing is refused too
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if m["content"].startswith(f"alice: {reason}")])
    assert await bot.store.queued() == [] and await bot.store.running() == [], "nothing of hers was queued"
    _, text = await dream(emulator, "a castle", member=bob)
    assert "Queued" in text or "job `" in text, "another member is not touched"

    assert "'soon' is not a duration; use 30m, 12h, 7d or 2w" in await block(option("duration", "soon"))
    assert await block(option("duration", "off")) == f"<@{alice.id}> may use the bot again."
    _, text = await dream(emulator, "a castle", member=alice)
    await emulator.wait_title(job_id_of(text), "Done")

    role = emulator.snowflake()
    carol = Member(emulator.snowflake(), "carol", roles=(role,))
    assert "unknown" not in await settings(emulator, "set", moderator, key="blocked_roles", value=str(emulator.mod_role_id))
    _, text = await dream(emulator, "a castle", member=Member(emulator.snowflake(), "dave", roles=(emulator.mod_role_id,)))
    assert text == f"Members with the role <@&{emulator.mod_role_id}> may not use dreambot in this server."
    _, text = await dream(emulator, "a castle", member=carol)
    assert "job `" in text, "other roles are not touched"


async def test_the_clip_check_flags_by_the_channels_concepts_at_its_threshold_with_the_engines_scores(bot, emulator, monkeypatch):
    """No NudeNet here (the test config turns it off): the CLIP check alone, its scores made by the engine's tiny
    CLIP. With a threshold of 0 any score flags; the same pictures again (same seed) with the threshold just above
    their highest score are clear; another channel with no concepts is never scored."""
    judged, scores_seen = bot.gate._judged, []

    async def noting(job, scores):
        scores_seen.append((job.channel_id, scores))
        return await judged(job, scores)

    monkeypatch.setattr(bot.gate, "_judged", noting)
    alice = Member(emulator.snowflake(), "alice")
    guild, home, other = emulator.guild_id, emulator.channel_id, emulator.other_channel_id
    await bot.settings.set(guild, "clip_concepts", "gore, a weapon", channel_id=home)
    await bot.settings.set(guild, "clip_threshold", "0", channel_id=home)
    first = await painted(emulator, "red", alice, home, option("seed", 11, 4))
    flagged = await emulator.wait_title(first, "Done")
    reason = (await bot.store.job(first)).flagged
    assert reason.startswith("a preview: CLIP ") and "gore" in reason and "a weapon" in reason
    assert attached(flagged) == [BLURRED_NAME, "SPOILER_dream-11.png"] and "preview.jpg" not in uploaded(emulator, flagged)

    elsewhere = await painted(emulator, "red", alice, other, option("seed", 11, 4))
    assert attached(await emulator.wait_title(elsewhere, "Done")) == ["dream-11.png"]
    assert (await bot.store.job(elsewhere)).flagged is None

    assert {channel for channel, _ in scores_seen} == {home}
    assert all(set(scores) == {"gore", "a weapon"} for _, scores in scores_seen), "every picture was scored"
    top = max(score for _, scores in scores_seen for score in scores.values())
    assert top < 1.0, f"the tiny CLIP's scores {scores_seen} leave no threshold above them"
    await bot.settings.set(guild, "clip_threshold", str(top + 1e-4), channel_id=home)
    again = await painted(emulator, "red", alice, home, option("seed", 11, 4))
    clear = await emulator.wait_title(again, "Done")
    assert (await bot.store.job(again)).flagged is None, "the same picture's scores are below the raised threshold"
    assert attached(clear) == ["dream-11.png"] and "preview.jpg" in uploaded(emulator, clear)
