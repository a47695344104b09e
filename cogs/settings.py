"""/settings show | set KEY VALUE | reset KEY, for moderators (Manage Server, or the configured role)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import DreamBot
from bot.job_actions import is_moderator
from bot.replies import reply
from bot.settings import SETTINGS, GuildSettings, ServerRefs, describe

log = logging.getLogger(__name__)


MESSAGE_LIMIT = 2000  # characters in one Discord message


def _table(settings: GuildSettings) -> str:
    """Every setting with its help; without the help when that would not fit one message."""
    rows = describe(settings)
    text = "\n".join(f"**{key}** = {value}  ·  {help_text}" for key, value, help_text in rows)
    if len(text) > MESSAGE_LIMIT:
        text = "\n".join(f"**{key}** = {value}" for key, value, _ in rows)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


@app_commands.guild_only()
class Settings(commands.GroupCog, group_name="settings", group_description="This server's dream defaults and limits"):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        assert interaction.guild_id is not None
        settings = await self.bot.settings.get(interaction.guild_id)
        if not is_moderator(interaction.user, settings, interaction.permissions):
            raise app_commands.CheckFailure("Only moderators (Manage Server, or the server's moderator role) can use /settings.")
        return True

    @app_commands.command(name="show", description="Every setting and its value")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await reply(interaction, _table(await self.bot.settings.get(interaction.guild_id)))

    @app_commands.command(name="set", description="Change one setting")
    @app_commands.describe(key="which setting", value="its new value")
    async def set(self, interaction: discord.Interaction, key: str, value: str) -> None:
        assert interaction.guild_id is not None
        key = key.strip()
        guild = interaction.guild
        server = None
        if guild is not None:
            server = ServerRefs(guild.id, frozenset(r.id for r in guild.roles), frozenset(c.id for c in guild.channels))
        updated = await self.bot.settings.set(interaction.guild_id, key, value, server)
        shown = SETTINGS[key].show(getattr(updated, key))
        log.info("%s set %s = %s in server %s", interaction.user.id, key, shown, interaction.guild_id)
        await reply(interaction, f"**{key}** is now {shown}.")

    @app_commands.command(name="reset", description="Put one setting back to the bot's default")
    @app_commands.describe(key="which setting")
    async def reset(self, interaction: discord.Interaction, key: str) -> None:
        assert interaction.guild_id is not None
        key = key.strip()
        updated = await self.bot.settings.reset(interaction.guild_id, key)
        await reply(interaction, f"**{key}** is back to {SETTINGS[key].show(getattr(updated, key))}.")

    @set.autocomplete("key")
    @reset.autocomplete("key")
    async def _keys(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{k} — {s.help}"[:100], value=k) for k, s in SETTINGS.items() if current in k][:25]


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Settings(bot))
