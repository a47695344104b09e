"""The rest of the 2021 toolbox through Discord, end to end against the emulator: Aleph2Image, CLIPDraw (and its
SVG button) and StyleGAN by /dream, CLIP ensembles from the server's list, and /deepdream on a member's picture."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from tests.cogs.test_results import PANS, ROW0, buttons, custom_id, picture, press
from tests.support.discord_bot import dream, job_id_of, option, refused, settings
from tests.support.discord_emulator import MANAGE_GUILD, DiscordEmulator, Member


async def test_aleph2image_clipdraw_and_an_ensemble_paint_through_dream(bot, emulator):
    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    alice = Member(emulator.snowflake(), "alice")
    _, text = await dream(emulator, "a city at dawn", option("model", "tiny-dvae"), member=alice)
    done = await emulator.wait_title(job_id_of(text), "Done")
    assert "Model: tiny-dvae, Perceptor: tiny-clip" in picture(emulator, done).text["parameters"]
    assert buttons(done) == [[*ROW0], ["Animation", *PANS], ["Zoom Out 1.5x", "Zoom Out 2x", "Zoom film"]], "no SVG"

    _, text = await dream(emulator, "a cat", option("model", "clipdraw"), option("options", "strokes=12"), member=alice)
    job_id = job_id_of(text)
    done = await emulator.wait_title(job_id, "Done")
    assert buttons(done) == [[*ROW0], ["Animation", *PANS], ["Zoom Out 1.5x", "Zoom Out 2x", "Zoom film", "SVG"]]
    clicked = await emulator.click(int(done["id"]), custom_id(done, "SVG"), alice)
    assert "as an SVG" in await emulator.wait_for(lambda: emulator.reply_text(clicked))
    ((name, data),) = emulator.interaction_replies(clicked)[0].files.values()
    svg = ET.fromstring(data)
    assert name == f"dream-{job_id}.svg" and len(svg) == 1 + 12 and svg.get("width") == "32"

    _, text = await dream(emulator, "a portrait of a cyborg queen", option("model", "tiny-stylegan2"), member=alice)
    done = await emulator.wait_title(job_id_of(text), "Done")
    portrait = picture(emulator, done)
    assert portrait.size == (64, 64), "a StyleGAN paints its own size, whatever the server's default"
    assert "Model: tiny-stylegan2" in portrait.text["parameters"]

    ensemble = "tiny-clip+tiny-clip-48"
    refusal = await refused(emulator, bot, "dream", [option("prompt", "a fox"), option("options", f"perceptor={ensemble}")])
    assert f"not '{ensemble}'" in refusal
    assert "names one perceptor twice" in await settings(
        emulator, "set", moderator, key="perceptors", value="tiny-clip+tiny-clip"
    )
    await settings(emulator, "set", moderator, key="perceptors", value=ensemble)
    _, text = await dream(emulator, "a fox", option("options", f"perceptor={ensemble}"), member=alice)
    done = await emulator.wait_title(job_id_of(text), "Done")
    assert f"Perceptor: {ensemble}" in picture(emulator, done).text["parameters"]


def photo(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


async def deepdream(emulator: DiscordEmulator, attachment: dict, *options: dict, member: Member) -> int:
    given = [option("image", attachment["id"], 11), *options]
    return await emulator.slash("deepdream", given, member=member, attachments={attachment["id"]: attachment})


async def test_deepdream_dreams_on_a_members_picture_through_the_queue(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    attachment = emulator.attachment("holiday.png", photo(48, 36))
    interaction = await deepdream(emulator, attachment, option("steps", 6, 4), option("layer", "inception3b"), member=alice)
    job_id = job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction)))
    job = await bot.store.job(job_id)
    assert (job.request.model, job.request.size, job.request.options) == ("tiny-inception", "48x36", {"layer": "inception3b"})
    done = await emulator.wait_title(job_id, "Dreamt")
    dreamt = picture(emulator, done)
    assert dreamt.size == (48, 36), "the dream keeps the picture's size"
    assert "Model: tiny-inception, Layer: inception3b" in dreamt.text["parameters"]
    fields = {f["name"]: f["value"] for f in done["embeds"][0]["fields"]}
    assert (fields["Layer"], fields["Steps"], fields["Size"]) == ("inception3b", "6", "48x36")
    assert done["embeds"][0]["description"] == "DeepDream on a picture"
    assert buttons(done) == [["Upscale"]]
    upscale = job_id_of(await press(emulator, done, "Upscale", alice))
    assert picture(emulator, await emulator.wait_title(upscale, "Upscaled")).size == (192, 144)

    moderator = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    await settings(emulator, "set", moderator, key="max_size", value="32x32")
    interaction = await deepdream(emulator, attachment, option("prompt", "a red barn"), option("steps", 4, 4), member=alice)
    steered = await bot.store.job(job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction))))
    assert steered.request.size == "32x24", "a picture above the server's largest size is scaled down to fit"
    assert picture(emulator, await emulator.wait_title(steered.id, "Dreamt")).size == (32, 24)

    await settings(emulator, "set", moderator, key="max_steps", value="20")
    for typed, expected in (
        ([option("steps", 50, 4)], "Steps must be between 1 and 20 on this server, not 50"),
        ([option("layer", "fc")], "Layer must be one of conv2, conv3"),
    ):
        given = [option("image", attachment["id"], 11), *typed]
        refusal = await refused(emulator, bot, "deepdream", given, attachments={attachment["id"]: attachment})
        assert expected in refusal
