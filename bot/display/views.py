"""Buttons on job messages: Cancel while a job waits or paints; under a result Again, Vary (Subtle), Vary (Strong), Restyle
(a modal asks for the new prompt), Upscale, Animation and, for strokes, SVG; or a set's U1–U4 and V1–V4; or a
description's Dream 1–4.

Their ``custom_id`` carries the job id, so they keep working after a restart: discord.py matches
clicks against the template, not against views it remembers. A click runs the same action as the
reaction with the same emoji (``bot/actions/job_actions.py``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.admission.refusal import Refusal
from bot.display.emoji import AGAIN, ANIMATION, CANCEL
from bot.display.replies import answer_in_time, reply
from bot.queue.jobs import Job
from contract import registry
from contract.limits import MAX_COUNT, MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from bot.actions.job_actions import JobActions

Answer = tuple[str, dict[str, Any]]  # the text only the clicking member sees, and its attachments


async def _cancel(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    await actions.cancel(job, interaction.user, interaction.permissions)
    return f"Job `{job.id}` is cancelled.", {}


async def _again(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    new = await actions.again(job, interaction.user)
    return f"Queued as job `{new.id}` (seed {new.request.seed}).", {}


async def _animation(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    return "The run, as a film:", {"file": await actions.animation(job, interaction.user)}


async def _svg(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    return "The strokes, as an SVG:", {"file": await actions.svg(job, interaction.user)}


def _varied(strength: str | None) -> Callable[[JobActions, discord.Interaction, Job, int], Awaitable[Answer]]:
    """The press of a Vary button: Subtle, Strong, or (None) a grid's V1-V4 at the server's ``vary_grid``."""

    async def press(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
        new = await actions.vary(job, number, interaction.user, strength)
        kind = f"a {strength} variation" if strength else "a variation"
        return f"Queued as job `{new.id}` (seed {new.request.seed}): {kind} of {_which(job, number)}.", {}

    return press


async def _upscale(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    new = await actions.upscale(job, number, interaction.user)
    return f"Queued as job `{new.id}`: {_which(job, number)}, 4x larger.", {}


async def _restyle(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> None:
    await interaction.response.send_modal(RestyleModal(job.id, number))


PAN_ARROWS = {"left": "⬅️", "right": "➡️", "up": "⬆️", "down": "⬇️"}


def _panned(direction: str) -> Callable[[JobActions, discord.Interaction, Job, int], Awaitable[Answer]]:
    async def press(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
        new = await actions.pan(job, number, direction, interaction.user)
        return f"Queued as job `{new.id}`: {_which(job, number)} panned {direction}, to {new.request.size}.", {}

    return press


def _zoomed_out(factor: float) -> Callable[[JobActions, discord.Interaction, Job, int], Awaitable[Answer]]:
    async def press(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
        new = await actions.zoom_out(job, number, factor, interaction.user)
        return f"Queued as job `{new.id}`: {_which(job, number)} zoomed out {factor:g}x.", {}

    return press


async def _zoom_film(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    new = await actions.zoom_film(job, number, interaction.user)
    return f"Queued as job `{new.id}`: a zoom film of {new.request.zoom_frames} frames from {_which(job, number)}.", {}


async def _dream_prompt(actions: JobActions, interaction: discord.Interaction, job: Job, number: int) -> Answer:
    new = await actions.dream_described(job, number, interaction.user)
    return f"Queued as job `{new.id}` (seed {new.request.seed}): prompt {number} of job `{job.id}`'s description.", {}


def _which(job: Job, number: int) -> str:
    return f"candidate {number} of job `{job.id}`" if job.request.count > 1 else f"job `{job.id}`"


@dataclass(frozen=True)
class ButtonAction:
    label: str | None  # None: the emoji alone (Pan's arrows)
    emoji: str | None
    style: discord.ButtonStyle
    press: Callable[[JobActions, discord.Interaction, Job, int], Awaitable[Answer | None]]  # None: it answered itself
    modal: bool = False  # answers with a modal, which must be the first answer: never deferred


BUTTONS = {
    "cancel": ButtonAction("Cancel", CANCEL, discord.ButtonStyle.danger, _cancel),
    "again": ButtonAction("Again", AGAIN, discord.ButtonStyle.secondary, _again),
    "gif": ButtonAction("Animation", ANIMATION, discord.ButtonStyle.secondary, _animation),
    "vary": ButtonAction("Vary", None, discord.ButtonStyle.secondary, _varied(None)),  # V1-V4; and older messages' Vary
    "vary_subtle": ButtonAction("Vary (Subtle)", None, discord.ButtonStyle.secondary, _varied("subtle")),
    "vary_strong": ButtonAction("Vary (Strong)", None, discord.ButtonStyle.secondary, _varied("strong")),
    "upscale": ButtonAction("Upscale", None, discord.ButtonStyle.secondary, _upscale),
    "restyle": ButtonAction("Restyle", None, discord.ButtonStyle.secondary, _restyle, modal=True),
    "svg": ButtonAction("SVG", None, discord.ButtonStyle.secondary, _svg),
    **{f"pan_{way}": ButtonAction(None, arrow, discord.ButtonStyle.secondary, _panned(way)) for way, arrow in PAN_ARROWS.items()},
    "zoom_film": ButtonAction("Zoom film", None, discord.ButtonStyle.secondary, _zoom_film),
    "zoom_out_15": ButtonAction("Zoom Out 1.5x", None, discord.ButtonStyle.secondary, _zoomed_out(1.5)),
    "zoom_out_2": ButtonAction("Zoom Out 2x", None, discord.ButtonStyle.secondary, _zoomed_out(2.0)),
    "dream_prompt": ButtonAction("Dream", None, discord.ButtonStyle.primary, _dream_prompt),  # one per described prompt
}
MOVES = tuple(name for name in BUTTONS if name.startswith(("pan_", "zoom_out_")))  # absent under a one-size painter
SHORT = {"vary": "V", "upscale": "U", "dream_prompt": "Dream "}  # the labels of numbered buttons: V1, U3, Dream 2
TEMPLATE = rf"dream:(?P<action>{'|'.join(BUTTONS)}):(?P<job>[0-9a-f]{{1,32}})(?::(?P<number>[1-{MAX_COUNT}]))?"


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    """A button on a job's message; ``number`` picks a candidate of a set (0: the job's only picture)."""

    def __init__(self, action: str, job_id: str, number: int = 0, row: int | None = None) -> None:
        button = BUTTONS[action]
        label = f"{SHORT[action]}{number}" if number and action in SHORT else button.label
        custom_id = f"dream:{action}:{job_id}" + (f":{number}" if number else "")
        super().__init__(discord.ui.Button(label=label, emoji=button.emoji, style=button.style, custom_id=custom_id, row=row))
        self.action = action
        self.job_id = job_id
        self.number = number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> Any:
        return cls(match["action"], match["job"], int(match["number"] or 0))

    async def callback(self, interaction: discord.Interaction) -> None:
        """The member sees the action's answer, or why it was refused."""
        actions: JobActions = interaction.client.actions  # type: ignore[attr-defined]
        button = BUTTONS[self.action]
        actions.learn_place(interaction.channel)
        try:
            async with contextlib.nullcontext() if button.modal else answer_in_time(interaction):
                await actions.check_blocked(interaction.guild_id, interaction.user)
                job = await actions.job_on(self.job_id, interaction.guild_id, _message_id(interaction))
                answer = await button.press(actions, interaction, job, self.number or 1)
        except Refusal as refusal:
            await reply(interaction, str(refusal))
            return
        if answer is not None:
            text, kwargs = answer
            await reply(interaction, text, **kwargs)


class RestyleModal(discord.ui.Modal, title="Restyle"):
    """A new prompt, painted from a result's picture."""

    prompt: discord.ui.TextInput = discord.ui.TextInput(
        label="New prompt", placeholder="what the picture should become", max_length=MAX_PROMPT_CHARS, custom_id="prompt"
    )

    def __init__(self, job_id: str, number: int) -> None:
        super().__init__(custom_id=f"dream-restyle:{job_id}:{number}")
        self.job_id, self.number = job_id, number

    async def on_submit(self, interaction: discord.Interaction) -> None:
        actions: JobActions = interaction.client.actions  # type: ignore[attr-defined]
        actions.learn_place(interaction.channel)
        try:
            async with answer_in_time(interaction):
                job = await actions.job_on(self.job_id, interaction.guild_id, _message_id(interaction))
                new = await actions.restyle(job, self.number, self.prompt.value, interaction.user)
        except Refusal as refusal:
            await reply(interaction, str(refusal))
            return
        await reply(interaction, f"Queued as job `{new.id}` (seed {new.request.seed}): {_which(job, self.number)}, restyled.")


def _message_id(interaction: discord.Interaction) -> int | None:
    """The message whose button was pressed (or whose button opened the modal)."""
    return interaction.message.id if interaction.message is not None else None


def _view(job_id: str, *actions: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def progress_view(job_id: str) -> discord.ui.View:
    return _view(job_id, "cancel")


def result_view(job: Job, prompts: int = 0) -> discord.ui.View | None:
    """What can be done with a result, as its kind declares (``contract/kinds.py``): a set's U1–U4 and V1–V4
    and Again, a picture's variations, restyle and upscale, a film's animation, a dream's upscale, a description's
    Dream 1 to Dream ``prompts``; nothing under an upscale. A vector picture adds its SVG; a picture too large to
    upscale has no upscale buttons."""
    kind = job.request.kind
    vector = ("svg",) if kind.name == "picture" and job.request.model in registry.vector_models() else ()
    absent = (() if job.request.upscalable else ("upscale",)) + (MOVES if registry.lookup(job.request.model).native_size else ())
    actions = [a for a in (*kind.buttons, *vector) if a not in absent]
    numbered = [(a, job.request.count) for a in kind.per_candidate if a not in absent]
    numbered += [(a, prompts) for a in kind.per_prompt if prompts]
    if not (actions or numbered):
        return None
    view = discord.ui.View(timeout=None)
    for row, (action, count) in enumerate(numbered):
        for number in range(1, count + 1):
            view.add_item(JobButton(action, job.id, number, row))
    for action in actions:  # below a set's rows of candidates
        view.add_item(JobButton(action, job.id, row=len(numbered) if numbered else None))
    return view
