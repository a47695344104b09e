"""What members do with jobs, however they ask (a command, a button or a reaction): queue one,
🔁 paint it again, vary, restyle or upscale one of its pictures, ❌ cancel it, 🗑️ delete its result,
🎞️ get its animation.

Each action checks who may do it (the job's owner or a moderator) and raises ``Refusal`` with the
sentence to show; the cogs and the buttons call these directly and only choose how to answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import discord
from PIL import Image

from bot.admission.presets import Preset, builtin
from bot.admission.refusal import Refusal, Someone, is_moderator, roles_of
from bot.admission.requests import (
    DreamOptions,
    Standing,
    build_request,
    build_upscale_request,
    check_room,
    check_standing,
)
from bot.admission.settings import GuildSettings, SettingsStore
from bot.display.emoji import CANCEL
from bot.moderation.audit import AuditLog
from bot.moderation.entries import Kind
from bot.moderation.gate import INHERITED, PictureGate
from bot.moderation.handling import Handling
from bot.queue.executor import Reporter
from bot.queue.files import JobFiles
from bot.queue.jobs import Job, JobState, new_job_id
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from bot.usage.ledger import Ledger
from bot.usage.memory import check_fits
from contract.films import MORPH_FIT_STEPS, MORPH_FRAMES, MORPH_PULL, SCENE_SEPARATOR, scenes
from contract.limits import DEFAULT_STEPS_PER_FRAME, DEFAULT_UPSCALER, MAX_UPSCALE_SIDE
from contract.moves import Canvas, composed, pan_canvas, variation, zoom_out_canvas
from contract.protocol import Downloading, RenderRequest
from contract.registry import lookup

ZOOM_FILM_FRAMES = 30  # a Zoom film's frames, within the server's max_frames

MakeRequest = Callable[[GuildSettings, str], Awaitable[RenderRequest]]  # (the server's settings, the new job's id)
Shape = Callable[[GuildSettings, str], RenderRequest]  # (the server's settings, the path of the job's start picture)


class JobActions:
    def __init__(
        self,
        store: Store,
        settings: SettingsStore,
        scheduler: Scheduler,
        reporter: Reporter,
        files: JobFiles,
        max_queued: int,
        upscaler: str = DEFAULT_UPSCALER,
        fetching: Callable[[RenderRequest], Downloading | None] = lambda request: None,
        gate: PictureGate | None = None,
        audit: AuditLog | None = None,
        ledger: Ledger | None = None,
        memories: Callable[[], list[float]] = list,
        refused: Callable[[Refusal], None] = lambda refusal: None,
    ) -> None:
        self.store = store
        self.refused = refused  # told of every request refused before it was queued (the operator's figures)
        self.ledger = ledger  # the daily quota in GPU-minutes (None: none)
        self.memories = memories  # GiB of each executor, as they said (none: not known, nothing refused for it)
        self.settings = settings
        self.scheduler = scheduler
        self.reporter = reporter
        self.files = files
        self.max_queued = max_queued
        self.upscaler = upscaler
        self.fetching = fetching  # the fetch of a model a request needs, while the engine fetches it
        self.gate = gate  # what may be shown where (None: everything, as without a picture check)
        self.audit = audit  # the moderators' log (None: nothing is logged)
        self._members: defaultdict[tuple[int, int], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._servers: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def job(self, job_id: str) -> Job:
        job = await self.store.job(job_id)
        if job is None:
            raise Refusal("That job is no longer known to the bot.")
        return job

    async def job_here(self, job_id: str, guild_id: int | None) -> Job:
        """The job a member named by its id, only when it is this server's: another server's stays out of reach."""
        job = await self.store.job(job_id)
        if job is None or job.guild_id != guild_id:
            raise Refusal(f"There is no job {job_id!r} in this server; the id is in the footer under its picture.")
        return job

    async def job_on(self, job_id: str, guild_id: int | None, message_id: int | None) -> Job:
        """The job a button or modal names, only when it was pressed on one of that job's own messages in that job's
        server: a component id is the member's to send, and another server's job must stay out of reach."""
        job = await self.job(job_id)
        shown = await self.store.job_for_message(message_id) if message_id is not None else None
        if job.guild_id != guild_id or shown is None or shown.id != job.id:
            raise Refusal("That button does not belong to this message; use the buttons under the job's own picture.")
        return job

    # queueing

    async def standing(self, guild_id: int, channel_id: int, user: Someone) -> Standing:
        """What the queue says about a new request of ``user`` in ``channel_id``, for admission to judge."""
        queued, active = await self.store.count_queued(guild_id), await self.store.active_jobs(guild_id, user.id)
        last = await self.store.last_created(guild_id, user.id)
        return Standing(self.settings.home(channel_id), queued, self.max_queued, len(active), last, time.time())

    def learn_place(self, channel: object) -> None:
        """Note the parent of the thread an interaction came from, whose settings hold in it."""
        if isinstance(channel, discord.Thread) and channel.parent_id:
            self.settings.learn_thread(channel.id, channel.parent_id)

    async def submit(
        self, guild_id: int, channel_id: int, user: Someone, make_request: MakeRequest, parent: str | None = None
    ) -> tuple[Job, int]:
        """Admit a job under the server's current settings and store it; returns it and its place in the queue.

        Admission and storing happen under the member's own lock, so simultaneous requests of one member
        (20 🔁 at once, a /dream while its init image downloads) never pass a cap meant for one of them; the
        server's cap is counted again and the job stored under the server's lock, so 20 members at once do not
        either (the request is made outside it: one member's download holds up no one else).
        """
        async with self._members[(guild_id, user.id)]:
            settings = await self.settings.get(guild_id, channel_id)
            if (default := await self.default_preset(guild_id, channel_id, settings)) is not None:
                settings = dataclasses.replace(settings, style=default.text)  # a style that names a preset: its parts
            job_id = new_job_id()
            try:
                await self.check_blocked(guild_id, user, settings)
                check_standing(settings, await self.standing(guild_id, channel_id, user))
                request = await make_request(settings, job_id)
                scale = await self.ledger.memory_pace(request.model) if self.ledger is not None else 1.0
                check_fits(request, self.memories(), scale)
                if self.ledger is not None:
                    await self.ledger.check_quota(guild_id, user.id, roles_of(user), request)
            except Refusal as refusal:  # the moderators see who was refused what, and why
                self.refused(refusal)
                await self._audit(guild_id, Kind.REFUSED, user.id, str(refusal), channel_id)
                raise
            flagged = INHERITED if parent and (made_from := await self.store.job(parent)) and made_from.flagged else None
            if (fetch := self.fetching(request)) is not None:  # it would fail for want of them
                share = f": {fetch.percent}%" if fetch.percent is not None else ""
                raise Refusal(f"The models are still downloading ({fetch.name}{share}); try again in a few minutes.")
            job = Job(job_id, guild_id, channel_id, user.id, user.display_name, request, parent=parent, flagged=flagged)
            async with self._servers[guild_id]:
                check_room(await self.store.count_queued(guild_id), self.max_queued)
                place = await self.queue(job)
        what = f"job `{job.id}`" + (f" from `{parent}`" if parent else "")
        await self._audit(guild_id, Kind.JOB, user.id, f"{what}: {request.kind.name} of {request.prompt!r}", channel_id, job.id)
        return job, place

    async def _audit(self, guild_id: int, kind: Kind, user_id: int, text: str, channel_id: int | None = None,
                     job_id: str | None = None) -> None:  # fmt: skip
        if self.audit is not None:
            await self.audit.record(guild_id, kind, user_id, text, channel_id, job_id)

    async def check_blocked(self, guild_id: int, user: Someone, settings: GuildSettings | None = None) -> None:
        """Refuse a member a moderator blocked, or one with a blocked role, with the reason."""
        block = await self.store.blocked(guild_id, user.id, time.time())
        if block is not None:
            until, reason = block
            when = f" until <t:{int(until)}:f>" if until else ""
            raise Refusal(f"A moderator blocked you from using dreambot in this server{when}: {reason}")
        settings = settings or await self.settings.get(guild_id)
        roles = roles_of(user)
        if blocked := [role for role in settings.blocked_roles if role in roles]:
            raise Refusal(f"Members with the role <@&{blocked[0]}> may not use dreambot in this server.")

    async def presets(self, guild_id: int, channel_id: int | None = None) -> dict[str, Preset]:
        """The presets a /dream here may name: the server's own, and the built-in ones unless it turned them off
        (its own win a name they share)."""
        settings = await self.settings.get(guild_id, channel_id)
        return {**(builtin() if settings.builtin_presets else {}), **await self.store.presets(guild_id)}

    async def preset(self, guild_id: int, channel_id: int | None, name: str) -> Preset:
        known = await self.presets(guild_id, channel_id)
        if (preset := known.get(name.strip().lower())) is None:
            names = ", ".join(sorted(known)[:25]) or "none yet (moderators add them with /preset add)"
            raise Refusal(f"There is no preset {name!r} here. Presets: {names}.")
        return preset

    async def default_preset(self, guild_id: int, channel_id: int | None, settings: GuildSettings | None = None) -> Preset | None:
        """The preset the ``style`` setting names here, if it names one: the default of every /dream that names none
        (a style that names none is added to every prompt as it is written)."""
        settings = settings or await self.settings.get(guild_id, channel_id)
        if not settings.style:
            return None
        return (await self.presets(guild_id, channel_id)).get(settings.style.strip().lower())

    async def position(self, job_id: str) -> int:
        order = await self.scheduler.order()
        return next((index for index, job in enumerate(order, 1) if job.id == job_id), 1)

    async def queue(self, job: Job) -> int:
        """Store the job and wake the scheduler; returns its place in the queue."""
        await self.store.add_job(job)
        self.scheduler.wake()
        return await self.position(job.id)

    async def announce(self, job: Job, position: int) -> str | None:
        """Post the job's message; if the channel refuses it, cancel the job and say why."""
        try:
            await self.reporter.queued(job, position)
        except discord.HTTPException as error:
            await self.scheduler.cancel(job)
            return f"I cannot post in this channel ({error.text or error.status}), so job `{job.id}` was cancelled."
        await self.reporter.queue_moved(await self.scheduler.order())  # a newcomer may go before others
        return None

    async def again(self, original: Job, user: Someone) -> Job:
        """🔁: the same prompt with a new seed, owned by whoever asked for it, under today's rules of the server."""
        asked = original.request
        if not asked.kind.paints_again:
            raise Refusal(
                f"Job {original.id} is {asked.kind.what}{asked.kind.again_hint}; it is not painted again with a new seed."
            )
        init = await self._keep(original, [asked.init_image] if asked.init_image else [], "init image")
        prompts = await self._keep(original, asked.image_prompts, "image prompt")
        options = DreamOptions.again(asked)

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            copies = [(self.files.init_image(job_id), data) for data in init]
            copies += [(self.files.image_prompt(job_id, n), data) for n, data in enumerate(prompts)]
            paths = [str(path) for path, _ in copies]
            pictures = options.pictures(paths[0] if init else None, tuple(paths[len(init) :]))
            request = build_request(pictures, settings, asked.perceptor, asked.preview_every)
            for path, data in copies:  # once admitted: a refused request leaves no file behind
                await self.files.write(path, data)
            return request

        return await self._resubmit(original, user, make_request)

    async def _keep(self, original: Job, paths: Sequence[str], what: str) -> list[bytes]:
        """The pictures a job was given (its init image, its image prompts), read again for a job made from it."""
        kept = []
        for path in paths:
            picture = await self.files.read(Path(path))
            if picture is None:
                raise Refusal(f"The {what} of job {original.id} was cleaned up; start a new /dream with it.")
            kept.append(picture)
        return kept

    async def vary(self, original: Job, number: int, user: Someone, strength: str | None = None) -> Job:
        """Vary (Subtle), Vary (Strong) and V1–V4: picture ``number`` of ``original`` as the start, with the new seed's
        noise mixed in and a pull towards it as the server sets ``strength`` (None: a grid's, ``vary_grid``), the
        same prompt and options."""
        candidate = self._candidate(original, number)

        def shape(settings: GuildSettings, path: str) -> RenderRequest:
            named = {"subtle": settings.vary_subtle, "strong": settings.vary_strong}
            noise, weight = variation(named[strength or settings.vary_grid])
            options = dataclasses.replace(DreamOptions.again(candidate), init_weight=weight, init_noise=noise)
            return self._painted(options, candidate)(settings, path)

        return await self._from_picture(original, number, user, shape)

    async def restyle(self, original: Job, number: int, prompt: str, user: Someone) -> Job:
        """Restyle: a new prompt painted from picture ``number`` of ``original``, with its model, size and steps."""
        candidate = self._candidate(original, number)
        if len(scenes(prompt)) > 1:
            raise Refusal(f"A restyle paints one picture: write one prompt, without {SCENE_SEPARATOR}.")
        # the picture is only the start: no pull towards it, no noise mixed in
        options = dataclasses.replace(DreamOptions.again(candidate), prompt=prompt, init_weight=None, init_noise=None)
        return await self._from_picture(original, number, user, self._painted(options, candidate))

    async def upscale(self, original: Job, number: int, user: Someone) -> Job:
        """U1–U4 and Upscale: picture ``number`` of ``original``, 4x, by the engine through the queue."""
        candidate = self._candidate(original, number)
        if not candidate.upscalable:
            side = f"{candidate.width}x{candidate.height}"
            raise Refusal(f"Job {original.id}'s picture is {side}; pictures up to {MAX_UPSCALE_SIDE} a side are upscaled.")
        return await self._from_picture(
            original, number, user, lambda settings, path: build_upscale_request(candidate, self.upscaler, path)
        )

    @staticmethod
    def _painted(options: DreamOptions, candidate: RenderRequest) -> Shape:
        """How Vary and Restyle admit their request: ``options`` started from the picture, under the server's rules."""
        return lambda settings, path: build_request(
            options.pictures(path), settings, candidate.perceptor, candidate.preview_every
        )

    @staticmethod
    def _candidate(original: Job, number: int) -> RenderRequest:
        if not original.request.kind.starts_others:
            raise Refusal(f"Job {original.id} is {original.request.kind.what}; it has no picture to start from.")
        if original.state != JobState.DONE:
            raise Refusal(f"Job {original.id} has not finished; wait for its picture.")
        if not 1 <= number <= original.request.count:
            raise Refusal(f"Job {original.id} has {original.request.count} picture(s), not a number {number}.")
        return original.request.candidates[number - 1]

    async def _from_picture(self, original: Job, number: int, user: Someone, shape: Shape) -> Job:
        """A new job made by ``shape`` under the server's rules, starting from picture ``number`` of ``original``
        (copied among the new job's files once the request is admitted)."""
        picture = await self.files.read(self.files.picture(original, number))
        if picture is None:
            raise Refusal(f"The picture of job {original.id} was cleaned up; it can no longer be varied or upscaled.")

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            path = self.files.init_image(job_id)
            request = shape(settings, str(path))
            start = await asyncio.to_thread(canvas_png, picture, request) if request.keep else picture
            await self.files.write(path, start)
            return request

        return await self._resubmit(original, user, make_request)

    async def pan(self, original: Job, number: int, direction: str, user: Someone) -> Job:
        """Pan ⬅️➡️⬆️⬇️: the canvas grows by the server's ``pan_share`` towards ``direction``; the picture is kept as
        it is and the new strip painted to continue it."""
        return await self._moved(original, number, user, lambda s, r: pan_canvas(r.width, r.height, direction, s.pan_share))

    async def zoom_out(self, original: Job, number: int, factor: float, user: Someone) -> Job:
        """Zoom Out 1.5x and 2x: the picture shrinks to the centre of a canvas of its size, and the border around it
        is painted."""
        return await self._moved(original, number, user, lambda s, r: zoom_out_canvas(r.width, r.height, factor))

    async def zoom_film(self, original: Job, number: int, user: Someone) -> Job:
        """Zoom film: a zoom journey that starts from picture ``number`` of ``original``, with its prompt and seed, as
        many frames as the server allows up to ``ZOOM_FILM_FRAMES``; each frame paints ``steps_per_frame`` steps."""
        candidate = self._candidate(original, number)

        def shape(settings: GuildSettings, path: str) -> RenderRequest:
            frames = min(ZOOM_FILM_FRAMES, settings.max_frames)
            options = dataclasses.replace(
                DreamOptions.again(candidate), zoom_frames=frames, steps=DEFAULT_STEPS_PER_FRAME, init_weight=None,
                init_noise=None, count=None, seed=candidate.seed,
            )  # fmt: skip
            return self._painted(options, candidate)(settings, path)

        return await self._from_picture(original, number, user, shape)

    async def dream_described(self, original: Job, number: int, user: Someone) -> Job:
        """Dream 1–4 under a /describe: candidate prompt ``number`` of its description painted as a new /dream, under the
        server's defaults, with the perceptor that described the picture."""
        if not original.request.describe:
            raise Refusal(f"Job {original.id} is {original.request.kind.what}; it has no described prompts.")
        description = await self.files.read_description(original.id)
        if description is None:
            raise Refusal(f"The description of job {original.id} was cleaned up; describe the picture again.")
        if not 1 <= number <= len(description.prompts):
            raise Refusal(f"Job {original.id} has {len(description.prompts)} described prompt(s), not a number {number}.")
        options = DreamOptions(description.prompts[number - 1], perceptor=original.request.perceptor)

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            return build_request(options, settings, original.request.perceptor, original.request.preview_every)

        return await self._resubmit(original, user, make_request)

    async def morph(self, first: Job, second: Job, user: Someone, frames: int | None, steps_per_frame: int | None,
                    permissions: discord.Permissions | None = None) -> Job:  # fmt: skip
        """/morph: a film from ``first``'s picture to ``second``'s, two results of one member and one model (the member
        or a moderator asks), with the first's size, seed and options and both prompts."""
        for job in (first, second):
            if job.guild_id != first.guild_id or job.request.count > 1:
                raise Refusal(f"Job {job.id} is not a single picture of this server; morph two pictures painted here.")
            self._candidate(job, 1)
            await self.check_owner(job, user, "morph", permissions)
        if first.user_id != second.user_id:
            raise Refusal(f"Jobs {first.id} and {second.id} were painted by two members; a morph joins one member's pictures.")
        a, b = first.request, second.request
        if a.model != b.model:
            raise Refusal(f"Job {first.id} is {a.model} and job {second.id} is {b.model}; a morph joins pictures of one model.")
        pictures = [await self.files.read(self.files.picture(job, 1)) for job in (first, second)]
        if None in pictures:
            raise Refusal("A picture of those jobs was cleaned up; it can no longer be morphed.")

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            paths = self.files.init_image(job_id), self.files.morph_end(job_id)
            options = dataclasses.replace(
                DreamOptions.again(a), prompt=f"{a.prompt} {SCENE_SEPARATOR} {b.prompt}", seed=a.seed, count=None,
                steps=min(MORPH_FIT_STEPS, settings.max_steps), zoom_frames=frames or min(MORPH_FRAMES, settings.max_frames),
                steps_per_frame=steps_per_frame, init_weight=MORPH_PULL, init_noise=None, styled=False,
                init_image=str(paths[0]), morph_to=str(paths[1]),
            )  # fmt: skip
            request = build_request(options, settings, a.perceptor, a.preview_every)
            for path, data in zip(paths, pictures, strict=True):
                await self.files.write(path, data or b"")
            return request

        return await self._resubmit(first, user, make_request)

    async def _moved(
        self, original: Job, number: int, user: Someone, canvas_of: Callable[[GuildSettings, RenderRequest], Canvas]
    ) -> Job:
        """A picture painted on with ``canvas_of``'s canvas, its old picture kept (``RenderRequest.keep``)."""
        candidate = self._candidate(original, number)
        if native := lookup(candidate.model).native_size:
            raise Refusal(f"{candidate.model} paints {native}x{native} only, so its pictures are not panned or zoomed out.")

        def shape(settings: GuildSettings, path: str) -> RenderRequest:
            canvas = canvas_of(settings, candidate)
            size = f"{canvas.width}x{canvas.height}"
            options = dataclasses.replace(DreamOptions.again(candidate), size=size, init_weight=None, init_noise=None)
            return dataclasses.replace(self._painted(options, candidate)(settings, path), keep=canvas.keep)

        return await self._from_picture(original, number, user, shape)

    async def _resubmit(self, original: Job, user: Someone, make_request: MakeRequest) -> Job:
        """Queue and announce a job made from ``original`` (its parent), in the same channel."""
        job, position = await self.submit(original.guild_id, original.channel_id, user, make_request, parent=original.id)
        if problem := await self.announce(job, position):
            raise Refusal(problem)
        return job

    # the owner's (or a moderator's) actions

    async def not_a_moderator(
        self, guild_id: int, user: Someone, permissions: discord.Permissions | None, doing: str
    ) -> str | None:
        """Why ``user`` may not be ``doing`` something only moderators may (e.g. "use /settings"), or None. A
        sentence, not a raise: a cog's check must raise discord.py's own ``CheckFailure``."""
        settings = await self.settings.get(guild_id)
        if is_moderator(user, settings.moderator_role, permissions):
            return None
        return f"Only moderators (Manage Server, or the server's moderator role) can {doing}."

    async def check_owner(self, job: Job, user: Someone, verb: str, permissions: discord.Permissions | None = None) -> None:
        settings = await self.settings.get(job.guild_id)
        if user.id != job.user_id and not is_moderator(user, settings.moderator_role, permissions):
            raise Refusal(f"Only the member who asked for job {job.id} or a moderator can {verb} it.")

    async def cancel(self, job: Job, user: Someone, permissions: discord.Permissions | None = None) -> None:
        """❌: a waiting job ends at once, a running one after its current step."""
        await self.check_owner(job, user, "cancel", permissions)
        if not job.active or not await self.scheduler.cancel(job):
            ended = {JobState.DONE: "finished", JobState.FAILED: "failed", JobState.CANCELLED: "been cancelled"}
            raise Refusal(f"Job {job.id} has already {ended.get(job.state, 'ended')}.")

    async def delete(self, job: Job, user: Someone, message: discord.PartialMessage) -> None:
        """🗑️: the owner (or a moderator) takes a finished picture down."""
        await self.check_owner(job, user, "delete")
        if job.active:
            raise Refusal(f"job {job.id} is still {job.state.value}; cancel it with {CANCEL} first.")
        await message.delete()
        await self.store.mark_deleted(job.id)
        by = "" if user.id == job.user_id else f" by <@{user.id}>"
        await self._audit(job.guild_id, Kind.DELETED, job.user_id, f"job `{job.id}` taken down{by}", job.channel_id, job.id)

    async def release(self, job: Job, user: Someone, permissions: discord.Permissions | None = None) -> None:
        """A moderator shows a withheld picture in its channel after all; its flag goes, the audit log keeps it."""
        if refusal := await self.not_a_moderator(job.guild_id, user, permissions, "release a flagged picture"):
            raise Refusal(refusal)
        if not job.flagged:
            raise Refusal(f"Job {job.id} is not withheld: it is shown already.")
        png = await self.files.read(self.files.result(job.id))
        if png is None:
            raise Refusal(f"The picture of job {job.id} was cleaned up; there is nothing to release.")
        await self.store.release(job.id)
        released = dataclasses.replace(job, flagged=None)
        await self.reporter.released(released, png, await self.files.read_description(job.id) if job.request.describe else None)
        await self._audit(job.guild_id, Kind.RELEASED, job.user_id, f"job `{job.id}` released by <@{user.id}>", job.channel_id,
                          job.id)  # fmt: skip

    async def svg(self, job: Job, user: Someone, public: bool = False) -> discord.File:
        """The strokes of a clipdraw picture as an SVG, to scale to any size."""
        data = await self.files.read(self.files.svg(job.id))
        if data is None:
            raise Refusal("There is no SVG of that job (only clipdraw draws strokes, or its files were cleaned up).")
        return await self._shown(job, data, f"dream-{job.id}.svg", user, public)

    async def animation(self, job: Job, user: Someone, public: bool = False) -> discord.File:
        """🎞️: the run as the engine filmed it (an MP4, within the upload limit)."""
        data, name = await self.files.read(self.files.animation(job.id)), f"dream-{job.id}.mp4"
        if data is None:  # a result painted before films were MP4s
            data, name = await self.files.read(self.files.folder(job.id) / "animation.gif"), f"dream-{job.id}.gif"
        if data is None:
            raise Refusal("There is no animation of that job (it has not finished, was too short, or its files were cleaned up).")
        return await self._shown(job, data, name, user, public)

    async def _shown(self, job: Job, data: bytes, name: str, user: Someone, public: bool) -> discord.File:
        """A stored file of ``job`` for ``user`` (``public``: posted in the channel, else only they see it). A
        flagged job's goes behind a spoiler, or nowhere, as its channel's ``flagged`` says."""
        if self.gate is None or self.gate.shown_as_is(job):
            return discord.File(io.BytesIO(data), name)
        handling = await self.gate.handling(job)
        if handling is Handling.SPOILER or (handling is Handling.PRIVATE and not public and user.id == job.user_id):
            return discord.File(io.BytesIO(data), name, spoiler=True)
        raise Refusal(f"The picture check flagged job {job.id}, so its pictures and film are not shown in this channel.")


def canvas_png(picture: bytes, request: RenderRequest) -> bytes:
    """The start of a Pan or Zoom Out as a PNG: the parent's picture in the request's kept box of its canvas."""
    with Image.open(io.BytesIO(picture)) as parent:
        start = composed(parent, Canvas(request.width, request.height, request.keep))
    buffer = io.BytesIO()
    start.save(buffer, "PNG")
    return buffer.getvalue()
