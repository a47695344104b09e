"""The bot: a discord.py client that owns the store, the engine supervisor and the scheduler.

It is the auto-sharded client, because that one asks ``GET {api_base}/gateway/bot`` for the
gateway URL; with ``Route.BASE`` pointed at ``[discord] api_base`` the bot therefore runs
unchanged against Discord, a REST proxy, or a local emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions.job_actions import JobActions
from bot.admission.refusal import Refusal
from bot.admission.settings import GuildSettings, SettingError, SettingsStore
from bot.config import Config
from bot.display.replies import reply
from bot.display.reporter import DiscordReporter
from bot.display.views import JobButton
from bot.executors.local import EngineSupervisor
from bot.executors.nats.dispatch import Dispatcher
from bot.moderation.audit import AuditLog, ReleaseButton
from bot.moderation.entries import Kind
from bot.moderation.gate import PictureGate, picture_checker
from bot.queue.executor import EngineCrashed, Executor
from bot.queue.files import JobFiles, Pruned
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from bot.usage.ledger import Ledger
from bot.web.metrics import Metrics
from bot.web.server import WebServer

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.dream", "cogs.jobs", "cogs.settings", "cogs.moderation", "cogs.usage", "cogs.presets", "cogs.gallery")
LOW_DISK = 2 * 2**30  # less free space than this for job files is logged as a warning at start
PRUNE_EVERY = 3600.0  # seconds between two clean-ups of old job files


def use_api_base(api_base: str) -> None:
    """Send every REST call (and so the gateway lookup) to ``api_base``."""
    discord.http.Route.BASE = api_base.rstrip("/")


class DreamBot(commands.AutoShardedBot):
    """The Discord client and the services it owns; the cogs reach them as its attributes."""

    def __init__(self, config: Config, engine_argv: Sequence[str] | None = None) -> None:
        # The bot has no voice: discord.py's warnings that voice's optional packages are missing mean nothing here.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            shard_count=None,
        )
        self.config = config
        defaults = config.defaults
        self.store = Store(config.storage.path)
        self.files = JobFiles(config.storage.files)
        base = GuildSettings.from_defaults(defaults.model, defaults.steps, defaults.size)
        self.settings = SettingsStore(self.store, base, self._thread_parent)
        self.audit = AuditLog(self.store, self.settings, self)
        self.gate = PictureGate(picture_checker(config.moderation), self.store, self.settings, self._age_restricted, self.audit)
        self.reporter = DiscordReporter(self, self.store, config.discord.preview_interval, self.gate)
        # The embedded default: an engine process beside the bot. With [queue] url: remote workers, and no engine here.
        self.supervisor: EngineSupervisor | None = None
        self.dispatcher: Dispatcher | None = None
        executor: Executor
        if config.queue.url:
            executor = self.dispatcher = Dispatcher(config.queue, stall_timeout=config.engine.stall_timeout)
        else:
            warm, also = (defaults.model, defaults.perceptor), (defaults.upscaler, defaults.dreamer)
            executor = self.supervisor = EngineSupervisor.for_config(config.engine, engine_argv, warm, also)
        self.ledger = Ledger(self.store, self.settings)
        self.metrics = Metrics()
        self.scheduler = Scheduler(
            self.store, executor, self.reporter, self.files, self.gate.concepts, self.ledger, self.metrics.ended
        )
        if self.dispatcher is not None:
            self.dispatcher.on_change = self.scheduler.wake
        supervisor = self.supervisor
        self.actions = JobActions(
            self.store, self.settings, self.scheduler, self.reporter, self.files, config.queue.max_per_server,
            defaults.upscaler, fetching=supervisor.fetching if supervisor is not None else lambda request: None,
            gate=self.gate, audit=self.audit, ledger=self.ledger, memories=executor.memories,
            refused=lambda refusal: self.metrics.refused.inc(),
        )  # fmt: skip
        self.web = WebServer(self) if config.web.listen else None
        self._rate_limits = self.metrics.rate_limit_filter()
        count_errors(self.http, self.metrics)
        self.tree.on_error = self.on_app_command_error
        self.tree.interaction_check = self._admits
        self._scheduler_task: asyncio.Task | None = None
        self._janitor_task: asyncio.Task | None = None
        self._engine_start: asyncio.Task | None = None

    def _age_restricted(self, channel_id: int) -> bool:
        """Discord's nsfw flag of a channel (a thread answers for its parent); False for one the cache lacks."""
        channel = self.get_channel(channel_id)
        return bool(channel is not None and hasattr(channel, "is_nsfw") and channel.is_nsfw())

    def _thread_parent(self, channel_id: int) -> int | None:
        channel = self.get_channel(channel_id)
        return channel.parent_id if isinstance(channel, discord.Thread) else None

    async def login(self, token: str) -> None:
        use_api_base(self.config.discord.api_base)
        await super().login(token)

    async def setup_hook(self) -> None:
        await self.store.connect()
        if self.dispatcher is not None:
            await self.dispatcher.start()
        self.add_dynamic_items(JobButton, ReleaseButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))
        self._scheduler_task = asyncio.create_task(self.scheduler.run(), name="scheduler")
        self._scheduler_task.add_done_callback(_crash_report)
        if self.supervisor is not None:  # torch imported and the default models loaded before the first /dream
            self._engine_start = asyncio.create_task(self._start_engine(), name="engine start")
        free, total = await asyncio.to_thread(self.files.free_space)
        log.log(
            logging.WARNING if free < LOW_DISK else logging.INFO,
            "job files in %s: %.1f GiB free of %.1f GiB",
            self.files.root,
            free / 2**30,
            total / 2**30,
        )
        self._janitor_task = asyncio.create_task(self._janitor(), name="janitor")
        logging.getLogger("discord.http").addFilter(self._rate_limits)
        if self.web is not None:
            await self.store.web_secret()  # made at the first start with the gallery, and kept
            await self.web.start()

    async def _start_engine(self) -> None:
        assert self.supervisor is not None
        try:
            await self.supervisor.prestart()
        except EngineCrashed as error:  # the first job tries again, and says why if it fails too
            log.error("the engine did not start: %s", error)

    async def _janitor(self) -> None:
        """Keep the job files within ``[storage] keep_days`` and ``max_files_gb``: at start, then every hour."""
        while True:
            try:
                await self.prune_files()
            except Exception:
                log.exception("could not clean up old job files")
            await asyncio.sleep(PRUNE_EVERY)

    async def prune_files(self) -> Pruned:
        """One clean-up: the files of ended jobs past their age or the size cap; waiting and running jobs keep theirs."""
        storage = self.config.storage
        return await self.files.prune(storage.keep_days, int(storage.max_files_gb * 2**30), await self.store.ended_ids())

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) in %d server(s)", self.user, self.user.id if self.user else "?", len(self.guilds))

    async def _admits(self, interaction: discord.Interaction) -> bool:
        """Every slash command of a blocked member is refused with the reason before it runs (autocomplete
        only suggests, and goes on)."""
        if interaction.guild_id is None or interaction.type is not discord.InteractionType.application_command:
            return True
        try:
            await self.actions.check_blocked(interaction.guild_id, interaction.user)
        except Refusal as refusal:
            await self.audit.record(interaction.guild_id, Kind.REFUSED, interaction.user.id, str(refusal),
                                    interaction.channel_id)  # fmt: skip
            await reply(interaction, str(refusal))
            return False
        return True

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """The one place where errors become replies: refusals as they are, anything else as an apology."""
        cause = getattr(error, "original", error)
        if isinstance(cause, (Refusal, SettingError)):
            text = str(cause)
        elif isinstance(cause, app_commands.CheckFailure):
            text = str(cause) or "You are not allowed to do that here."
        else:
            log.error("command %s failed", interaction.command and interaction.command.name, exc_info=cause)
            text = "Something went wrong on the bot's side; the owner can find the details in its log."
        await reply(interaction, text)

    def health(self) -> list[str]:
        """What keeps the bot from serving (``GET /healthz``): the gateway, the scheduler's loop, the executor."""
        problems = []
        if self.is_closed() or not self.is_ready() or any(shard.is_closed() for shard in self.shards.values()):
            problems.append("the Discord gateway is not connected")
        if self._scheduler_task is None or self._scheduler_task.done():
            problems.append("the scheduler's loop is not running")
        if self.supervisor is not None and not self.supervisor.running():
            problems.append("the engine process is not running")
        if self.dispatcher is not None and not self.dispatcher.reachable():
            problems.append("the NATS server is not reachable")
        return problems

    async def scrape(self) -> bytes:
        """``GET /metrics``: the counters kept as jobs end, with the queue, workers and database read now."""
        queued = await self.store.queued_by_guild()
        workers = {w.worker_id: w.memory_gib for w in self.dispatcher.online()} if self.dispatcher is not None else {}
        size = await asyncio.to_thread(database_bytes, self.config.storage.path)
        restarts = max(0, self.supervisor.starts - 1) if self.supervisor is not None else 0
        return self.metrics.scraped(queued, workers, size, restarts)

    async def close(self) -> None:
        logging.getLogger("discord.http").removeFilter(self._rate_limits)
        if self.web is not None:
            await self.web.stop()
        for task in (self._scheduler_task, self._janitor_task, self._engine_start):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.scheduler.close()
        await self.reporter.close()
        await self.audit.close()
        await self.scheduler.engine.stop()
        await self.store.close()
        await super().close()


def _crash_report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("the scheduler stopped", exc_info=task.exception())


def database_bytes(path: str) -> int:
    """The database's size on disk, its write-ahead log included."""
    return sum(Path(f"{path}{end}").stat().st_size for end in ("", "-wal") if Path(f"{path}{end}").exists())


def count_errors(http: discord.http.HTTPClient, metrics: Metrics) -> None:
    """Count the Discord REST calls that fail, by status, as they pass (the operator's figures)."""
    request = http.request

    async def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            return await request(*args, **kwargs)
        except discord.HTTPException as error:
            metrics.discord_errors.labels(str(error.status)).inc()
            if error.status == 429:  # one discord.py did not wait out (a ban by Discord's edge, or its last try)
                metrics.rate_limits.inc()
            raise

    http.request = counted  # type: ignore[method-assign]
