"""What every door to the queue shares: the refusal a member is shown, and who counts as a moderator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from bot.admission.settings import GuildSettings

Someone = discord.Member | discord.User


class Refusal(Exception):
    """A request the bot will not queue; ``str()`` is the message for the member."""


def is_moderator(member: Someone, settings: GuildSettings, permissions: discord.Permissions | None = None) -> bool:
    """Manage Server (in the channel's ``permissions`` when given), or the server's moderator role."""
    if not isinstance(member, discord.Member):
        return False
    permissions = permissions or member.guild_permissions
    return permissions.manage_guild or any(role.id == settings.moderator_role for role in member.roles)
