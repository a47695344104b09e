"""Shows jobs in Discord: one channel message per job, posted and edited with the bot's own
token (never the interaction webhook, whose token dies after 15 minutes).

The message goes from queued, to painting (preview edits, throttled, latest frame wins), to the
final PNG with its parameters. A deleted message is posted again; rate limits are left to
discord.py, which waits them out.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import defaultdict
from collections.abc import Sequence

import discord

from bot.display import embeds, uploads
from bot.display.emoji import ANIMATION
from bot.display.throttle import Throttle
from bot.display.views import progress_view, result_view
from bot.moderation.gate import BLURRED_NAME, PictureGate, blurred
from bot.moderation.handling import Handling
from bot.queue.jobs import Job, JobState
from bot.queue.store import Store
from contract.describe import Description
from contract.protocol import Progress

log = logging.getLogger(__name__)

PREVIEW_NAME = "preview.jpg"
SHOWN_POSITIONS = 10  # waiting jobs further back keep the place they were given, so a long queue costs few edits


class DiscordReporter:
    def __init__(self, client: discord.Client, store: Store, interval: float, gate: PictureGate) -> None:
        self.client = client
        self.store = store
        self.interval = interval
        self.gate = gate  # what may be shown: every preview, result and film passes it first
        self._throttles: dict[str, Throttle[Progress]] = {}
        self._fresh_preview: dict[str, bytes] = {}  # a preview that arrived since the last edit
        self._shown_preview: set[str] = set()  # jobs whose message already carries a preview
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._positions: dict[str, int] = {}
        self._tasks: set[asyncio.Task] = set()

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def _show(self, job: Job, embed: discord.Embed, files: list[discord.File] | None = None,
                    view: discord.ui.View | None = None, if_queued: bool = False) -> None:  # fmt: skip
        """Edit the job's message, or post one if it has none or it was deleted.

        ``if_queued`` shows the embed only while the job still waits: a queue position must never
        overwrite a job that has started meanwhile.
        """
        async with self._locks[job.id]:
            current = await self.store.job(job.id)
            if current is None or (if_queued and current.state != JobState.QUEUED):
                return
            message_id = current.message_id
            if message_id is not None:
                message = self._channel(job).get_partial_message(message_id)
                kwargs: dict = {"embed": embed, "view": view}
                if files is not None:
                    kwargs["attachments"] = files
                try:
                    await message.edit(**kwargs)
                    return
                except discord.NotFound:
                    log.info("the message of job %s was deleted; posting a new one", job.id)
                    for file in files or []:
                        file.reset()
            posted = await self._channel(job).send(embed=embed, files=files or [], view=view)
            try:
                await self.store.link_message(posted.id, job.id)
            except Exception:  # posted is posted: say so, rather than post it again as a failure
                log.exception("job %s: message %s is posted, but the database could not note it", job.id, posted.id)

    async def queued(self, job: Job, position: int) -> None:
        self._positions[job.id] = position
        await self._show(job, embeds.queued(job, position), view=progress_view(job.id), if_queued=True)

    async def started(self, job: Job) -> None:
        self._positions.pop(job.id, None)
        await self._stop_previews(job)  # a retried job starts over
        self._throttles[job.id] = Throttle(lambda event: self._edit_progress(job, event), self.interval)
        await self._show(job, embeds.starting(job), view=progress_view(job.id))

    async def progress(self, job: Job, event: Progress) -> None:
        throttle = self._throttles.get(job.id)
        if throttle is None:
            return
        if event.preview is not None:
            if await self.gate.preview(job, event.preview, event.concepts):
                self._fresh_preview[job.id] = event.preview
            else:  # flagged: the next edit takes down a preview already shown
                self._fresh_preview.pop(job.id, None)
        throttle.push(event)

    async def _edit_progress(self, job: Job, event: Progress) -> None:
        """Upload the preview only when a new one came; otherwise the embed alone changes."""
        preview = self._fresh_preview.pop(job.id, None)
        files = [discord.File(io.BytesIO(preview), PREVIEW_NAME)] if preview else None
        if preview:
            self._shown_preview.add(job.id)
        elif job.id in self._shown_preview and self.gate.hidden(job):
            files = []  # no attachment: the flagged job's last preview goes
            self._shown_preview.discard(job.id)
        image = PREVIEW_NAME if job.id in self._shown_preview else None
        await self._show(job, embeds.painting(job, event, image), files, progress_view(job.id))

    async def _stop_previews(self, job: Job) -> None:
        throttle = self._throttles.pop(job.id, None)
        if throttle is not None:
            await throttle.close()
        self._fresh_preview.pop(job.id, None)
        self._shown_preview.discard(job.id)

    async def _final(
        self, job: Job, embed: discord.Embed, files: list[discord.File], view: discord.ui.View | None = None
    ) -> None:
        """The job has ended: no more previews or places, and its message shows the outcome."""
        await self._stop_previews(job)
        self._positions.pop(job.id, None)
        await self._show(job, embed, files, view)
        self._locks.pop(job.id, None)
        try:
            await self.store.mark_shown(job.id, job.state)
        except Exception:  # the message shows the outcome: a result stays a result (the next start shows it again)
            log.exception("job %s: its outcome is shown, but the database could not note it", job.id)

    def upload_limit(self, job: Job) -> int:
        guild = self.client.get_guild(job.guild_id)
        return guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    async def finished(
        self, job: Job, png: bytes, film: bytes | None = None, candidates: Sequence[bytes] = (), scores: object = None,
        description: Description | None = None,
    ) -> None:  # fmt: skip
        await self._result(job, png, film, await self.gate.result(job, png, candidates, film, scores), description=description)

    async def released(self, job: Job, png: bytes, description: Description | None = None) -> None:
        """A withheld result a moderator released: shown as it is, saying so."""
        note = "A moderator released it after the picture check flagged it."
        await self._result(job, png, None, None, note, description=description)

    async def _result(
        self, job: Job, png: bytes, film: bytes | None, flag: str | None, released: str = "",
        description: Description | None = None,
    ) -> None:  # fmt: skip
        limit = self.upload_limit(job)
        data, extension = await asyncio.to_thread(uploads.fit, png, limit)
        name = f"dream-{job.request.seed}.{extension}"
        notes = [released] if released else []
        if extension != "png":
            notes.append(
                f"The PNG ({len(png) / 2**20:.3g} MiB) is over this server's {limit / 2**20:.3g} MiB upload limit: "
                "this is a JPEG of it, with the parameters in its comment."
            )
        files = [discord.File(io.BytesIO(data), name)]
        if film is not None and len(film) + len(data) <= limit:
            files.append(discord.File(io.BytesIO(film), f"dream-{job.request.seed}.mp4"))
        elif film is not None:
            notes.append(f"The film and the picture together are over this server's upload limit: {ANIMATION} posts the film.")
        image = name
        if flag is not None:
            image, files, note = await self._flagged(job, png, files, flag)
            notes.insert(0, note)
        note, parent = " ".join(notes) or None, await self._parent_link(job)
        if description is not None:
            embed = embeds.described(job, image, description, note)
        else:
            embed = embeds.done(job, image, note, parent)
        await self._final(job, embed, files, result_view(job, len(description.prompts) if description else 0))

    async def _flagged(self, job: Job, png: bytes, files: list[discord.File], reason: str) -> tuple[str, list[discord.File], str]:
        """A flagged result outside an age-restricted channel: the embed shows it blurred, and the picture (and
        film) go behind a spoiler, to its member privately, or nowhere, as the channel's ``flagged`` says."""
        handling = await self.gate.handling(job)
        shown = [discord.File(io.BytesIO(await asyncio.to_thread(blurred, png)), BLURRED_NAME)]
        note = f"The picture check flagged this ({reason})."
        if handling is Handling.SPOILER:
            spoilers = [discord.File(file.fp, file.filename, spoiler=True) for file in files]
            return BLURRED_NAME, shown + spoilers, f"{note} It is behind the spoiler below."
        if handling is Handling.PRIVATE:
            sent = await self._send_privately(job, files, reason)
            where = "it was sent to its painter privately" if sent else "it could not be sent privately (closed DMs)"
            return BLURRED_NAME, shown, f"{note} It is not shown in this channel; {where}."
        return BLURRED_NAME, shown, f"{note} It is withheld until a moderator releases it."

    async def _send_privately(self, job: Job, files: list[discord.File], reason: str) -> bool:
        try:
            user = self.client.get_user(job.user_id) or await self.client.fetch_user(job.user_id)
            text = f"Your picture for job `{job.id}` was flagged by the picture check ({reason}), so it is only here."
            await user.send(text, files=files)
        except discord.HTTPException as error:
            log.info("job %s: could not send the flagged picture privately (%s)", job.id, error.text or error.status)
            return False
        return True

    async def _parent_link(self, job: Job) -> str | None:
        """The message of the result a variation, restyle or upscale was made from, if it is known."""
        parent = await self.store.job(job.parent) if job.parent else None
        return parent.jump_url if parent is not None else None

    async def failed(self, job: Job, reason: str, hint: str) -> None:
        await self._final(job, embeds.failed(job, reason, hint), [])

    async def cancelled(self, job: Job) -> None:
        await self._final(job, embeds.cancelled(job), [])

    async def queue_moved(self, order: list[Job]) -> None:
        """Update the places shown on the first waiting jobs, in the background (only those that changed)."""
        changed = [
            (job, index)
            for index, job in enumerate(order[:SHOWN_POSITIONS], 1)
            if self._positions.get(job.id) not in (None, index)
        ]
        if changed:
            task = asyncio.create_task(self._reposition(changed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reposition(self, changed: list[tuple[Job, int]]) -> None:
        for job, position in changed:
            if self._positions.get(job.id) == position:
                continue
            try:
                await self.queued(job, position)
            except discord.HTTPException:
                log.warning("could not update the queue position of job %s", job.id)

    async def close(self) -> None:
        for job_id in list(self._throttles):
            await self._throttles.pop(job_id).close()
        for task in list(self._tasks):
            task.cancel()
