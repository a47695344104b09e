"""/dream, /queue, /cancel, and the reactions and buttons on job messages (🔁 ❌ 🎞️)."""

from __future__ import annotations

import dataclasses
import io
import logging
import secrets
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import attachments
from bot.admission import DreamOptions, Refusal, build_request, check_channel, check_quota
from bot.client import DreamBot, reply
from bot.jobs import Job, new_job_id
from bot.settings import GuildSettings
from engine.weights import generator_names

log = logging.getLogger(__name__)

AGAIN, CANCEL, ANIMATION, DELETE = "🔁", "❌", "🎞", "🗑"  # compared without emoji variation selectors
NOTICE_SECONDS = 20  # how long a refusal answered in the channel (to a reaction) stays up


Someone = discord.Member | discord.User


def is_moderator(member: Someone, settings: GuildSettings, permissions: discord.Permissions | None = None) -> bool:
    if not isinstance(member, discord.Member):
        return False
    permissions = permissions or member.guild_permissions
    return permissions.manage_guild or any(role.id == settings.moderator_role for role in member.roles)


class Dream(commands.Cog):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot

    # queueing

    async def _position(self, job_id: str) -> int:
        order = await self.bot.scheduler.order()
        return next((index for index, job in enumerate(order, 1) if job.id == job_id), 1)

    async def _admit(self, guild_id: int, channel_id: int, user: discord.abc.User, settings: GuildSettings) -> None:
        check_channel(settings, channel_id)
        active = await self.bot.store.active_jobs(guild_id, user.id)
        check_quota(settings, len(active), await self.bot.store.last_created(guild_id, user.id), time.time())

    async def _queue(self, job: Job) -> int:
        """Store the job and wake the scheduler; returns its place in the queue."""
        await self.bot.store.add_job(job)
        self.bot.scheduler.wake()
        return await self._position(job.id)

    async def _announce(self, job: Job, position: int) -> str | None:
        """Post the job's message; if the channel refuses it, cancel the job and say why."""
        try:
            await self.bot.reporter.queued(job, position)
        except discord.HTTPException as error:
            await self.bot.scheduler.cancel(job)
            return f"I cannot post in this channel ({error.text or error.status}), so job `{job.id}` was cancelled."
        await self.bot.reporter.queue_moved(await self.bot.scheduler.order())  # a newcomer may go before others
        return None

    @app_commands.command(name="dream", description="Paint a picture from words")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt='what to paint; several prompts as "a | b:0.5 | c:-1"',
        seed="random seed (same seed, same picture)",
        steps="optimization steps (more: more detail, slower)",
        size="WIDTHxHEIGHT, e.g. 256x256",
        model="generator",
        init_image="start from this picture",
    )
    async def dream(
        self,
        interaction: discord.Interaction,
        prompt: str,
        seed: app_commands.Range[int, 0, 2**53] | None = None,
        steps: int | None = None,
        size: str | None = None,
        model: str | None = None,
        init_image: discord.Attachment | None = None,
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        settings = await self.bot.settings.get(interaction.guild_id)
        await self._admit(interaction.guild_id, interaction.channel_id, interaction.user, settings)
        options = DreamOptions(prompt, seed, steps, size, model)
        request = build_request(options, settings, self.bot.config.defaults.perceptor, self.bot.config.engine.preview_every)
        job_id = new_job_id()
        if init_image is not None:
            await interaction.response.defer(ephemeral=True, thinking=True)  # the download may take a while
            api_base = self.bot.config.discord.api_base
            data = await attachments.init_image(self.bot.session, init_image.url, init_image.size, api_base)
            path = await self.bot.files.write(self.bot.files.init_image(job_id), data)
            request = dataclasses.replace(request, init_image=str(path))
        user = interaction.user
        job = Job(job_id, interaction.guild_id, interaction.channel_id, user.id, user.display_name, request)
        position = await self._queue(job)
        where = "it starts next" if position <= 1 else f"position {position} in the queue"
        await reply(interaction, f"Queued as job `{job.id}` (seed {request.seed}), {where}. Progress appears in this channel.")
        if problem := await self._announce(job, position):
            await interaction.followup.send(problem, ephemeral=True)

    @dream.autocomplete("model")
    async def _models(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in generator_names() if current.lower() in n][:25]

    async def again(self, original: Job, user: Someone) -> Job:
        """The same prompt with a new seed, owned by whoever asked for it."""
        settings = await self.bot.settings.get(original.guild_id)
        await self._admit(original.guild_id, original.channel_id, user, settings)
        request = dataclasses.replace(original.request, seed=secrets.randbelow(2**31))
        job = Job(new_job_id(), original.guild_id, original.channel_id, user.id, user.display_name, request, parent=original.id)
        if problem := await self._announce(job, await self._queue(job)):
            raise Refusal(problem)
        return job

    # reactions and buttons on job messages

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or (self.bot.user and payload.user_id == self.bot.user.id) or payload.member is None:
            return
        emoji = _plain(str(payload.emoji))
        if emoji not in (AGAIN, CANCEL, ANIMATION, DELETE):
            return
        job = await self.bot.store.job_for_message(payload.message_id)
        if job is None:
            return
        channel = self.bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        try:
            if emoji == AGAIN:
                await self.again(job, payload.member)
            elif emoji == CANCEL:
                await self.cancel_job(job, payload.member)
            elif emoji == DELETE:
                await self.delete_result(job, payload.member, channel.get_partial_message(payload.message_id))
            else:
                await channel.get_partial_message(payload.message_id).reply(file=await self._animation(job), mention_author=False)
        except Refusal as refusal:
            await channel.send(f"{payload.member.display_name}: {refusal}", delete_after=NOTICE_SECONDS)

    async def _answer_button(self, interaction: discord.Interaction, job_id: str, act) -> None:
        """Run a button's action on its job; the member sees its answer, or why it was refused."""
        job = await self.bot.store.job(job_id)
        try:
            if job is None:
                raise Refusal("That job is no longer known to the bot.")
            text, kwargs = await act(job)
        except Refusal as refusal:
            await reply(interaction, str(refusal))
            return
        await reply(interaction, text, **kwargs)

    async def again_button(self, interaction: discord.Interaction, job_id: str) -> None:
        async def act(job: Job) -> tuple[str, dict]:
            new = await self.again(job, interaction.user)
            return f"Queued as job `{new.id}` (seed {new.request.seed}).", {}

        await self._answer_button(interaction, job_id, act)

    async def cancel_button(self, interaction: discord.Interaction, job_id: str) -> None:
        async def act(job: Job) -> tuple[str, dict]:
            await self.cancel_job(job, interaction.user, interaction.permissions)
            return f"Job `{job.id}` is cancelled.", {}

        await self._answer_button(interaction, job_id, act)

    async def animation_button(self, interaction: discord.Interaction, job_id: str) -> None:
        async def act(job: Job) -> tuple[str, dict]:
            return "The run, frame by frame:", {"file": await self._animation(job)}

        await self._answer_button(interaction, job_id, act)

    async def _animation(self, job: Job) -> discord.File:
        data = await self.bot.files.read(self.bot.files.animation(job.id))
        if data is None:
            raise Refusal("There is no animation of that job (it has not finished, was too short, or its files were cleaned up).")
        return discord.File(io.BytesIO(data), f"dream-{job.id}.gif")

    async def _check_owner(self, job: Job, user: Someone, verb: str, permissions: discord.Permissions | None = None) -> None:
        settings = await self.bot.settings.get(job.guild_id)
        if user.id != job.user_id and not is_moderator(user, settings, permissions):
            raise Refusal(f"Only the member who asked for job {job.id} or a moderator can {verb} it.")

    async def delete_result(self, job: Job, user: Someone, message: discord.PartialMessage) -> None:
        """🗑️: the owner (or a moderator) takes a finished picture down."""
        await self._check_owner(job, user, "delete")
        if job.active:
            raise Refusal(f"job {job.id} is still {job.state.value}; cancel it with ❌ first.")
        await message.delete()

    # cancelling and the queue

    async def cancel_job(self, job: Job, user: Someone, permissions: discord.Permissions | None = None) -> None:
        await self._check_owner(job, user, "cancel", permissions)
        if not job.active or not await self.bot.scheduler.cancel(job):
            raise Refusal(f"Job {job.id} has already {job.state.value if not job.active else 'ended'}.")

    @app_commands.command(name="cancel", description="Cancel your latest waiting or running job (or one by its id)")
    @app_commands.guild_only()
    @app_commands.describe(job="the job's id (default: your latest)")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        assert interaction.guild_id is not None
        if job:
            target = await self.bot.store.job(job.strip().strip("`"))
            if target is None or target.guild_id != interaction.guild_id:
                raise Refusal(f"There is no job {job!r} in this server.")
        else:
            active = await self.bot.store.active_jobs(interaction.guild_id, interaction.user.id)
            if not active:
                raise Refusal("You have no job waiting or running.")
            target = active[-1]
        await self.cancel_job(target, interaction.user, interaction.permissions)
        await reply(interaction, f"Job `{target.id}` is cancelled.")

    @app_commands.command(name="queue", description="What is painting now and what waits")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        order = await self.bot.scheduler.order()
        lines = []
        current, progress = self.bot.scheduler.current, self.bot.scheduler.last_progress
        if current is not None:
            step = f"step {progress.step}/{progress.total_steps}" if progress and progress.job_id == current.id else "starting"
            owner = current.user_name if current.guild_id == interaction.guild_id else "another server"
            lines.append(f"▶️ `{current.id}` {_short(current)} — {owner}, {step}")
        elsewhere = 0
        for position, job in enumerate(order, 1):
            if job.guild_id != interaction.guild_id:
                elsewhere += 1
                continue
            lines.append(f"{position}. `{job.id}` {_short(job)} — {job.user_name}")
        if elsewhere:
            lines.append(f"…and {elsewhere} job(s) from other servers.")
        text = "\n".join(lines) if lines else "The queue is empty: nothing is painting and nothing waits."
        await reply(interaction, text[:2000])


def _plain(emoji: str) -> str:
    return emoji.replace("\ufe0f", "")


def _short(job: Job, limit: int = 60) -> str:
    prompt = discord.utils.escape_markdown(job.request.prompt)
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Dream(bot))
