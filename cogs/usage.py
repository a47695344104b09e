"""/usage: a member's GPU-minutes (today, this week, in all), their daily quota and their place in line; with
``server:True``, for moderators, the server's totals and its top members."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission.refusal import Refusal, roles_of
from bot.client import DreamBot
from bot.display.replies import reply
from bot.usage.ledger import WEEK, day_start

TOP_MEMBERS = 10


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


@app_commands.guild_only()
class Usage(commands.Cog):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="usage", description="Your GPU-minutes and place in line; server:True for the server's")
    @app_commands.describe(server="moderators: the server's totals and its top members")
    async def usage(self, interaction: discord.Interaction, server: bool = False) -> None:
        assert interaction.guild_id is not None
        if server:
            await self._server(interaction, interaction.guild_id)
            return
        now = time.time()
        use = await self.bot.ledger.member(interaction.guild_id, interaction.user.id, roles_of(interaction.user), now)
        lines = [f"GPU-minutes: {minutes(use.today)} today, {minutes(use.week)} in 7 days, {minutes(use.total)} in all."]
        if use.quota_minutes is not None:
            lines.append(
                f"Your quota: {use.quota_minutes:g} a day; {use.left_minutes:.1f} left"
                + (f" ({minutes(use.waiting)} held for your waiting jobs)" if use.waiting else "")
                + f"; it refills <t:{int(use.refills)}:R>."
            )
        order = await self.bot.scheduler.order()
        places = [place for place, job in enumerate(order, 1) if job.user_id == interaction.user.id]
        running = [job for job in self.bot.scheduler.running.values() if job.user_id == interaction.user.id]
        waiting = f"your next job is {places[0]} of {len(order)} in line" if places else "no job of yours waits"
        lines.append(f"Queue: {waiting}" + (f"; {len(running)} of yours painting now." if running else "."))
        await reply(interaction, "\n".join(lines))

    async def _server(self, interaction: discord.Interaction, guild_id: int) -> None:
        doing = "see the server's usage"
        if refusal := await self.bot.actions.not_a_moderator(guild_id, interaction.user, interaction.permissions, doing):
            raise Refusal(refusal)
        now = time.time()
        ledger = self.bot.ledger
        totals = [sum((await self.bot.store.used(guild_id, since)).values()) for since in (day_start(now), now - WEEK, 0.0)]
        settings = await self.bot.settings.get(guild_id)
        lines = [
            f"This server: {minutes(totals[0])} GPU-minutes today, {minutes(totals[1])} in 7 days, {minutes(totals[2])} "
            f"in all. Fairness: {settings.fairness}; daily quota: {settings.daily_gpu_minutes}.",
            "Most in 7 days:",
        ]
        top = await ledger.top(guild_id, now - WEEK, TOP_MEMBERS)
        lines += [f"{place}. <@{user}>: {minutes(seconds)}" for place, (user, seconds) in enumerate(top, 1)] or ["nobody yet"]
        await reply(interaction, "\n".join(lines))


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Usage(bot))
