"""Buttons on job messages: Cancel while a job waits or paints, Again and Animation under a result.

Their ``custom_id`` carries the job id, so they keep working after a restart: discord.py matches
clicks against the template, not against views it remembers. A click runs the same action as the
reaction with the same emoji (``bot/job_actions.py``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.admission import Refusal
from bot.emoji import AGAIN, ANIMATION, CANCEL
from bot.jobs import Job
from bot.replies import reply

if TYPE_CHECKING:
    from bot.job_actions import JobActions

Answer = tuple[str, dict[str, Any]]  # the text only the clicking member sees, and its attachments


async def _cancel(actions: JobActions, interaction: discord.Interaction, job: Job) -> Answer:
    await actions.cancel(job, interaction.user, interaction.permissions)
    return f"Job `{job.id}` is cancelled.", {}


async def _again(actions: JobActions, interaction: discord.Interaction, job: Job) -> Answer:
    new = await actions.again(job, interaction.user)
    return f"Queued as job `{new.id}` (seed {new.request.seed}).", {}


async def _animation(actions: JobActions, interaction: discord.Interaction, job: Job) -> Answer:
    return "The run, as a film:", {"file": await actions.animation(job)}


@dataclass(frozen=True)
class ButtonAction:
    label: str
    emoji: str
    style: discord.ButtonStyle
    press: Callable[[JobActions, discord.Interaction, Job], Awaitable[Answer]]


BUTTONS = {
    "cancel": ButtonAction("Cancel", CANCEL, discord.ButtonStyle.danger, _cancel),
    "again": ButtonAction("Again", AGAIN, discord.ButtonStyle.secondary, _again),
    "gif": ButtonAction("Animation", ANIMATION, discord.ButtonStyle.secondary, _animation),
}
TEMPLATE = rf"dream:(?P<action>{'|'.join(BUTTONS)}):(?P<job>[0-9a-f]{{1,32}})"


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    def __init__(self, action: str, job_id: str) -> None:
        button = BUTTONS[action]
        super().__init__(
            discord.ui.Button(label=button.label, emoji=button.emoji, style=button.style, custom_id=f"dream:{action}:{job_id}")
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> Any:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """The member sees the action's answer, or why it was refused."""
        actions: JobActions = interaction.client.actions  # type: ignore[attr-defined]
        try:
            job = await actions.job(self.job_id)
            text, kwargs = await BUTTONS[self.action].press(actions, interaction, job)
        except Refusal as refusal:
            await reply(interaction, str(refusal))
            return
        await reply(interaction, text, **kwargs)


def _view(job_id: str, *actions: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def progress_view(job_id: str) -> discord.ui.View:
    return _view(job_id, "cancel")


def result_view(job_id: str) -> discord.ui.View:
    return _view(job_id, "again", "gif")
