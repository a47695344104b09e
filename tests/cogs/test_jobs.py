"""What members do with jobs once made, end to end: reactions (🔁 ❌ 🎞️ 🗑️), /cancel, /queue and /mine, through
the real discord.py client, the emulator over loopback and the real engine process."""

from __future__ import annotations

import asyncio
import io
import re
import sys

import av

from bot.queue.jobs import Job
from contract.protocol import RenderRequest
from tests.cogs.test_dream import png
from tests.support.discord_bot import EPHEMERAL, MODERATOR, dream, job_id_of, option, settings
from tests.support.discord_emulator import Member


async def test_reactions_reroll_cancel_and_animation(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a lighthouse", option("seed", 3, 4), member=alice)
    first = job_id_of(text)
    message = await emulator.wait_title(first, "Done")

    await emulator.react(int(message["id"]), "🔁", Member(emulator.app_id, "dreambot"))  # the bot's own reaction
    await emulator.react(int(message["id"]), "🔁", bob)
    rerun = await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if m is not message and m["embeds"]
                                            and m["embeds"][0]["description"] == "a lighthouse"], 30)  # fmt: skip
    assert len(rerun) == 1, "the bot's own reaction must be ignored"
    second = re.search(r"job ([0-9a-f]+) ", rerun[0]["embeds"][0]["footer"]["text"])[1]
    done = await emulator.wait_title(second, "Done")
    stored = await bot.store.job(second)
    assert stored.user_id == bob.id and stored.parent == first and stored.request.prompt == "a lighthouse"
    assert stored.request.seed != 3
    assert {f["name"]: f["value"] for f in done["embeds"][0]["fields"]}["Seed"] == str(stored.request.seed)

    await emulator.react(int(message["id"]), "🎞️", bob)
    name = f"dream-{first}.mp4"
    files = emulator.files
    film = await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if name in files.get(int(m["id"]), {})])
    with av.open(io.BytesIO(files[int(film[0]["id"])][name])) as opened:
        assert opened.streams.video[0].codec_context.name == "h264"

    clicked = await emulator.click(int(message["id"]), f"dream:gif:{first}", bob)
    await emulator.wait_for(lambda: emulator.interaction_replies(clicked))
    reply = emulator.interaction_replies(clicked)[0]
    assert reply.json["data"]["flags"] & EPHEMERAL and any(name.endswith(".mp4") for name, _ in reply.files.values())
    bot.files.animation(first).rename(bot.files.folder(first) / "animation.gif")  # as a result from before films kept it
    clicked = await emulator.click(int(message["id"]), f"dream:gif:{first}", bob)
    await emulator.wait_for(lambda: emulator.interaction_replies(clicked))
    assert [name for name, _ in emulator.interaction_replies(clicked)[0].files.values()] == [f"dream-{first}.gif"]

    _, text = await dream(emulator, "a slow sunrise", option("steps", 1000, 4), member=alice)
    slow = job_id_of(text)
    painting = await emulator.wait_title(slow, "Painting")
    await emulator.react(int(painting["id"]), "❌", bob)
    notice = await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "Only the member" in m["content"]])
    assert "bob" in notice[0]["content"] and notice[0]["allowed_mentions"] == {"parse": []}
    assert (await bot.store.job(slow)).state == "running"
    await emulator.react(int(painting["id"]), "❌", alice)
    await emulator.wait_title(slow, "Cancelled")
    assert (await bot.store.job(slow)).state == "cancelled"

    await emulator.react(int(message["id"]), "🗑️", bob)
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "Only the member who asked" in m["content"]
                                     and "delete" in m["content"]])  # fmt: skip
    assert not emulator.messages[int(message["id"])].get("deleted")
    await emulator.react(int(message["id"]), "🗑️", alice)
    await emulator.wait_for(lambda: emulator.messages[int(message["id"])].get("deleted"))
    deleted = [m for m in emulator.messages.values() if m.get("deleted") and m["embeds"]]  # notices go by themselves
    assert deleted == [emulator.messages[int(message["id"])]], "only the one result is taken down; bob's 🔁 stays"
    assert not emulator.messages[int(done["id"])].get("deleted") and bot.files.result(second).exists()


async def test_queue_and_cancel_commands(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "first", option("steps", 1000, 4), member=alice)
    running = job_id_of(text)
    await emulator.wait_title(running, "Painting")
    _, text = await dream(emulator, "second", member=alice)
    alice_second = job_id_of(text)
    _, text = await dream(emulator, "third", member=bob)
    assert "it starts next" in text, "bob goes before alice's second job"
    bob_first = job_id_of(text)
    await emulator.wait_for(lambda: "position 2" in emulator.job_title(alice_second))

    listing = await emulator.slash("queue", member=bob)
    text = await emulator.wait_for(lambda: emulator.reply_text(listing))
    lines = text.splitlines()
    assert lines[0].startswith(f"▶️ `{running}`") and "alice" in lines[0]
    assert lines[1].startswith(f"1. `{bob_first}`") and lines[2].startswith(f"2. `{alice_second}`")

    refused = await emulator.slash("cancel", [option("job", alice_second)], member=bob)
    assert "Only the member" in await emulator.wait_for(lambda: emulator.reply_text(refused))
    assert (await bot.store.job(alice_second)).state == "queued"

    mod = Member(emulator.snowflake(), "mod", roles=(emulator.mod_role_id,), permissions=1 << 5)
    done = await emulator.slash("cancel", [option("job", alice_second)], member=mod)
    assert "cancelled" in await emulator.wait_for(lambda: emulator.reply_text(done))
    await emulator.wait_title(alice_second, "Cancelled")
    await emulator.wait_for(lambda: "next in line" in emulator.job_title(bob_first))

    painting = emulator.job_message(running)
    assert [b["custom_id"] for row in painting["components"] for b in row["components"]] == [f"dream:cancel:{running}"]
    refused = await emulator.click(int(painting["id"]), f"dream:cancel:{running}", bob)
    assert "Only the member" in await emulator.wait_for(lambda: emulator.reply_text(refused))
    clicked = await emulator.click(int(painting["id"]), f"dream:cancel:{running}", alice)
    assert running in await emulator.wait_for(lambda: emulator.reply_text(clicked))
    cancelled = await emulator.wait_title(running, "Cancelled")
    assert cancelled["components"] == [], "a cancelled job has no buttons left"

    await emulator.wait_title(bob_first, "Done")
    nothing = await emulator.slash("cancel", member=bob)
    assert "no job waiting or running" in await emulator.wait_for(lambda: emulator.reply_text(nothing))


async def count_jobs(bot, member: Member) -> int:
    return (await (await bot.store.db.execute("SELECT COUNT(*) FROM jobs WHERE user_id = ?", (member.id,))).fetchone())[0]


async def test_simultaneous_rerolls_cannot_pass_a_cap_meant_for_one(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MODERATOR)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    assert "is now" in await settings(emulator, "set", mod, key="jobs_per_user", value="1")
    _, text = await dream(emulator, "a long lighthouse", option("steps", 1000, 4), member=alice)
    message = await emulator.wait_title(job_id_of(text), "Painting")
    await asyncio.gather(*(emulator.react(int(message["id"]), "🔁", bob) for _ in range(20)))
    await emulator.wait_for(lambda: len([m for m in emulator.channel_messages() if "already have 1 job" in m["content"]]) >= 5)
    await asyncio.sleep(1.0)  # let every reaction be handled
    assert await count_jobs(bot, bob) == 1


async def test_a_reroll_obeys_the_servers_rules_of_today(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MODERATOR)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a red lighthouse", member=alice)
    message = await emulator.wait_title(job_id_of(text), "Done")
    assert "is now" in await settings(emulator, "set", mod, key="banned_words", value="red")
    await emulator.react(int(message["id"]), "🔁", bob)
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "does not allow ('red')" in m["content"]])
    assert "is back to" in await settings(emulator, "reset", mod, key="banned_words")
    assert "is now" in await settings(emulator, "set", mod, key="steps", value="3")
    assert "is now" in await settings(emulator, "set", mod, key="max_steps", value="5")
    await emulator.react(int(message["id"]), "🔁", bob)
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "between 1 and 5 on this server" in m["content"]])
    assert await count_jobs(bot, bob) == 0


async def test_the_queue_shows_nothing_of_another_servers_jobs(bot, emulator):
    secret = Job("feedbeef00000000", 4242, 4343, 77, "stranger", RenderRequest("a secret castle of another server"))
    bot.scheduler.running[secret.id] = secret  # the engine paints another server's job right now
    try:
        interaction = await emulator.slash("queue")
        text = await emulator.wait_for(lambda: emulator.reply_text(interaction))
    finally:
        del bot.scheduler.running[secret.id]
    assert "a job from another server" in text
    assert "secret" not in text and secret.id not in text and "stranger" not in text


async def test_a_storm_of_reactions_makes_few_public_posts(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a small lighthouse", member=alice)
    first = job_id_of(text)
    message = await emulator.wait_title(first, "Done")
    for _ in range(12):
        await emulator.react(int(message["id"]), "🎞️", bob)
    name = f"dream-{first}.mp4"
    await emulator.wait_for(
        lambda: len([m for m in emulator.channel_messages() if name in emulator.files.get(int(m["id"]), {})]) >= 5
    )
    await asyncio.sleep(1.0)
    assert len([m for m in emulator.channel_messages() if name in emulator.files.get(int(m["id"]), {})]) == 5


async def test_a_reroll_of_a_job_whose_picture_was_cleaned_up_says_so(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    start = emulator.attachment("start.png", png())
    interaction = await emulator.slash(
        "dream", [option("prompt", "a castle"), option("init_image", start["id"], 11)], member=alice,
        attachments={start["id"]: start},
    )  # fmt: skip
    job = job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction)))
    message = await emulator.wait_title(job, "Done")
    pruned = await bot.files.prune(keep_days=0, max_bytes=1, ended={job})
    assert job in pruned.removed
    await emulator.react(int(message["id"]), "🔁", alice)
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "was cleaned up" in m["content"]])
    await emulator.react(int(message["id"]), "🎞️", alice)
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "files were cleaned up" in m["content"]])


async def test_mine_lists_a_members_own_results_newest_first_with_links_and_pages(bot, emulator, monkeypatch):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    finished = []
    for member, prompt, seed in ((alice, "an old mill", 11), (bob, "a harbour", 12), (alice, "a new mill", 13)):
        _, text = await dream(emulator, prompt, option("seed", seed, 4), option("steps", 2, 4), member=member)
        finished.append(await emulator.wait_title(job_id_of(text), "Done"))
    old, _, new = (int(m["id"]) for m in finished)

    async def mine(*options: dict) -> str:
        interaction = await emulator.slash("mine", list(options), member=alice)
        text = await emulator.wait_for(lambda: emulator.reply_text(interaction))
        assert emulator.reply_flags(interaction) & EPHEMERAL
        return text

    listed = await mine()
    assert "page 1 of 1 (2 in all" in listed and "harbour" not in listed
    assert listed.index(f"/{emulator.channel_id}/{new})") < listed.index(f"/{emulator.channel_id}/{old})")
    assert "seed 13" in listed and "seed 11" in listed
    monkeypatch.setattr(sys.modules["cogs.jobs"], "MINE_PAGE", 1)  # as the bot loaded it
    assert "a new mill" in await mine() and "an old mill" not in await mine()
    second = await mine(option("page", 2, 4))
    assert "page 2 of 2" in second and "an old mill" in second
    assert "There are 2 page(s) of your pictures, not 3." in await mine(option("page", 3, 4))


async def test_a_job_asked_for_in_a_thread_is_posted_there_and_its_reroll_obeys_the_threads_channel(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MODERATOR)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    thread = emulator.thread_id
    asked = [option("prompt", "a castle"), option("steps", 2, 4)]
    interaction = await emulator.slash("dream", asked, member=alice, channel_id=thread)
    message = await emulator.wait_title(job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction))), "Done")
    assert message["channel_id"] == str(thread)
    channel = f"<#{emulator.channel_id}>"
    assert "is now" in await settings(emulator, "set", mod, key="banned_words", value="castle", channel=channel)
    await emulator.react(int(message["id"]), "🔁", bob, channel_id=thread)
    await emulator.wait_for(lambda: [m for m in emulator.channel_messages(thread) if "('castle')" in m["content"]])
    assert await count_jobs(bot, bob) == 0
