"""Settings from ``config.toml``: ``--config``, else ``$DREAMBOT_CONFIG``, else ``./config.toml``, else defaults."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import BadRequest, EngineError
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
from contract.registry import (
    DEFAULT_DREAMER,
    default_weights_dir,
    dreamer_names,
    generator_names,
    lookup,
    not_one_of,
    upscaler_names,
)
from contract.speed import DEFAULT as DEFAULT_SPEED
from contract.speed import Speed, SpeedError
from contract.validation import check_device, check_perceptor, check_size, parse_size, size_for
from contract.wire import CLAIM_TIMEOUT


class ConfigError(Exception):
    """The config file is missing, unreadable, or holds an unknown key or a value of the wrong type."""


Check = Callable[[str, Any, Any], "str | None"]  # (key, value, its section) -> what is wrong with it, or None


def key(default: Any = None, *, help: str, check: Check | None = None, factory: Callable[[], Any] | None = None,
        types: tuple[type, ...] | None = None) -> Any:  # fmt: skip
    """One ``[section] key``: its default (or a ``factory`` for one that depends on the machine), what it is for,
    the check of a value of the right type, and the types it takes when more than its default's."""
    metadata = {"help": help, "check": check, "types": types}
    return field(default_factory=factory, metadata=metadata) if factory else field(default=default, metadata=metadata)


def _at_least(low: int) -> Check:
    return lambda name, value, _: None if value >= low else f"{name} must be at least {low}"


def _between(low: int, high: int) -> Check:
    return lambda name, value, _: None if low <= value <= high else f"{name} must be between {low} and {high}"


def _seconds(name: str, value: float, _: Any) -> str | None:
    return None if value > 0 else f"{name} must be a positive number of seconds"


def _one_of(names: Callable[[], list[str]]) -> Check:
    return lambda name, value, _: None if value in names() else not_one_of(name, value, names())


def _no_limit_or_more(name: str, value: float, _: Any) -> str | None:
    return None if value >= 0 else "keep_days and max_files_gb must be 0 (no limit) or more"


def _http_url(name: str, value: str, _: Any) -> str | None:
    return None if value.startswith(("http://", "https://")) else f"{name} must be an http(s) URL, not {value!r}"


def _nats_url(name: str, value: str, _: Any) -> str | None:
    if not value or value.startswith(("nats://", "tls://", "ws://", "wss://")):
        return None
    return f"{name} must be a nats:// (or tls://, ws://, wss://) URL, not {value!r}"


def _batch(name: str, value: str | int, _: Any) -> str | None:
    if value == "auto" or (isinstance(value, int) and 1 <= value <= MAX_BATCH):
        return None
    return f'{name} must be "auto" or a number from 1 to {MAX_BATCH}, not {value!r}'


def _checked_by(check: Callable[[str], object], refusal: type[Exception] = BadRequest) -> Check:
    """A key checked by a function that raises ``refusal`` with the sentence to show (``contract.validation``'s
    checks, ``Speed.parse``)."""

    def problem(name: str, value: str, _: Any) -> str | None:
        try:
            check(value)
        except refusal as error:
            return str(error)
        return None

    return problem


def _size(name: str, value: str, defaults: Any) -> str | None:
    """A size the default model can paint (the model is checked before it)."""
    try:
        parse_size(value)
        check_size(lookup(defaults.model), *size_for(defaults.model, None, value))
    except EngineError as error:
        return f"{name}: {error}"
    return None


def _paintable(name: str, value: list, _: Any) -> str | None:
    paintable = generator_names() + upscaler_names() + dreamer_names()
    unknown = [model for model in value if model not in paintable]
    return not_one_of(name, unknown[0], paintable) if unknown else None


@dataclass(frozen=True)
class DiscordConfig:
    api_base: str = key("https://discord.com/api/v10", help="REST base URL; the gateway's is asked from it", check=_http_url)
    preview_interval: float = key(3.0, help="seconds between two edits of a job's progress message", check=_seconds)


@dataclass(frozen=True)
class EngineConfig:
    device: str = key("auto", help="auto, cpu, cuda or cuda:N", check=_checked_by(check_device))
    weights_dir: str = key(help="where model weights are cached", factory=lambda: str(default_weights_dir()))
    preview_every: int = key(DEFAULT_PREVIEW_EVERY, help="a preview frame every N steps", check=_at_least(1))
    speed: str = key(DEFAULT_SPEED, help="fast or plain, then +SWITCH/-SWITCH", check=_checked_by(Speed.parse, SpeedError))
    stall_timeout: float = key(STALL_TIMEOUT, help="seconds a running job may go silent before its engine is killed",
                               check=_seconds)  # fmt: skip
    batch: str | int = key("auto", help="jobs of one model, perceptor and size painted as one batch", check=_batch,
                           types=(str, int))  # fmt: skip
    auto_download: bool = key(True, help="fetch the default models' missing weights at start")


@dataclass(frozen=True)
class DefaultsConfig:
    model: str = key(DEFAULT_MODEL, help="/dream's generator", check=_one_of(generator_names))
    perceptor: str = key(DEFAULT_PERCEPTOR, help="/dream's CLIP, or A+B for an ensemble",
                         check=_checked_by(check_perceptor))  # fmt: skip
    steps: int = key(DEFAULT_STEPS, help="/dream's steps", check=_between(1, MAX_STEPS))
    size: str = key(DEFAULT_SIZE, help="/dream's WIDTHxHEIGHT for generators without a native size", check=_size)
    upscaler: str = key(DEFAULT_UPSCALER, help="what U1-U4 and Upscale run", check=_one_of(upscaler_names))
    dreamer: str = key(DEFAULT_DREAMER, help="what /deepdream runs", check=_one_of(dreamer_names))


@dataclass(frozen=True)
class QueueConfig:
    max_per_server: int = key(200, help='waiting jobs of one server; more get "the queue is full"', check=_at_least(1))
    url: str = key("", help="nats://HOST:4222 sends jobs to remote workers; empty: the bot runs its own engine",
                   check=_nats_url)  # fmt: skip
    credentials: str = key("", help="a file `dreambot nats-config` wrote (USER:PASSWORD), or a NATS .creds file")
    insecure: bool = key(False, help="allow a NATS server beyond this machine without credentials")
    tls_ca: str = key("", help="CA bundle that signed the server's certificate")
    tls_cert: str = key("", help="client certificate, for servers that verify clients")
    tls_key: str = key("", help="the client certificate's key")
    claim_timeout: float = key(CLAIM_TIMEOUT, help="seconds a silent worker keeps a job before another gets it",
                               check=_seconds)  # fmt: skip


@dataclass(frozen=True)
class WorkerConfig:
    """``dreambot worker``: how this GPU machine announces itself."""

    name: str = key("", help="its name in /queue; empty: host name and process id")
    models: list[str] = key(help="models it takes jobs for; empty: every one whose weights are here", factory=list,
                            check=_paintable)  # fmt: skip
    max_side: int = key(MAX_SIDE, help="the largest side this GPU may paint", check=_between(MIN_SIDE, MAX_SIDE))


@dataclass(frozen=True)
class StorageConfig:
    path: str = key("dreambot.sqlite3", help="the SQLite database")
    files: str = key("dreambot-files", help="each job's init image, final PNG and animation")
    keep_days: float = key(30.0, help="days the files of ended jobs are kept (0: for ever)", check=_no_limit_or_more)
    max_files_gb: float = key(20.0, help="the oldest files go while they take more (0: no limit)", check=_no_limit_or_more)


PICTURE_CHECKS = ["auto", "nudenet", "off"]


def _share(name: str, value: float, _: Any) -> str | None:
    return None if 0 < value <= 1 else f"{name} must be above 0 and at most 1, not {value}"


@dataclass(frozen=True)
class ModerationConfig:
    """What may be shown: the picture check every preview, result and film passes before it is posted."""

    picture_check: str = key("auto", help="nudenet, off, or auto: nudenet where the safety extra is installed",
                             check=_one_of(lambda: PICTURE_CHECKS))  # fmt: skip
    threshold: float = key(0.5, help="NudeNet's score from which an exposed part flags a picture", check=_share)


def _listen(name: str, value: str, _: Any) -> str | None:
    """Empty (no web server) or HOST:PORT, the port from 0 (the system picks one) to 65535."""
    host, _, port = value.rpartition(":")
    if not value or (host and port.isdigit() and int(port) <= 65535):
        return None
    return f'{name} must be HOST:PORT, e.g. "127.0.0.1:8080", not {value!r}'


def _public_url(name: str, value: str, section: Any) -> str | None:
    return _http_url(name, value, section) if value else None


@dataclass(frozen=True)
class WebConfig:
    """The bot's own web server: the gallery, ``/healthz`` and ``/metrics``."""

    listen: str = key("", help='HOST:PORT the web server listens on, e.g. "127.0.0.1:8080"; empty: no web server',
                      check=_listen)  # fmt: skip
    public_url: str = key("", help="the gallery's address as members reach it (behind a reverse proxy); empty: http://LISTEN",
                          check=_public_url)  # fmt: skip
    metrics: bool = key(False, help="serve GET /metrics in Prometheus's text format")


@dataclass(frozen=True)
class Config:
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    defaults: DefaultsConfig = field(default_factory=DefaultsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    web: WebConfig = field(default_factory=WebConfig)
    source: str | None = None


SECTIONS = {
    "discord": DiscordConfig,
    "engine": EngineConfig,
    "defaults": DefaultsConfig,
    "storage": StorageConfig,
    "queue": QueueConfig,
    "worker": WorkerConfig,
    "moderation": ModerationConfig,
    "web": WebConfig,
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
        # The default's type, or the types a key declares when it takes more than one.
        expected = fields[key].metadata["types"] or (type(getattr(defaults, key)),)
        if float in expected and isinstance(value, int) and not isinstance(value, bool):
            values[key] = value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (bool in expected):
            kinds = " or ".join(kind.__name__ for kind in expected)
            raise ConfigError(f"[{name}] {key} must be of type {kinds}, not {value!r}")
    return cls(**values)


def _check(section: Any, name: str) -> None:
    """Values of the right type can still be unusable: each declared check, in the order the keys are declared
    (a key another's check reads, like ``[defaults] model`` for ``size``, is declared before it)."""
    for declared in dataclasses.fields(section):
        check = declared.metadata["check"]
        if check and (problem := check(declared.name, getattr(section, declared.name), section)):
            raise ConfigError(f"[{name}] {problem}")


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
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s) in {path}: {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    parts = {name: _section(cls, name, data.get(name, {})) for name, cls in SECTIONS.items()}
    for name, section in parts.items():
        _check(section, name)
    return Config(**parts, source=str(path))
