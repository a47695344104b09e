"""Buttons on job messages: Cancel while a job waits or paints, Again and Animation under a result.

Their ``custom_id`` carries the job id, so they keep working after a restart: discord.py matches
clicks against the template, not against views it remembers.
"""

from __future__ import annotations

import re
from typing import Any

import discord

# action: (label, emoji, style, the dream cog's handler)
ACTIONS = {
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.danger, "cancel_button"),
    "again": ("Again", "🔁", discord.ButtonStyle.secondary, "again_button"),
    "gif": ("Animation", "🎞️", discord.ButtonStyle.secondary, "animation_button"),
}


TEMPLATE = rf"dream:(?P<action>{'|'.join(ACTIONS)}):(?P<job>[0-9a-f]{{1,32}})"


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    def __init__(self, action: str, job_id: str) -> None:
        label, emoji, style, _ = ACTIONS[action]
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"dream:{action}:{job_id}"))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> Any:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Handled by the dream cog, which owns the queue; this item only routes the click."""
        cog = interaction.client.get_cog("Dream")  # type: ignore[attr-defined]
        await getattr(cog, ACTIONS[self.action][3])(interaction, self.job_id)


def _view(job_id: str, *actions: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def progress_view(job_id: str) -> discord.ui.View:
    return _view(job_id, "cancel")


def result_view(job_id: str) -> discord.ui.View:
    return _view(job_id, "again", "gif")
