"""/gallery: a link to the server's pictures on the web (``bot/web/``), signed for the member who asks and the
channels they can see now, or the server's public link when its ``gallery`` setting is ``public``."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission.refusal import Refusal
from bot.client import DreamBot
from bot.display.replies import reply
from bot.web.links import MEMBER_DAYS, PUBLIC_DAYS, Pass, sign

DAY = 86400


def visible_channels(guild: discord.Guild, who: discord.Member | discord.Role) -> list[int]:
    """The channels and threads ``who`` may view (a role: what everyone with it sees)."""
    channels = [channel for channel in guild.channels if channel.permissions_for(who).view_channel]
    seen = {channel.id for channel in channels}
    return sorted(seen | {thread.id for thread in guild.threads if thread.parent_id in seen})


@app_commands.guild_only()
class Gallery(commands.Cog):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="gallery", description="A link to this server's pictures on the web")
    async def gallery(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild
        assert guild is not None and isinstance(interaction.user, discord.Member)
        if self.bot.web is None:
            raise Refusal("This bot has no web gallery: its owner turns it on with [web] listen in its config.")
        mode = (await self.bot.settings.get(guild.id)).gallery
        if mode == "off":
            raise Refusal("This server's gallery is off; a moderator turns it on with /settings set gallery members.")
        public = mode == "public"
        who: discord.Member | discord.Role = guild.default_role if public else interaction.user
        user_id = 0 if public else interaction.user.id
        await self.bot.store.put_gallery_view(guild.id, user_id, visible_channels(guild, who))
        expires = int(time.time()) + (PUBLIC_DAYS if public else MEMBER_DAYS) * DAY
        token = sign(await self.bot.store.web_secret(), Pass(guild.id, user_id, expires))
        link = f"{self.bot.web.base_url()}/g/{token}"
        if public:
            text = f"This server's public gallery (anyone with the link sees it, until <t:{expires}:f>): {link}"
        else:
            text = f"Your own link to this server's gallery, until <t:{expires}:f> (it shows what you can see here): {link}"
        await reply(interaction, text)


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Gallery(bot))
