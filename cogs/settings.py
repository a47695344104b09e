"""/settings show | set KEY VALUE | reset KEY, for moderators (Manage Server, or the configured role)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission.settings import SETTINGS, GuildSettings, ServerRefs, SettingError, describe, parse_setting
from bot.client import DreamBot
from bot.display.replies import reply
from bot.moderation.entries import Kind

log = logging.getLogger(__name__)


TABLE_LIMIT = 4096  # characters in one embed's description, where /settings show answers


SOURCES = {"channel": " (this channel)", "server": "", "default": " (default)"}


def _table(settings: GuildSettings, sources: dict[str, str]) -> str:
    """Every setting with where it comes from and its help; without the help when that would not fit one embed."""
    rows = [(key, f"{value}{SOURCES[sources[key]]}", help_text) for key, value, help_text in describe(settings)]
    text = "\n".join(f"**{key}** = {value}  ·  {help_text}" for key, value, help_text in rows)
    if len(text) > TABLE_LIMIT:
        text = "\n".join(f"**{key}** = {value}" for key, value, _ in rows)
    return text if len(text) <= TABLE_LIMIT else text[: TABLE_LIMIT - 1] + "…"


def _channel(interaction: discord.Interaction, text: str | None, home: Callable[[int], int]) -> int | None:
    """``here`` or one channel mention of this server (None: the whole server); a thread means its parent
    channel, whose settings hold in it."""
    if text is None or not text.strip():
        return None
    if text.strip().lower() == "here" and interaction.channel_id is not None:
        return home(interaction.channel_id)
    ids = parse_setting("channels", text)
    guild = interaction.guild
    if len(ids) != 1 or (guild is not None and guild.get_channel_or_thread(ids[0]) is None and ids[0] != interaction.channel_id):
        raise SettingError("give one channel of this server (#name), or 'here'")
    return home(ids[0])


def _where(channel_id: int | None) -> str:
    return f" in <#{channel_id}>" if channel_id is not None else ""


@app_commands.guild_only()
class Settings(commands.GroupCog, group_name="settings", group_description="This server's dream defaults and limits"):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        assert interaction.guild_id is not None
        self.bot.actions.learn_place(interaction.channel)
        doing = "use /settings"
        if refusal := await self.bot.actions.not_a_moderator(
            interaction.guild_id, interaction.user, interaction.permissions, doing
        ):
            raise app_commands.CheckFailure(refusal)
        return True

    @app_commands.command(name="show", description="Every setting, its value and where it comes from")
    @app_commands.describe(channel="a channel (#name) or 'here': the values that hold there")
    async def show(self, interaction: discord.Interaction, channel: str | None = None) -> None:
        assert interaction.guild_id is not None
        where = _channel(interaction, channel, self.bot.settings.home)
        settings = await self.bot.settings.get(interaction.guild_id, where)
        sources = await self.bot.settings.sources(interaction.guild_id, where)
        title = f"Settings in <#{where}>" if where else "Settings of this server"
        await reply(interaction, "", embed=discord.Embed(title=title, description=_table(settings, sources)))

    @app_commands.command(name="set", description="Change one setting, for the server or one channel")
    @app_commands.describe(key="which setting", value="its new value", channel="only in this channel (#name, or 'here')")
    async def set(self, interaction: discord.Interaction, key: str, value: str, channel: str | None = None) -> None:
        assert interaction.guild_id is not None
        key = key.strip()
        where = _channel(interaction, channel, self.bot.settings.home)
        guild = interaction.guild
        server = None
        if guild is not None:
            server = ServerRefs(guild.id, frozenset(r.id for r in guild.roles), frozenset(c.id for c in guild.channels))
        updated = await self.bot.settings.set(interaction.guild_id, key, value, server, where)
        shown = SETTINGS[key].show(getattr(updated, key))
        log.info("%s set %s = %s in server %s channel %s", interaction.user.id, key, shown, interaction.guild_id, where)
        await self.bot.audit.record(interaction.guild_id, Kind.SETTING, interaction.user.id, f"{key} = {shown}{_where(where)}")
        await reply(interaction, f"**{key}** is now {shown}{_where(where)}.")

    @app_commands.command(
        name="reset", description="Put one setting back: a server's to the default, a channel's to the server's"
    )
    @app_commands.describe(key="which setting", channel="only this channel's own value (#name, or 'here')")
    async def reset(self, interaction: discord.Interaction, key: str, channel: str | None = None) -> None:
        assert interaction.guild_id is not None
        key = key.strip()
        where = _channel(interaction, channel, self.bot.settings.home)
        updated = await self.bot.settings.reset(interaction.guild_id, key, where)
        shown = SETTINGS[key].show(getattr(updated, key))
        text = f"{key} reset to {shown}{_where(where)}"
        await self.bot.audit.record(interaction.guild_id, Kind.SETTING, interaction.user.id, text)
        await reply(interaction, f"**{key}** is back to {shown}{_where(where)}.")

    @set.autocomplete("key")
    @reset.autocomplete("key")
    async def _keys(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{k} — {s.help}"[:100], value=k) for k, s in SETTINGS.items() if current in k][:25]


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Settings(bot))
