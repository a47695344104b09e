"""Pan and Zoom Out through Discord: a button queues the move, the canvas grows (or the picture shrinks into it),
the old picture comes back pixel for pixel in its place, the PNG records the kept box, and a one-size painter's
pictures have no such buttons."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from contract import parameters
from tests.cogs.test_results import picture
from tests.support.discord_bot import dream, job_id_of, option, settings
from tests.support.discord_emulator import MANAGE_GUILD, Member


async def click(emulator, message: dict, action: str, member: Member) -> str:
    job_id = message["components"][0]["components"][0]["custom_id"].split(":")[2]
    clicked = await emulator.click(int(message["id"]), f"dream:{action}:{job_id}", member)
    return await emulator.wait_for(lambda: emulator.reply_text(clicked))


async def test_pan_and_zoom_out_keep_the_old_picture_exactly_and_paint_around_it(bot, emulator):
    alice, mod = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    _, text = await dream(emulator, "a harbour", option("model", "pixels"), option("size", "48x32"), member=alice)
    parent = job_id_of(text)
    done = await emulator.wait_title(parent, "Done")
    old = np.asarray(Image.open(io.BytesIO(bot.files.result(parent).read_bytes())).convert("RGB")).astype(int)

    answer = await click(emulator, done, "pan_right", alice)
    assert "panned right, to 80x32" in answer
    panned = await bot.store.job(job_id_of(answer))
    assert (panned.parent, panned.request.size, panned.request.keep) == (parent, "80x32", (0, 0, 48, 32))
    shown = await emulator.wait_title(panned.id, "Done")
    result = picture(emulator, shown)
    painted = np.asarray(result.convert("RGB")).astype(int)
    assert (painted[:, :48] == old).all(), "the old picture, pixel for pixel"
    assert parameters.read(result.text["parameters"])["keep"] == (0, 0, 48, 32)

    answer = await click(emulator, done, "zoom_out_2", alice)
    zoomed = await bot.store.job(job_id_of(answer))
    assert (zoomed.request.size, zoomed.request.keep) == ("48x32", (12, 8, 24, 16))
    small = np.asarray(picture(emulator, await emulator.wait_title(zoomed.id, "Done")).convert("RGB")).astype(int)
    start = np.asarray(Image.open(zoomed.request.init_image).convert("RGB")).astype(int)
    assert (small[8:24, 12:36] == start[8:24, 12:36]).all(), "the shrunk picture is kept as the start holds it"

    assert "is now 1" in await settings(emulator, "set", mod, key="pan_share", value="1")
    answer = await click(emulator, done, "pan_up", alice)
    assert (await bot.store.job(job_id_of(answer))).request.keep == (0, 32, 48, 32), "the server's share: 100% taller"


async def test_a_one_size_painter_has_no_pan_or_zoom_out_and_a_forged_one_is_refused(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    _, text = await dream(emulator, "a dog", option("model", "tiny-biggan"), member=alice)
    job = job_id_of(text)
    done = await emulator.wait_title(job, "Done")
    ids = [b["custom_id"] for row in done["components"] for b in row["components"]]
    assert not [i for i in ids if "pan_" in i or "zoom_out" in i] and any("vary_subtle" in i for i in ids)
    forged = {**done, "components": [{"type": 1, "components": [
        {"type": 2, "style": 2, "label": "x", "custom_id": f"dream:pan_left:{job}"}]}]}  # fmt: skip
    clicked = await emulator.click(int(done["id"]), f"dream:pan_left:{job}", alice, shown=forged)
    answer = await emulator.wait_for(lambda: emulator.reply_text(clicked))
    assert answer == "tiny-biggan paints 64x64 only, so its pictures are not panned or zoomed out."


async def test_zoom_film_starts_a_zoom_journey_from_the_picture_with_its_prompt_and_seed(bot, emulator):
    alice, mod = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    assert "is now 3" in await settings(emulator, "set", mod, key="max_frames", value="3")
    _, text = await dream(emulator, "a tunnel", option("model", "pixels"), option("size", "32x32"), member=alice)
    parent = await bot.store.job(job_id_of(text))
    done = await emulator.wait_title(parent.id, "Done")
    answer = await click(emulator, done, "zoom_film", alice)
    assert "a zoom film of 3 frames from job" in answer
    film = await bot.store.job(job_id_of(answer))
    assert (film.request.kind.name, film.request.zoom_frames, film.parent) == ("film", 3, parent.id)
    assert (film.request.prompt, film.request.seed) == (parent.request.prompt, parent.request.seed)
    assert Path(film.request.init_image).read_bytes() == bot.files.result(parent.id).read_bytes()
    shown = await emulator.wait_title(film.id, "Done")
    assert any(name.endswith(".mp4") for name in emulator.files[int(shown["id"])]), "the film is posted"


async def morph(emulator, member: Member, *options: dict) -> str:
    asked = await emulator.slash("morph", list(options), member=member)
    return await emulator.wait_for(lambda: emulator.reply_text(asked))


async def test_morph_films_one_members_two_pictures_and_refuses_anyone_elses_or_another_models(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    jobs = []
    for prompt, model in (("a red dawn", "pixels"), ("a blue night", "pixels"), ("a green hill", "tiny-vqgan")):
        _, text = await dream(emulator, prompt, option("model", model), option("size", "32x32"), member=alice)
        jobs.append(job_id_of(text))
    for job in jobs:
        await emulator.wait_title(job, "Done")
    first, second, other = jobs

    said = await morph(emulator, alice, option("job_a", first), option("job_b", second), option("frames", 3, 4))
    assert f"a morph of 3 frames from job `{first}` to job `{second}`" in said
    film = await bot.store.job(job_id_of(said))
    request = film.request
    assert (film.request.kind.name, film.parent, request.zoom_frames, request.prompt) == (
        "morph",
        first,
        3,
        "a red dawn || a blue night",
    )
    assert Path(request.init_image).read_bytes() == bot.files.result(first).read_bytes()
    assert Path(request.morph_to).read_bytes() == bot.files.result(second).read_bytes()
    shown = await emulator.wait_title(film.id, "Done")
    names = list(emulator.files[int(shown["id"])])
    assert any(name.endswith(".mp4") for name in names), names
    fields = {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}
    assert fields["Film"] == "morph, 3 frames"
    ids = [b["custom_id"] for row in shown["components"] for b in row["components"]]
    assert ids == [f"dream:gif:{film.id}"]
    end = np.asarray(picture(emulator, shown).convert("RGB")).astype(int)
    parent = np.asarray(Image.open(bot.files.result(second)).convert("RGB")).astype(int)
    assert np.abs(end - parent).mean() < 2.0, "the film ends on the second picture (pixels fits it: 0.0 measured)"

    refused = await morph(emulator, bob, option("job_a", first), option("job_b", second))
    assert refused == f"Only the member who asked for job {first} or a moderator can morph it."
    refused = await morph(emulator, alice, option("job_a", first), option("job_b", other))
    assert refused == f"Job {first} is pixels and job {other} is tiny-vqgan; a morph joins pictures of one model."
    refused = await morph(emulator, alice, option("job_a", first), option("job_b", "feedbeef"))
    assert refused == "There is no job 'feedbeef' in this server; the id is in the footer under its picture."
    assert [j.id for j in await bot.store.queued()] == []
