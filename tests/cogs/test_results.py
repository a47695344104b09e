"""What members do with a result, end to end against the emulator: four at once as one grid, V and U
buttons on the right candidate, the Restyle modal, and /dream's advanced options with the server's switch."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot.queue.jobs import JobState
from contract import parameters
from tests.support.discord_bot import dream, job_id_of, option, refused, settings
from tests.support.discord_emulator import MANAGE_GUILD, DiscordEmulator, Member

ROW0 = ("Again", "Vary (Subtle)", "Vary (Strong)", "Restyle", "Upscale")  # a picture's buttons, row by row
PANS = ("⬅️", "➡️", "⬆️", "⬇️")


def buttons(message: dict) -> list[list[str]]:
    """The labels of a message's buttons, row by row."""
    return [[button.get("label") or button["emoji"]["name"] for button in row["components"]] for row in message["components"]]


def custom_id(message: dict, label: str) -> str:
    return next(b["custom_id"] for row in message["components"] for b in row["components"] if b.get("label") == label)


async def press(emulator: DiscordEmulator, message: dict, label: str, member: Member) -> str:
    """Click the button labelled ``label``; returns the bot's (ephemeral) answer."""
    clicked = await emulator.click(int(message["id"]), custom_id(message, label), member)
    return await emulator.wait_for(lambda: emulator.reply_text(clicked))


def picture(emulator: DiscordEmulator, message: dict) -> Image.Image:
    (data,) = [data for name, data in emulator.files[int(message["id"])].items() if name.endswith(".png")]
    return Image.open(io.BytesIO(data))


async def test_four_at_once_is_one_grid_whose_buttons_vary_and_upscale_the_right_candidate(bot, emulator):
    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a lighthouse", option("count", 4, 4), option("seed", 100, 4), member=alice)
    first = job_id_of(text)
    message = await emulator.wait_title(first, "Done")
    assert buttons(message) == [["U1", "U2", "U3", "U4"], ["V1", "V2", "V3", "V4"], ["Again"]]
    sheet = picture(emulator, message)
    assert sheet.size == (2 * 32 + 4, 2 * 32 + 4)
    recorded = parameters.read(sheet.text["parameters"])
    assert recorded["count"] == 4 and recorded["seed"] == 100
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert fields["Seeds"] == "V1 100, V2 101, V3 102, V4 103"
    candidates = [bot.files.candidate(first, n).read_bytes() for n in range(1, 5)]
    assert [parameters.read(Image.open(io.BytesIO(c)).text["parameters"])["seed"] for c in candidates] == [100, 101, 102, 103]

    answer = await press(emulator, message, "V2", bob)  # anyone may vary a public result, as with 🔁
    varied = await bot.store.job(job_id_of(answer))
    assert varied.user_id == bob.id and varied.parent == first and varied.request.count == 1
    assert varied.request.prompt == "a lighthouse" and varied.request.seed != 101
    assert varied.request.init_noise > 0 and varied.request.init_weight > 0
    assert Path(varied.request.init_image).read_bytes() == candidates[1]
    done = await emulator.wait_title(varied.id, "Done")
    assert f"job {first}" in {f["name"]: f["value"] for f in done["embeds"][0]["fields"]}["From"]
    assert buttons(done) == [[*ROW0], ["Animation", *PANS], ["Zoom Out 1.5x", "Zoom Out 2x", "Zoom film"]]

    answer = await press(emulator, done, "Vary (Subtle)", bob)  # the variation's own picture varied subtly
    subtle = await bot.store.job(job_id_of(answer))
    assert (subtle.parent, subtle.request.init_noise, subtle.request.init_weight) == (varied.id, 0.2, 0.8)
    assert Path(subtle.request.init_image).read_bytes() == bot.files.result(varied.id).read_bytes()
    shown = await emulator.wait_title(subtle.id, "Done")
    assert f"job {varied.id}" in {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}["From"]
    recorded = parameters.read(picture(emulator, shown).text["parameters"])
    assert (recorded["init_noise"], recorded["init_weight"]) == (0.2, 0.8), "the PNG says how it was varied"

    answer = await press(emulator, message, "U3", bob)
    upscale = job_id_of(answer)
    done = await emulator.wait_title(upscale, "Upscaled")
    big = picture(emulator, done)
    assert big.size == (128, 128) and not done.get("components")  # an upscale is an end point
    assert big.text["parameters"] == Image.open(io.BytesIO(candidates[2])).text["parameters"] + ", Upscale: tiny-esrgan 4x"

    await settings(emulator, "set", moderator, key="jobs_per_user", value="1")
    _, text = await dream(emulator, "a slow one", option("steps", 1000, 4), member=bob)
    assert "Refused" not in text
    answer = await press(emulator, message, "V1", bob)  # the server's limits hold for buttons too
    assert "already have 1 job" in answer
    assert len([j for j in await bot.store.queued() if j.user_id == bob.id]) + len(await bot.store.running()) == 1
    await settings(emulator, "set", moderator, key="max_count", value="2")
    assert "1 to 2 pictures at once, not 4" in await refused(
        emulator, bot, "dream", [option("prompt", "x"), option("count", 4, 4)], member=alice
    )


async def test_restyle_opens_a_modal_and_paints_the_new_prompt_from_the_picture(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a castle", option("seed", 5, 4), member=alice)
    first = job_id_of(text)
    message = await emulator.wait_title(first, "Done")
    clicked = await emulator.click(int(message["id"]), custom_id(message, "Restyle"), bob)
    modal = await emulator.wait_for(lambda: emulator.modal_of(clicked))
    assert modal["title"] == "Restyle"
    submitted = await emulator.submit_modal(modal, {"prompt": "a castle made of ice"}, bob, int(message["id"]))
    answer = await emulator.wait_for(lambda: emulator.reply_text(submitted))
    restyled = await bot.store.job(job_id_of(answer))
    assert restyled.request.prompt == "a castle made of ice" and restyled.parent == first and restyled.user_id == bob.id
    assert Path(restyled.request.init_image).read_bytes() == bot.files.result(first).read_bytes()
    await emulator.wait_title(restyled.id, "Done")

    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    await settings(emulator, "set", moderator, key="banned_words", value="dragon")
    for typed, expected in (("a dragon", "does not allow ('dragon')"), ("ice || fire", "write one prompt")):
        clicked = await emulator.click(int(message["id"]), custom_id(message, "Restyle"), bob)
        modal = await emulator.wait_for(lambda: emulator.modal_of(clicked))  # noqa: B023
        submitted = await emulator.submit_modal(modal, {"prompt": typed}, bob, int(message["id"]))
        assert expected in await emulator.wait_for(lambda: emulator.reply_text(submitted))  # noqa: B023
    assert [j.id for j in await bot.store.queued()] == []


async def test_advanced_options_are_checked_like_the_command_line_and_can_be_turned_off(bot, emulator):
    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    alice = Member(emulator.snowflake(), "alice")
    options = "cutn=8 cut_pow=2 lr=0.2 optimizer=adamw"
    _, text = await dream(emulator, "a fox", option("options", options), option("negative", "blurry"), member=alice)
    job = await bot.store.job(job_id_of(text))
    request = job.request
    assert (request.cutn, request.cut_pow, request.lr, request.optimizer) == (8, 2.0, 0.2, "adamw")
    assert request.prompt == "a fox | blurry:-1"
    done = await emulator.wait_title(job.id, "Done")
    assert "Cutn: 8, Cut pow: 2.0" in picture(emulator, done).text["parameters"]
    assert (await bot.store.job(job.id)).state == JobState.DONE

    for typed, expected in (
        ("cutn=999", "cutn must be between 1 and 256, not 999"),
        ("cutn=many", "cutn must be a whole number"),
        ("lr=-1", "lr must be a positive number"),
        ("truncation=0.5", "tiny-vqgan takes no option 'truncation'"),
        ("perceptor=ViT-B-16/openai", "perceptors tiny-clip, not 'ViT-B-16/openai'"),
        ("cutn 8", "write options as key=value"),
        ("cutn=8 cutn=9", "given twice"),
    ):
        assert expected in await refused(emulator, bot, "dream", [option("prompt", "a fox"), option("options", typed)])
    for typed, expected in (("truncation=2", "truncation must be"), ("truncation=0.5 max_classes=3", None)):
        asked = [option("prompt", "a fox"), option("model", "tiny-biggan"), option("options", typed)]
        if expected:
            assert expected in await refused(emulator, bot, "dream", asked)
        else:
            _, text = await dream(emulator, "a fox", *asked[1:], member=Member(emulator.snowflake(), "carol"))
            assert (await bot.store.job(job_id_of(text))).request.options == {"truncation": 0.5, "max_classes": 3}

    choices = await emulator.autocomplete("dream", [option("prompt", "a fox"), option("options", "cutn=8 l")], "options", alice)
    assert [c["value"] for c in choices] == ["cutn=8 lr="]
    choices = await emulator.autocomplete(
        "dream", [option("prompt", "a"), option("model", "tiny-biggan"), option("options", "")], "options", alice
    )
    assert {"truncation=", "max_classes=", "cutn="} <= {c["value"] for c in choices}

    steer = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 200, 30)).save(steer, format="PNG")
    attachment = emulator.attachment("steer.png", steer.getvalue())
    with_picture = [option("prompt", "a green fox"), option("image_prompt", attachment["id"], 11)]
    interaction = await emulator.slash("dream", with_picture, member=alice, attachments={attachment["id"]: attachment})
    steered = await bot.store.job(job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction))))
    (path,) = steered.request.image_prompts
    assert Path(path).read_bytes() == steer.getvalue() and Path(path).parent == bot.files.folder(steered.id)
    message = await emulator.wait_title(steered.id, "Done")
    answer = await press(emulator, message, "Again", alice)  # 🔁 steers towards the same picture, a copy of its own
    (copy,) = (await bot.store.job(job_id_of(answer))).request.image_prompts
    assert Path(copy).read_bytes() == steer.getvalue() and copy != path

    await settings(emulator, "set", moderator, key="advanced", value="off")
    for asked in ([option("options", "cutn=8")], [option("negative", "blurry")]):
        assert "advanced options" in await refused(emulator, bot, "dream", [option("prompt", "a fox"), *asked])
    refusal = await refused(emulator, bot, "dream", with_picture, attachments={attachment["id"]: attachment})
    assert "advanced options" in refusal
    await settings(emulator, "set", moderator, key="perceptors", value="ViT-B-16/openai")
    await settings(emulator, "set", moderator, key="advanced", value="on")
    _, text = await dream(emulator, "a fox", option("options", "perceptor=ViT-B-16/openai"), member=alice)
    assert (await bot.store.job(job_id_of(text))).request.perceptor == "ViT-B-16/openai"


async def test_every_numbered_button_of_a_grid_acts_on_its_own_candidate_once(bot, emulator):
    """V1-V4 and U1-U4 each start from their own candidate (the others' pictures and seeds are different), and
    each press queues exactly one job: the fourth of each row is pressed too, where an off-by-one would hide."""
    alice = Member(emulator.snowflake(), "alice")
    _, text = await dream(emulator, "a lighthouse", option("count", 4, 4), option("seed", 100, 4), member=alice)
    first = job_id_of(text)
    message = await emulator.wait_title(first, "Done")
    candidates = [bot.files.candidate(first, n).read_bytes() for n in range(1, 5)]
    assert len(set(candidates)) == 4, "four different pictures, so a wrong pick shows"
    made = []
    for number in range(1, 5):
        for row in ("V", "U"):
            presser = Member(emulator.snowflake(), f"{row}{number}")  # one job each: within the server's cap
            job = await bot.store.job(job_id_of(await press(emulator, message, f"{row}{number}", presser)))
            assert Path(job.request.init_image).read_bytes() == candidates[number - 1], f"{row}{number}"
            assert job.parent == first and job.user_id == presser.id
            if row == "U":
                assert job.request.seed == 99 + number and job.request.model == "tiny-esrgan"
            else:
                assert job.request.seed != 99 + number and job.request.init_noise > 0
            made.append(job.id)
    children = [j for j in await bot.store.jobs() if j.parent == first]
    assert sorted(j.id for j in children) == sorted(made) and len(made) == 8, "each press queued exactly one job"
    assert (await bot.store.job(first)).state == JobState.DONE and bot.files.candidate(first, 4).read_bytes() == candidates[3]


async def test_a_button_naming_another_job_acts_only_on_that_jobs_own_message(bot, emulator):
    """A component id is the member's to send: one forged onto another message (here the member's own result, carrying
    the victim's buttons; discord.py only dispatches ids the interaction's message carries) is refused, and changes
    nothing."""
    alice, mallory = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mallory", permissions=MANAGE_GUILD)
    victim = job_id_of((await dream(emulator, "alice's castle", member=alice))[1])
    own = job_id_of((await dream(emulator, "mallory's tower", member=mallory))[1])
    victims = await emulator.wait_title(victim, "Done")
    mine = await emulator.wait_title(own, "Done")
    before = {j.id: j.state for j in await bot.store.jobs()}
    forged = {**mine, "components": victims["components"]}
    for label in ("Again", "Animation", "Upscale", "Vary (Subtle)", "Vary (Strong)", "Restyle"):
        clicked = await emulator.click(int(mine["id"]), custom_id(victims, label), mallory, shown=forged)
        answer = await emulator.wait_for(lambda: emulator.reply_text(clicked))  # noqa: B023
        assert answer == "That button does not belong to this message; use the buttons under the job's own picture."
    assert {j.id: j.state for j in await bot.store.jobs()} == before, "nothing queued, nothing changed"
    clicked = await emulator.click(int(victims["id"]), custom_id(victims, "Animation"), mallory)
    await emulator.wait_for(lambda: emulator.interaction_replies(clicked))
    assert any(name.endswith(".mp4") for name, _ in emulator.interaction_replies(clicked)[0].files.values()), "its own works"
