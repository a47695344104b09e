"""Presets through Discord: moderators keep a server's named styles, /dream preset:NAME adds their prompt parts (and
model and options), visible in the PNG's parameters and rebuilt by --from; the built-in set may be turned off."""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

from bot.cli import build_parser
from bot.cli.request import request_from_args
from contract import parameters
from contract.validation import validate
from tests.support.discord_bot import dream, job_id_of, option, settings
from tests.support.discord_emulator import MANAGE_GUILD, Member


async def preset(emulator, member: Member, command: str, **values: str) -> str:
    asked = await emulator.slash(
        "preset", [{"name": command, "type": 1, "options": [option(k, v) for k, v in values.items()]}], member=member
    )
    return await emulator.wait_for(lambda: emulator.reply_text(asked))


async def test_a_moderators_preset_adds_its_parts_model_and_options_and_the_png_records_them(bot, emulator, config, tmp_path):
    alice, mod = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    refused = await preset(emulator, alice, "add", name="dark", text="dark fantasy:0.5")
    assert refused.startswith("Only moderators") and await bot.store.presets(emulator.guild_id) == {}
    added = await preset(emulator, mod, "add", name="Dark", text="dark fantasy:0.5 | fog:-0.3", model="pixels", options="cutn=5")
    assert added == "Preset `dark` adds `dark fantasy:0.5 | fog:-0.3` with pixels."
    _, text = await dream(emulator, "a castle", option("preset", "dark"), member=alice)
    job = await bot.store.job(job_id_of(text))
    assert job.request.prompt == "a castle | dark fantasy:0.5 | fog:-0.3"
    assert (job.request.model, job.request.cutn) == ("pixels", 5)
    _, text = await dream(emulator, "a castle", option("preset", "dark"), option("model", "tiny-vqgan"), member=alice)
    assert (await bot.store.job(job_id_of(text))).request.model == "tiny-vqgan", "the member's own model wins"

    done = await emulator.wait_title(job.id, "Done")
    (png,) = [data for name, data in emulator.files[int(done["id"])].items() if name.endswith(".png")]
    recorded = parameters.read(Image.open(io.BytesIO(png)).text["parameters"])
    assert recorded["prompt"] == "a castle | dark fantasy:0.5 | fog:-0.3"
    (tmp_path / "dark.png").write_bytes(png)
    again = request_from_args(build_parser().parse_args(["render", "--from", str(tmp_path / "dark.png")]), config)
    resolved = validate(job.request)  # the PNG records the learning rate and options as they were resolved
    whole = dataclasses.replace(job.request, preview_every=again.preview_every, lr=resolved.lr, options=resolved.options)
    assert again == whole, "--from rebuilds it whole"


async def test_built_in_presets_serve_until_the_server_turns_them_off_and_unknown_names_are_refused(bot, emulator):
    alice, mod = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    _, text = await dream(emulator, "a castle", option("preset", "unreal-engine"), member=alice)
    assert (await bot.store.job(job_id_of(text))).request.prompt == "a castle | unreal engine:0.5"
    listed = await preset(emulator, alice, "list")
    assert "`unreal-engine`: unreal engine:0.5 · built-in" in listed and "`artstation`" in listed
    assert "is now off" in await settings(emulator, "set", mod, key="builtin_presets", value="off")
    _, text = await dream(emulator, "a castle", option("preset", "unreal-engine"), member=alice)
    assert text == "There is no preset 'unreal-engine' here. Presets: none yet (moderators add them with /preset add)."
    await preset(emulator, mod, "add", name="unreal-engine", text="unreal engine:0.9")
    _, text = await dream(emulator, "a castle", option("preset", "unreal-engine"), member=alice)
    assert (await bot.store.job(job_id_of(text))).request.prompt == "a castle | unreal engine:0.9", "the server's own"
    assert await preset(emulator, mod, "remove", name="unreal-engine") == "Preset `unreal-engine` is removed."
    assert "has no preset" in await preset(emulator, mod, "remove", name="unreal-engine")


async def test_a_preset_that_is_not_a_prompt_or_not_a_name_is_refused_and_nothing_is_kept(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    for values, refusal in (
        ({"name": "two words", "text": "x"}, "is not a preset name"),
        ({"name": "ok", "text": "a || b"}, "without ||"),
        ({"name": "ok", "text": "fog:-1"}, "needs a positive weight"),
        ({"name": "ok", "text": "x", "model": "ViT-B-32/openai"}, "is not a generator"),
    ):
        assert refusal in await preset(emulator, mod, "add", **values)
    assert await bot.store.presets(emulator.guild_id) == {}


async def test_a_style_that_names_a_preset_is_every_dreams_default_and_a_named_preset_stands_in_for_it(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    await preset(emulator, mod, "add", name="dark", text="dark fantasy:0.5", model="pixels", options="cutn=5")
    assert "is now dark" in await settings(emulator, "set", mod, key="style", value="dark")

    async def dreamt(*options: dict) -> object:  # each by a member of their own: one member's cap is not the point
        _, text = await dream(emulator, "a castle", *options, member=Member(emulator.snowflake(), "someone"))
        return (await bot.store.job(job_id_of(text))).request

    default = await dreamt()
    assert (default.prompt, default.model, default.cutn) == ("a castle | dark fantasy:0.5", "pixels", 5)
    named = await dreamt(option("preset", "unreal-engine"))
    assert (named.prompt, named.model) == ("a castle | unreal engine:0.5", "tiny-vqgan"), "the named preset alone"
    assert (await dreamt(option("model", "tiny-vqgan"))).model == "tiny-vqgan", "the member's own model wins"

    assert "is now gold leaf" in await settings(emulator, "set", mod, key="style", value="gold leaf")
    assert (await dreamt()).prompt == "a castle | gold leaf", "a style that names no preset is added as written"
    assert (await dreamt(option("preset", "unreal-engine"))).prompt == "a castle | unreal engine:0.5 | gold leaf"
