"""The commands and reactions that manage jobs once made: /cancel, /queue, /mine, and 🔁 ❌ 🎞️ 🗑️ on a job's
message. The actions themselves live in ``bot/actions/job_actions.py``, shared with the buttons."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.admission.refusal import Refusal
from bot.client import DreamBot
from bot.display.emoji import AGAIN, ANIMATION, CANCEL, DELETE, plain
from bot.display.replies import reply
from bot.display.text import shown_name
from bot.display.throttle import PostBudget
from bot.queue.jobs import Job
from contract.wire import WorkerInfo

NOTICE_SECONDS = 20  # how long a refusal answered in the channel (to a reaction) stays up
REACTIONS = {plain(emoji) for emoji in (AGAIN, CANCEL, ANIMATION, DELETE)}
PUBLIC_POSTS, PUBLIC_POST_WINDOW = 5, 60.0  # a member's reactions make the bot post in the channel this often at most
MINE_PAGE = 10  # results a /mine page lists


class Jobs(commands.Cog):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self.actions = bot.actions
        self.public_posts = PostBudget(PUBLIC_POSTS, PUBLIC_POST_WINDOW)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        member = payload.member
        if payload.guild_id is None or (self.bot.user and payload.user_id == self.bot.user.id) or member is None:
            return
        emoji = plain(str(payload.emoji))
        if emoji not in REACTIONS:
            return
        job = await self.bot.store.job_for_message(payload.message_id)
        if job is None:
            return
        channel = self.bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        message = channel.get_partial_message(payload.message_id)

        async def animation() -> None:
            file = await self.actions.animation(job, member, public=True)
            if self.public_posts.allow(member.id):
                await message.reply(file=file, mention_author=False)

        act = {
            plain(AGAIN): lambda: self.actions.again(job, member),
            plain(CANCEL): lambda: self.actions.cancel(job, member),
            plain(DELETE): lambda: self.actions.delete(job, member, message),
            plain(ANIMATION): animation,
        }[emoji]
        try:
            await self.actions.check_blocked(payload.guild_id, member)
            await act()
        except Refusal as refusal:
            if self.public_posts.allow(member.id):
                await channel.send(f"{shown_name(member.display_name)}: {refusal}", delete_after=NOTICE_SECONDS)

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
        await self.actions.cancel(target, interaction.user, interaction.permissions)
        await reply(interaction, f"Job `{target.id}` is cancelled.")

    @app_commands.command(name="queue", description="What is painting now and what waits")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        order = await self.bot.scheduler.order()
        lines = []
        scheduler = self.bot.scheduler
        for current in list(scheduler.running.values()):
            progress = scheduler.progress.get(current.id)
            step = f"step {progress.step}/{progress.total_steps}" if progress else "starting"
            if current.guild_id == interaction.guild_id:
                lines.append(f"▶️ `{current.id}` {_short(current)} — {shown_name(current.user_name)}, {step}")
            else:  # nothing of another server's job: no prompt, no id, no name
                lines.append(f"▶️ a job from another server, {step}")
        dispatcher = self.bot.dispatcher
        elsewhere = 0
        for position, job in enumerate(order, 1):
            if job.guild_id != interaction.guild_id:
                elsewhere += 1
                continue
            stuck = dispatcher is not None and not dispatcher.painters_of(job.request)
            why = f" (no online worker paints {job.request.model} at {job.request.size} in its memory)" if stuck else ""
            lines.append(f"{position}. `{job.id}` {_short(job)} — {shown_name(job.user_name)}{why}")
        if elsewhere:
            lines.append(f"…and {elsewhere} job(s) from other servers.")
        if dispatcher is not None:
            lines.append(_workers(dispatcher.online()))
        text = "\n".join(lines) if lines else "The queue is empty: nothing is painting and nothing waits."
        await reply(interaction, text[:2000])

    @app_commands.command(name="mine", description="Your recent pictures here, with links and seeds")
    @app_commands.guild_only()
    @app_commands.describe(page="which page of ten, newest first")
    async def mine(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 10_000] = 1) -> None:
        assert interaction.guild_id is not None
        jobs, total = await self.bot.store.results(interaction.guild_id, interaction.user.id, MINE_PAGE, (page - 1) * MINE_PAGE)
        pages = max(1, -(-total // MINE_PAGE))
        if not jobs:
            text = (
                "You have no finished pictures here yet."
                if total == 0
                else f"There are {pages} page(s) of your pictures, not {page}."
            )
            await reply(interaction, text)
            return
        lines = [f"Your pictures, page {page} of {pages} ({total} in all, newest first):", *map(_result_line, jobs)]
        await reply(interaction, "\n".join(lines)[:2000], suppress_embeds=True)


def _result_line(job: Job) -> str:
    """One result of ``/mine``: a link to its message, its seed and its prompt."""
    title = f"[`{job.id}`]({job.jump_url})" if job.jump_url else f"`{job.id}`"
    return f"{title} seed {job.request.seed}, {job.request.model}, {job.request.size}: {_short(job, 80)}"


def _workers(workers: list[WorkerInfo]) -> str:
    """One line on the remote workers: who is online, busy or free, and what each paints."""
    if not workers:
        return "🖥️ No worker is online: jobs wait until one connects."
    shown = [
        f"{w.worker_id} ({w.device}{f', {w.memory_gib:.0f} GiB' if w.memory_gib else ''}, "
        f"{'busy' if w.job_id else 'free'}: {', '.join(w.models)})"
        for w in workers
    ]
    return f"🖥️ Workers: {'; '.join(shown)}"


def _short(job: Job, limit: int = 60) -> str:
    prompt = discord.utils.escape_markdown(job.request.prompt)
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Jobs(bot))
