"""Buttons under a finished picture. Their ``custom_id`` carries the job id, so they keep working
after a restart: discord.py matches clicks against the templates, not against stored views."""

from __future__ import annotations

import re
from typing import Any

import discord


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=r"dream:(?P<action>again|gif):(?P<job>[0-9a-f]{1,32})"):
    def __init__(self, action: str, job_id: str) -> None:
        label, emoji = ("Again", "🔁") if action == "again" else ("Animation", "🎞️")
        super().__init__(
            discord.ui.Button(label=label, emoji=emoji, style=discord.ButtonStyle.secondary, custom_id=f"dream:{action}:{job_id}")
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> Any:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Handled by the dream cog, which owns the queue; this item only routes the click."""
        cog = interaction.client.get_cog("Dream")  # type: ignore[attr-defined]
        if self.action == "again":
            await cog.again_button(interaction, self.job_id)
        else:
            await cog.animation_button(interaction, self.job_id)


def result_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("again", job_id))
    view.add_item(JobButton("gif", job_id))
    return view
