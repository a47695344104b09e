"""/audit and /block, for moderators (Manage Server, or the configured role): what a member did and was refused,
and keeping a member away from the bot for a while, with a reason they are told."""

from __future__ import annotations

import re
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission.refusal import Refusal
from bot.client import DreamBot
from bot.display.replies import reply
from bot.moderation.entries import Kind

AUDIT_LINES = 15  # a member's latest entries /audit shows
MAX_REASON = 300
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"\s*(\d{1,6})\s*([mhdw])\s*", re.IGNORECASE | re.ASCII)
FOREVER, LIFT = "forever", "off"


def block_seconds(text: str) -> float | None:
    """A block's length: ``30m``, ``12h``, ``7d``, ``2w``, or ``forever`` (None)."""
    if text.strip().lower() == FOREVER:
        return None
    match = _DURATION.fullmatch(text)
    if not match or int(match[1]) == 0:
        raise Refusal(f"{text!r} is not a duration; use 30m, 12h, 7d or 2w, 'forever', or 'off' to lift a block")
    return int(match[1]) * _SECONDS[match[2].lower()]


@app_commands.guild_only()
class Moderation(commands.Cog):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        assert interaction.guild_id is not None
        doing = f"use /{interaction.command.name if interaction.command else 'this'}"
        actions = self.bot.actions
        if refusal := await actions.not_a_moderator(interaction.guild_id, interaction.user, interaction.permissions, doing):
            raise app_commands.CheckFailure(refusal)
        return True

    @app_commands.command(name="audit", description="A member's latest jobs, refusals, flagged pictures and blocks")
    @app_commands.describe(member="whose entries to show")
    async def audit(self, interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild_id is not None
        lines = await self.bot.audit.recent(interaction.guild_id, member.id, AUDIT_LINES)
        block = await self.bot.store.blocked(interaction.guild_id, member.id, time.time())
        head = (
            f"<@{member.id}> is blocked"
            + (f" until <t:{int(block[0])}:f>" if block and block[0] else "")
            + (f": {block[1]}" if block else "")
        )
        text = "\n".join([head] * bool(block) + (lines or [f"Nothing in the audit log about <@{member.id}>."]))
        await reply(interaction, text[:2000])

    @app_commands.command(name="block", description="Keep a member from using the bot here, or lift a block")
    @app_commands.describe(
        member="whom to block", duration="30m, 12h, 7d, 2w or forever (the default); off lifts a block",
        reason="what they are told",
    )  # fmt: skip
    async def block(
        self, interaction: discord.Interaction, member: discord.User, duration: str = FOREVER, reason: str = "no reason given"
    ) -> None:
        guild_id = interaction.guild_id
        assert guild_id is not None
        if duration.strip().lower() == LIFT:
            if not await self.bot.store.unblock(guild_id, member.id):
                raise Refusal(f"<@{member.id}> is not blocked.")
            await self.bot.audit.record(guild_id, Kind.BLOCKED, member.id, f"unblocked by <@{interaction.user.id}>")
            await reply(interaction, f"<@{member.id}> may use the bot again.")
            return
        if member.bot or member.id == interaction.user.id:
            raise Refusal("Block a member of the server other than yourself.")
        seconds = block_seconds(duration)
        until = time.time() + seconds if seconds is not None else None
        reason = reason.strip()[:MAX_REASON] or "no reason given"
        await self.bot.store.block(guild_id, member.id, until, reason, interaction.user.id)
        when = f" until <t:{int(until)}:f>" if until else ""
        await self.bot.audit.record(guild_id, Kind.BLOCKED, member.id, f"blocked{when} by <@{interaction.user.id}>: {reason}")
        await reply(interaction, f"<@{member.id}> is blocked{when}: {reason}")


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Moderation(bot))
