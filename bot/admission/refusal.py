"""What every door to the queue shares: the refusal a member is shown, and who counts as a moderator."""

from __future__ import annotations

import discord

Someone = discord.Member | discord.User


class Refusal(Exception):
    """A request the bot will not queue; ``str()`` is the message for the member."""


def is_moderator(member: Someone, moderator_role: int | None, permissions: discord.Permissions | None = None) -> bool:
    """Manage Server (in the channel's ``permissions`` when given), or the server's ``moderator_role``."""
    if not isinstance(member, discord.Member):
        return False
    permissions = permissions or member.guild_permissions
    return permissions.manage_guild or any(role.id == moderator_role for role in member.roles)


def roles_of(member: Someone) -> set[int]:
    """The ids of a member's roles (none for a user outside a server)."""
    return {role.id for role in getattr(member, "roles", ())}
