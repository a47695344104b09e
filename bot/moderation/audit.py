"""The moderators' audit log: every admitted job, refusal, flagged picture, release, deletion, setting change
and block, kept in the database (``/audit``) and posted to the server's ``audit_channel``.

Posting is compact and paced: lines gathered for ``FLUSH_SECONDS`` go out as one message, so a busy server
costs a message every few seconds, not one per job. A flagged picture is posted on its own, behind a spoiler,
with a Release button when it was withheld. Nothing here may stop what it records: a failed write or post is
logged and the action goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.admission.refusal import Refusal
from bot.display.replies import answer_in_time, reply
from bot.moderation.entries import AuditEntry, Kind

if TYPE_CHECKING:
    from bot.admission.settings import SettingsStore
    from bot.queue.store import Store

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0
MESSAGE_CHARS = 1900  # below Discord's 2000, for one message of lines
LINE_CHARS = 300  # one entry's line at most (a prompt may be long)
ICONS = {
    Kind.JOB: "🎨", Kind.REFUSED: "⛔", Kind.FLAGGED: "🚩", Kind.RELEASED: "✅", Kind.DELETED: "🗑️",
    Kind.SETTING: "⚙️", Kind.BLOCKED: "🔒",
}  # fmt: skip
RELEASE_TEMPLATE = r"dream-release:(?P<job>[0-9a-f]{1,32})"


def line(entry: AuditEntry) -> str:
    """One entry as the audit channel shows it: what, when, who, where (mentions never ping: the bot allows none)."""
    where = f" in <#{entry.channel_id}>" if entry.channel_id else ""
    text = f"{ICONS.get(Kind(entry.kind), '•')} <t:{int(entry.at)}:T> <@{entry.user_id}>{where}: {entry.text}"
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def chunks(lines: list[str], limit: int = MESSAGE_CHARS) -> list[str]:
    """``lines`` joined into as few messages of at most ``limit`` characters as their order allows."""
    messages: list[str] = []
    for text in lines:
        if messages and len(messages[-1]) + 1 + len(text) <= limit:
            messages[-1] += "\n" + text
        else:
            messages.append(text)
    return messages


class AuditLog:
    def __init__(self, store: Store, settings: SettingsStore, client: discord.Client, every: float = FLUSH_SECONDS) -> None:
        self.store = store
        self.settings = settings
        self.client = client
        self.every = every
        self._pending: dict[int, list[str]] = {}  # server -> lines waiting for the next message
        self._tasks: dict[int, asyncio.Task] = {}  # server -> the task that posts them
        self._posts: set[asyncio.Task] = set()  # pictures being posted
        self._closing = asyncio.Event()

    async def record(
        self, guild_id: int, kind: Kind, user_id: int, text: str, channel_id: int | None = None, job_id: str | None = None,
        picture: bytes | None = None, release: bool = False,
    ) -> None:  # fmt: skip
        """Keep the entry, and post it if the server has an audit channel (``picture``: on its own, spoilered,
        with a Release button when ``release``)."""
        entry = AuditEntry(guild_id, time.time(), kind.value, user_id, text, channel_id, job_id)
        try:
            await self.store.add_audit(entry)
        except Exception:
            log.exception("could not keep an audit entry: %s", text)
        audit_channel = (await self.settings.get(guild_id)).audit_channel
        if audit_channel is None:
            return
        if picture is None:
            self._pending.setdefault(guild_id, []).append(line(entry))
            if guild_id not in self._tasks:
                self._tasks[guild_id] = asyncio.create_task(self._flush_later(guild_id, audit_channel))
            return
        view = discord.ui.View(timeout=None)
        if release and job_id:
            view.add_item(ReleaseButton(job_id))
        post = asyncio.create_task(self._post(guild_id, audit_channel, line(entry), picture, view))
        self._posts.add(post)
        post.add_done_callback(self._posts.discard)

    async def _post(self, guild_id: int, channel_id: int, text: str, picture: bytes, view: discord.ui.View) -> None:
        channel = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        file = discord.File(io.BytesIO(picture), "flagged.png", spoiler=True)
        try:
            await channel.send(text, file=file, view=view)
        except discord.HTTPException as error:
            log.warning("could not post to the audit channel %s: %s", channel_id, error.text or error.status)

    async def _flush_later(self, guild_id: int, channel_id: int) -> None:
        with contextlib.suppress(TimeoutError):  # the pause, or less when the bot is closing
            await asyncio.wait_for(self._closing.wait(), self.every)
        self._tasks.pop(guild_id, None)
        lines = self._pending.pop(guild_id, [])
        channel = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        for text in chunks(lines):
            try:
                await channel.send(text)
            except discord.HTTPException as error:
                log.warning("could not post to the audit channel %s: %s", channel_id, error.text or error.status)
                return

    async def recent(self, guild_id: int, user_id: int, limit: int = 15) -> list[str]:
        """A member's latest entries, newest first, as lines."""
        return [line(entry) for entry in await self.store.audit(guild_id, user_id, limit)]

    async def close(self) -> None:
        """Post what waits now (the bot is stopping)."""
        self._closing.set()
        await asyncio.gather(*self._tasks.values(), *self._posts, return_exceptions=True)


class ReleaseButton(discord.ui.DynamicItem[discord.ui.Button], template=RELEASE_TEMPLATE):
    """Under a withheld picture in the audit channel: a moderator shows it in its channel after all."""

    def __init__(self, job_id: str) -> None:
        button = discord.ui.Button(label="Release", style=discord.ButtonStyle.danger, custom_id=f"dream-release:{job_id}")
        super().__init__(button)
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match, /) -> ReleaseButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = interaction.client.actions  # type: ignore[attr-defined]
        try:
            async with answer_in_time(interaction):
                job = await actions.job(self.job_id)
                if job.guild_id != interaction.guild_id:
                    raise Refusal(f"There is no job {self.job_id} in this server.")
                await actions.release(job, interaction.user, interaction.permissions)
        except Refusal as refusal:
            await reply(interaction, str(refusal))
            return
        await reply(interaction, f"Released: job `{job.id}` is shown in <#{job.channel_id}>.")
