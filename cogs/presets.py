"""/preset add, list and remove: a server's named prompt styles (``bot/admission/presets.py``), which /dream's
``preset`` option applies. Moderators add and remove; anyone lists."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission.presets import MAX_PRESETS, checked
from bot.admission.refusal import Refusal
from bot.client import DreamBot
from bot.display.replies import reply
from bot.moderation.entries import Kind
from contract.registry import generator_names


@app_commands.guild_only()
class Presets(commands.GroupCog, group_name="preset", group_description="Named prompt styles for /dream's preset"):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot

    async def _moderator(self, interaction: discord.Interaction, doing: str) -> int:
        guild_id = interaction.guild_id
        assert guild_id is not None
        if refusal := await self.bot.actions.not_a_moderator(guild_id, interaction.user, interaction.permissions, doing):
            raise Refusal(refusal)
        return guild_id

    @app_commands.command(name="add", description="Add (or replace) a preset of this server")
    @app_commands.describe(
        name="lower-case letters, digits and dashes, e.g. dark-fantasy",
        text='prompt parts it adds, e.g. "unreal engine:0.5 | by James Gurney:0.3"',
        model="a generator it paints with, unless the member names one",
        options="advanced options it uses, unless the member gives theirs, e.g. cutn=64",
    )
    async def add(
        self, interaction: discord.Interaction, name: str, text: str, model: str | None = None, options: str | None = None
    ) -> None:
        guild_id = await self._moderator(interaction, "add presets")
        preset = checked(name, text, model, options)
        own = await self.bot.store.presets(guild_id)
        if preset.name not in own and len(own) >= MAX_PRESETS:
            raise Refusal(f"This server has {MAX_PRESETS} presets, the most it may keep; remove one first.")
        await self.bot.store.put_preset(guild_id, preset)
        await self.bot.audit.record(guild_id, Kind.SETTING, interaction.user.id, f"preset {preset.name} = {preset.text}")
        model = f" with {preset.model}" if preset.model else ""
        await reply(interaction, f"Preset `{preset.name}` adds `{preset.text}`{model}.")

    @app_commands.command(name="list", description="The presets /dream may name here")
    async def list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        known = await self.bot.actions.presets(interaction.guild_id, interaction.channel_id)
        lines = [
            f"`{p.name}`: {discord.utils.escape_markdown(p.text)}"
            + (f" ({p.model})" if p.model else "")
            + (" · built-in" if p.builtin else "")
            for p in sorted(known.values(), key=lambda p: (p.builtin, p.name))
        ]
        await reply(interaction, "\n".join(lines)[:2000] if lines else "No presets here: moderators add them with /preset add.")

    @app_commands.command(name="remove", description="Remove one of this server's presets")
    async def remove(self, interaction: discord.Interaction, name: str) -> None:
        guild_id = await self._moderator(interaction, "remove presets")
        if not await self.bot.store.delete_preset(guild_id, name.strip().lower()):
            raise Refusal(f"This server has no preset {name!r} of its own (built-in ones are turned off with builtin_presets).")
        await self.bot.audit.record(guild_id, Kind.SETTING, interaction.user.id, f"preset {name} removed")
        await reply(interaction, f"Preset `{name.strip().lower()}` is removed.")

    @add.autocomplete("model")
    async def _models(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in generator_names() if current.lower() in n][:25]


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Presets(bot))
