"""Settings from ``config.toml``: ``--config``, else ``$DREAMBOT_CONFIG``, else ``./config.toml``, else defaults."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import EngineError
from contract.limits import (
    DEFAULT_MODEL,
    DEFAULT_PERCEPTOR,
    DEFAULT_PREVIEW_EVERY,
    DEFAULT_SIZE,
    DEFAULT_STEPS,
    DEFAULT_UPSCALER,
    MAX_BATCH,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    STALL_TIMEOUT,
)
from contract.registry import DEFAULT_DREAMER, default_weights_dir, dreamer_names, generator_names, lookup, upscaler_names
from contract.speed import DEFAULT as DEFAULT_SPEED
from contract.speed import Speed, SpeedError
from contract.validation import check_size, parse_size, size_for
from contract.wire import CLAIM_TIMEOUT


class ConfigError(Exception):
    """The config file is missing, unreadable, or holds an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class DiscordConfig:
    api_base: str = "https://discord.com/api/v10"
    preview_interval: float = 3.0


@dataclass(frozen=True)
class EngineConfig:
    device: str = "auto"
    weights_dir: str = field(default_factory=lambda: str(default_weights_dir()))
    preview_every: int = DEFAULT_PREVIEW_EVERY
    speed: str = DEFAULT_SPEED
    stall_timeout: float = STALL_TIMEOUT  # seconds without a sign of life from a running job before its engine is killed
    # Jobs that share model, perceptor and size run as one batch of up to this many: "auto" or a number.
    batch: str | int = field(default="auto", metadata={"types": (str, int)})
    auto_download: bool = True  # the engine fetches the default models' missing weights at start


@dataclass(frozen=True)
class DefaultsConfig:
    model: str = DEFAULT_MODEL
    perceptor: str = DEFAULT_PERCEPTOR
    steps: int = DEFAULT_STEPS
    size: str = DEFAULT_SIZE
    upscaler: str = DEFAULT_UPSCALER  # what U1–U4 and Upscale run
    dreamer: str = DEFAULT_DREAMER  # what /deepdream runs


@dataclass(frozen=True)
class QueueConfig:
    max_per_server: int = 200  # waiting jobs of one server; more get "the queue is full"
    url: str = ""  # nats://HOST:4222: jobs go to remote workers; empty: the bot runs its own engine
    credentials: str = ""  # a NATS .creds file (user JWT and seed); a user and password can go in the url
    tls_ca: str = ""  # CA bundle that signed the server's certificate
    tls_cert: str = ""  # client certificate, for servers that verify clients
    tls_key: str = ""
    claim_timeout: float = CLAIM_TIMEOUT  # seconds a silent worker keeps a job before another worker gets it


@dataclass(frozen=True)
class WorkerConfig:
    """``dreambot worker``: how this GPU machine announces itself."""

    name: str = ""  # empty: host name and process id
    models: list[str] = field(default_factory=list)  # empty: every generator whose weights are here (and the tiny ones)
    max_side: int = MAX_SIDE  # the largest side this GPU may paint


@dataclass(frozen=True)
class StorageConfig:
    path: str = "dreambot.sqlite3"
    files: str = "dreambot-files"
    keep_days: float = 30.0  # the files of ended jobs go after this many days (0: kept for ever)
    max_files_gb: float = 20.0  # and the oldest go while the job files take more than this (0: no limit)


@dataclass(frozen=True)
class Config:
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    defaults: DefaultsConfig = field(default_factory=DefaultsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    source: str | None = None


_SECTIONS = {
    "discord": DiscordConfig,
    "engine": EngineConfig,
    "defaults": DefaultsConfig,
    "storage": StorageConfig,
    "queue": QueueConfig,
    "worker": WorkerConfig,
}


def _section(cls: type, name: str, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}; known: {', '.join(fields)}")
    defaults = cls()
    values = dict(values)
    for key, value in values.items():
        # The default's type, or the types a field names in its metadata when it takes more than one.
        expected = fields[key].metadata.get("types", (type(getattr(defaults, key)),))
        if float in expected and isinstance(value, int) and not isinstance(value, bool):
            values[key] = value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (bool in expected):
            kinds = " or ".join(kind.__name__ for kind in expected)
            raise ConfigError(f"[{name}] {key} must be of type {kinds}, not {value!r}")
    return cls(**values)


def find_config(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("DREAMBOT_CONFIG"):
        return Path(os.environ["DREAMBOT_CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


def load_config(explicit: str | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} could not be read: {error}") from None
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s) in {path}: {', '.join(sorted(unknown))}; known: {', '.join(_SECTIONS)}")
    parts = {name: _section(cls, name, data.get(name, {})) for name, cls in _SECTIONS.items()}
    config = Config(**parts, source=str(path))
    _check_values(config)
    return config


def _check_values(config: Config) -> None:
    """Values of the right type can still be unusable; say which before anything starts."""
    if not config.discord.api_base.startswith(("http://", "https://")):
        raise ConfigError(f"[discord] api_base must be an http(s) URL, not {config.discord.api_base!r}")
    if not config.discord.preview_interval > 0:
        raise ConfigError("[discord] preview_interval must be a positive number of seconds")
    if config.engine.preview_every < 1:
        raise ConfigError("[engine] preview_every must be at least 1")
    if config.storage.keep_days < 0 or config.storage.max_files_gb < 0:
        raise ConfigError("[storage] keep_days and max_files_gb must be 0 (no limit) or more")
    if config.queue.max_per_server < 1:
        raise ConfigError("[queue] max_per_server must be at least 1")
    if config.queue.url and not config.queue.url.startswith(("nats://", "tls://", "ws://", "wss://")):
        raise ConfigError(f"[queue] url must be a nats:// (or tls://, ws://, wss://) URL, not {config.queue.url!r}")
    if not config.queue.claim_timeout > 0:
        raise ConfigError("[queue] claim_timeout must be a positive number of seconds")
    paintable = generator_names() + upscaler_names() + dreamer_names()
    if unknown := [m for m in config.worker.models if m not in paintable]:
        raise ConfigError(f"[worker] models: {unknown[0]!r} is not one of: {', '.join(paintable)}")
    if config.defaults.upscaler not in upscaler_names():
        raise ConfigError(f"[defaults] upscaler {config.defaults.upscaler!r} is not one of: {', '.join(upscaler_names())}")
    if config.defaults.dreamer not in dreamer_names():
        raise ConfigError(f"[defaults] dreamer {config.defaults.dreamer!r} is not one of: {', '.join(dreamer_names())}")
    if not MIN_SIDE <= config.worker.max_side <= MAX_SIDE:
        raise ConfigError(f"[worker] max_side must be between {MIN_SIDE} and {MAX_SIDE}")
    batch = config.engine.batch
    if batch != "auto" and not (isinstance(batch, int) and 1 <= batch <= MAX_BATCH):
        raise ConfigError(f'[engine] batch must be "auto" or a number from 1 to {MAX_BATCH}, not {batch!r}')
    if not config.engine.stall_timeout > 0:
        raise ConfigError("[engine] stall_timeout must be a positive number of seconds")
    try:
        Speed.parse(config.engine.speed)
    except SpeedError as error:
        raise ConfigError(f"[engine] {error}") from None
    if config.defaults.model not in generator_names():
        raise ConfigError(f"[defaults] model {config.defaults.model!r} is not one of: {', '.join(generator_names())}")
    if not 1 <= config.defaults.steps <= MAX_STEPS:
        raise ConfigError(f"[defaults] steps must be between 1 and {MAX_STEPS}")
    try:
        parse_size(config.defaults.size)
        check_size(lookup(config.defaults.model), *size_for(config.defaults.model, None, config.defaults.size))
    except EngineError as error:
        raise ConfigError(f"[defaults] size: {error}") from None
