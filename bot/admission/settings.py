"""Per-server settings: each declared once, as a field of ``GuildSettings``, so an unknown key is an
error and never a silent write.

Each setting has a parser that turns what a moderator typed into a value or raises ``SettingError``
with the reason and what would be accepted. ``GuildSettings.check`` refuses combinations that
contradict each other (a default above a limit), so a server's settings are never half-consistent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.display.text import fold
from bot.moderation.handling import Handling
from bot.usage.quota import Quota, QuotaError
from contract.concepts import DEFAULT_CONCEPT_THRESHOLD, check_concepts
from contract.errors import EngineError
from contract.films import MAX_FRAMES, MAX_SCENES
from contract.limits import MAX_COUNT, MAX_SIDE, MAX_STEPS
from contract.moves import MIN_PAN_SHARE, PAN_SHARE, STRENGTHS
from contract.registry import generator_names, lookup
from contract.validation import check_perceptor, check_size, parse_size, size_for

if TYPE_CHECKING:
    from bot.queue.store import Store

MAX_STYLE_CHARS = 200
MAX_JOBS_PER_USER = 100
MAX_COOLDOWN = 24 * 3600
MAX_USAGE_WINDOW = 30 * 24  # hours
FAIRNESS = ("turns", "least_used")
AUTO = "auto"
_SECONDS_PER = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
_DURATION = re.compile(rf"\s*(\d{{1,9}})\s*({'|'.join(_SECONDS_PER)})?\s*", re.IGNORECASE | re.ASCII)
_SNOWFLAKE = re.compile(r"<[#@]&?(\d{1,20})>|(\d{5,20})", re.ASCII)
SHOWN_CHARS = 300  # a value /settings show prints, at most
SHOWN_ITEMS = 10  # list items /settings show prints before it says how many more there are
_CLEAR = {"none", "off", "all", "-", ""}


class SettingError(Exception):
    """A value a moderator typed cannot be used; the message says why and what would work."""


@dataclass(frozen=True)
class Setting:
    help: str
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str


def setting(description: str, parse: Callable[[str], Any], show: Callable[[Any], str] = str, **default: Any) -> Any:
    """A ``GuildSettings`` field that is a setting; ``default`` (if given) is its value on a new server."""
    # Runs only while the class is built, where mutation testing cannot reach; the SETTINGS table it fills is tested.
    return field(metadata={"setting": Setting(description, parse, show)}, **default)  # pragma: no mutate


@dataclass(frozen=True)
class WholeNumber:
    """Parses a whole number from ``low`` to ``high``; a class rather than a closure, so its bounds stay inspectable."""

    low: int
    high: int

    def __call__(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise SettingError(f"{text!r} is not a whole number; use one from {self.low} to {self.high}") from None
        if not self.low <= value <= self.high:
            raise SettingError(f"{value} is out of range; use one from {self.low} to {self.high}")
        return value


def _model(text: str) -> str:
    name = text.strip()
    if name not in generator_names():
        raise SettingError(f"{name!r} is not a generator; choose one of: {', '.join(generator_names())}")
    return name


def _size(text: str) -> str:
    try:
        width, height = parse_size(text)
    except EngineError as error:
        raise SettingError(str(error)) from None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise SettingError(f"sides must be between 1 and {MAX_SIDE} pixels")
    return f"{width}x{height}"


def _max_size(text: str) -> str:
    """A size, or ``auto``: as large as the engines' memory holds (admission refuses what fits none of them)."""
    return AUTO if text.strip().lower() == AUTO else _size(text)


def _style(text: str) -> str:
    style = text.strip()
    if len(style) > MAX_STYLE_CHARS:
        raise SettingError(f"the style is {len(style)} characters long; at most {MAX_STYLE_CHARS}")
    if "|" in style:
        raise SettingError("the style is one prompt; it may not contain '|'")
    return style


def _duration(text: str) -> int:
    match = _DURATION.fullmatch(text)
    if not match:
        raise SettingError(f"{text!r} is not a duration; use seconds (30), or 30s, 5m, 1h")
    seconds = int(match[1]) * _SECONDS_PER[(match[2] or "s").lower()]
    if seconds > MAX_COOLDOWN:
        raise SettingError(f"the cooldown may be at most {MAX_COOLDOWN} seconds (24h)")
    return seconds


def _snowflakes(text: str, what: str) -> tuple[int, ...]:
    if text.strip().lower() in _CLEAR:
        return ()
    items = [item for item in re.split(r"[\s,]+", text.strip()) if item]
    ids = []
    for item in items:
        match = _SNOWFLAKE.fullmatch(item)
        if not match:
            raise SettingError(f"{item!r} is not a {what}; mention it (#channel, @role) or give its id, or say 'none'")
        ids.append(int(match[1] or match[2]))
    return tuple(dict.fromkeys(ids))


def _channels(text: str) -> tuple[int, ...]:
    return _snowflakes(text, "channel")


def _channel(text: str) -> int | None:
    ids = _channels(text)
    if len(ids) > 1:
        raise SettingError("give one channel (or 'none')")
    return ids[0] if ids else None


def _roles(text: str) -> tuple[int, ...]:
    return _snowflakes(text, "role")


def _role(text: str) -> int | None:
    ids = _snowflakes(text, "role")
    if len(ids) > 1:
        raise SettingError("give one role (or 'none')")
    return ids[0] if ids else None


def _words(text: str) -> tuple[str, ...]:
    if text.strip().lower() in _CLEAR:
        return ()
    words = [fold(w.strip()) for w in text.split(",") if fold(w.strip())]
    if any(len(w) > 100 for w in words):
        raise SettingError("each banned word or phrase may be at most 100 characters")
    return tuple(dict.fromkeys(words))


def _concepts(text: str) -> tuple[str, ...]:
    if text.strip().lower() in _CLEAR:
        return ()
    try:
        return check_concepts([phrase.strip() for phrase in text.split(",")])
    except ValueError as error:
        raise SettingError(str(error)) from None


def _share(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise SettingError(f"{text!r} is not a number; use one from 0 to 1 (e.g. 0.5)") from None
    if not 0.0 <= value <= 1.0:  # NaN too
        raise SettingError(f"{value} is out of range; use one from 0 to 1 (e.g. 0.5)")
    return value


def _quota(text: str) -> str:
    try:
        return str(Quota.parse(text))
    except QuotaError as error:
        raise SettingError(str(error)) from None


def _pan_share(text: str) -> float:
    value = _share(text)
    if value < MIN_PAN_SHARE:
        raise SettingError(f"{value} is out of range; a pan grows the canvas by {MIN_PAN_SHARE:g} to 1 of the picture")
    return value


def _strength_name(text: str) -> str:
    word = text.strip().lower()
    if word not in STRENGTHS:
        raise SettingError(f"{text!r} is neither subtle nor strong")
    return word


GALLERY = ("off", "members", "public")


def _gallery(text: str) -> str:
    word = text.strip().lower()
    if word not in GALLERY:
        raise SettingError(f"{text!r} is not a gallery choice; use off, members (each member's own link) or public")
    return word


def _fairness(text: str) -> str:
    word = text.strip().lower().replace("-", "_").replace(" ", "_")
    if word not in FAIRNESS:
        raise SettingError(f"{text!r} is not a fairness rule; use one of: {', '.join(FAIRNESS)}")
    return word


def _switch(text: str) -> bool:
    word = text.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise SettingError(f"{text!r} is neither on nor off")


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _perceptors(text: str) -> tuple[str, ...]:
    if text.strip().lower() in _CLEAR:
        return ()
    names = tuple(dict.fromkeys(name for name in re.split(r"[\s,]+", text.strip()) if name))
    for name in names:
        try:
            check_perceptor(name)
        except EngineError as error:
            raise SettingError(str(error)) from None
    return names


def _handling(text: str) -> str:
    try:
        return Handling(text.strip().lower()).value
    except ValueError:
        raise SettingError(f"{text!r} is not one of: {', '.join(Handling)}") from None


def _list(values: tuple, render: Callable[[Any], str] = str) -> str:
    """At most ``SHOWN_ITEMS`` of ``values``, so ``/settings show`` stays inside one Discord message."""
    if not values:
        return "none"
    shown = ", ".join(render(v) for v in values[:SHOWN_ITEMS])
    return shown if len(values) <= SHOWN_ITEMS else f"{shown} and {len(values) - SHOWN_ITEMS} more"


@dataclass(frozen=True)
class GuildSettings:
    """One server's settings. Each field is a setting: its help, parser and display are declared with it."""

    model: str = setting("default generator", _model)
    steps: int = setting("default number of steps", WholeNumber(1, MAX_STEPS))
    size: str = setting("default size, WIDTHxHEIGHT", _size)
    style: str = setting(
        'a prompt added to every dream, e.g. "unreal engine"; or a preset\'s name: the default preset of every /dream',
        _style, lambda v: v or "none", default="",
    )  # fmt: skip
    max_steps: int = setting("most steps a member may ask for", WholeNumber(1, MAX_STEPS), default=1000)
    max_size: str = setting(
        "largest size a member may ask for, WIDTHxHEIGHT, or auto: what the engines' memory holds", _max_size, default="512x512"
    )
    max_frames: int = setting("most frames a /zoom may have", WholeNumber(1, MAX_FRAMES), default=100)
    max_scenes: int = setting("most scenes (lines) a /story may have", WholeNumber(1, MAX_SCENES), default=10)
    max_count: int = setting("most pictures one /dream may paint at once (count)", WholeNumber(1, MAX_COUNT), default=MAX_COUNT)
    advanced: bool = setting(
        "whether members may use /dream's advanced options, negative prompt and image prompt", _switch, _on_off, default=True
    )
    perceptors: tuple[str, ...] = setting(
        "perceptors members may pick in /dream's options, besides the default", _perceptors, _list, default=()
    )
    jobs_per_user: int = setting(
        "how many jobs one member may have waiting or running", WholeNumber(1, MAX_JOBS_PER_USER), default=3
    )
    cooldown: int = setting("seconds a member waits between dreams (30, 5m, 1h)", _duration, lambda v: f"{v}s", default=0)
    channels: tuple[int, ...] = setting(
        "channels where /dream works (none: everywhere)", _channels, lambda v: _list(v, "<#{}>".format), default=()
    )
    banned_words: tuple[str, ...] = setting("comma-separated words refused in prompts", _words, _list, default=())
    flagged: str = setting(
        "what a picture the picture check flags becomes outside age-restricted channels: spoiler, private (sent to "
        "its member) or withhold",
        _handling,
        default=Handling.SPOILER.value,
    )
    clip_concepts: tuple[str, ...] = setting(
        "comma-separated concepts the CLIP check flags outside age-restricted channels (none: off); tune "
        "clip_threshold with dreambot check IMAGE --concepts",
        _concepts,
        _list,
        default=(),
    )
    clip_threshold: float = setting(
        "the CLIP check's score (0 to 1) from which a concept flags a picture", _share, default=DEFAULT_CONCEPT_THRESHOLD
    )
    daily_gpu_minutes: str = setting(
        "GPU-minutes a member may use a day (none: no quota); roles after it override it: 30, @vip 120, @mods none",
        _quota,
        default="none",
    )
    fairness: str = setting(
        "who goes next: turns (each member in turn) or least_used (the member with the fewest GPU-minutes lately)",
        _fairness,
        default="turns",
    )
    usage_window: int = setting(
        "hours of use that least_used counts", WholeNumber(1, MAX_USAGE_WINDOW), lambda v: f"{v}h", default=24
    )
    vary_subtle: float = setting(
        "Vary (Subtle)'s strength: the share of fresh noise in its start (0 to 1; the pull to the parent is 1 less it)",
        _share,
        default=STRENGTHS["subtle"],
    )
    vary_strong: float = setting("Vary (Strong)'s strength (0 to 1)", _share, default=STRENGTHS["strong"])
    pan_share: float = setting(
        "how much a Pan grows the canvas, as a share of the picture's side (0.1 to 1)", _pan_share, default=PAN_SHARE
    )
    vary_grid: str = setting("the strength of a grid's V1-V4: subtle or strong", _strength_name, default="strong")
    builtin_presets: bool = setting(
        "whether /dream's preset may name the built-in ones (unreal-engine, artstation...) besides the server's own",
        _switch,
        _on_off,
        default=True,
    )
    gallery: str = setting(
        "the web gallery: off, members (each member's signed link from /gallery) or public (anyone with its link)",
        _gallery,
        default="off",
    )
    moderator_role: int | None = setting(
        "a role that may change settings, besides Manage Server", _role, lambda v: f"<@&{v}>" if v else "none", default=None
    )
    audit_channel: int | None = setting(
        "where jobs, refusals, flagged pictures, deletions, settings changes and blocks are logged for moderators",
        _channel,
        lambda v: f"<#{v}>" if v else "none",
        default=None,
    )
    blocked_roles: tuple[int, ...] = setting(
        "roles whose members may not use the bot", _roles, lambda v: _list(v, "<@&{}>".format), default=()
    )

    @classmethod
    def from_defaults(cls, model: str, steps: int, size: str) -> GuildSettings:
        """A new server's settings: the config's defaults, with limits raised to admit them."""
        start = cls(model, steps, size)
        width, height = parse_size(size)
        max_width, max_height = start.max_sides
        return dataclasses.replace(
            start, max_steps=max(start.max_steps, steps), max_size=f"{max(width, max_width)}x{max(height, max_height)}"
        )

    def with_values(self, values: dict[str, Any]) -> GuildSettings:
        """These settings with stored overrides applied (lists come back from JSON as lists)."""
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in SETTINGS}
        return dataclasses.replace(self, **known)

    @property
    def max_sides(self) -> tuple[int, int]:
        """``max_size`` as (width, height); ``auto`` bounds only by ``MAX_SIDE`` (memory bounds it at admission)."""
        return (MAX_SIDE, MAX_SIDE) if self.max_size == AUTO else parse_size(self.max_size)

    def check(self) -> None:
        """Refuse defaults that break the server's own limits."""
        if self.steps > self.max_steps:
            raise SettingError(f"the default steps ({self.steps}) would be above max_steps ({self.max_steps})")
        if self.vary_subtle > self.vary_strong:
            raise SettingError(f"vary_subtle ({self.vary_subtle:g}) would be stronger than vary_strong ({self.vary_strong:g})")
        width, height = parse_size(self.size)
        max_width, max_height = self.max_sides
        if width > max_width or height > max_height:
            raise SettingError(f"the default size ({self.size}) would be larger than max_size ({self.max_size})")
        width, height = size_for(self.model, None, self.size)  # what a /dream without a size paints
        if width > max_width or height > max_height:
            raise SettingError(f"the default model paints {width}x{height}, larger than max_size ({self.max_size})")
        try:
            check_size(lookup(self.model), width, height)
        except EngineError as error:
            raise SettingError(f"the default size does not suit the default model: {error}") from None


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in dataclasses.fields(GuildSettings)}


def parse_setting(key: str, text: str) -> Any:
    """Parse ``text`` as the value of ``key``; unknown keys are refused with the list of known ones."""
    return _setting(key).parse(text)


def _setting(key: str) -> Setting:
    try:
        return SETTINGS[key]
    except KeyError:
        raise SettingError(f"there is no setting {key!r}; settings: {', '.join(SETTINGS)}") from None


def describe(settings: GuildSettings) -> list[tuple[str, str, str]]:
    """``(key, shown value, help)`` for every setting, in declaration order."""
    return [(key, _clip(s.show(getattr(settings, key))), s.help) for key, s in SETTINGS.items()]


def _clip(shown: str, limit: int = SHOWN_CHARS) -> str:
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass(frozen=True)
class ServerRefs:
    """The roles and channels a server has, to check settings that name them."""

    guild_id: int  # also the id of its @everyone role
    roles: frozenset[int]
    channels: frozenset[int]

    def check(self, key: str, value: Any) -> None:
        if key == "moderator_role" and value is not None:
            if value == self.guild_id:
                raise SettingError("@everyone cannot be the moderator role; pick a role that only moderators have")
            if value not in self.roles:
                raise SettingError(f"<@&{value}> is not a role of this server; mention one of its roles")
        channels = value if key == "channels" else (value,) if key == "audit_channel" and value is not None else ()
        if strangers := [c for c in channels if c not in self.channels]:
            raise SettingError(f"<#{strangers[0]}> is not a channel of this server; mention its channels (#name)")
        if key == "blocked_roles" and (strangers := [r for r in value if r not in self.roles or r == self.guild_id]):
            raise SettingError(f"<@&{strangers[0]}> is not a role of this server that can be blocked; mention its roles")
        if key == "daily_gpu_minutes" and (strangers := [r for r in Quota.parse(value).role_ids if r not in self.roles]):
            raise SettingError(f"<@&{strangers[0]}> is not a role of this server; mention its roles")


THREADS_KEPT = 10_000  # threads whose parent was learned from an interaction (the cache knows the active ones)
# who may dream where, who moderates and who may not, where moderators read, what a member may spend and who goes next:
# never one channel's own
SERVER_ONLY = ("channels", "moderator_role", "audit_channel", "blocked_roles", "daily_gpu_minutes", "fairness", "usage_window")


class SettingsStore:
    """Per-server settings over the store, and per-channel settings over those: reads merge overrides
    onto the config's defaults; writes are checked whole (the server's and every channel's that builds
    on it) and happen under a lock, so two moderators never leave a half-written mix."""

    def __init__(self, store: Store, base: GuildSettings, parent_of: Callable[[int], int | None] = lambda _: None) -> None:
        self.store = store
        self.base = base
        self.parent_of = parent_of  # a thread's parent channel, as the Discord client's cache knows it
        self._threads: dict[int, int] = {}
        self._lock = asyncio.Lock()

    def learn_thread(self, thread_id: int, parent_id: int) -> None:
        """Remember a thread's parent, as an interaction from the thread says (the client's cache may lack it:
        a private thread the bot was never added to). The oldest are forgotten past ``THREADS_KEPT``."""
        self._threads.pop(thread_id, None)
        self._threads[thread_id] = parent_id
        if len(self._threads) > THREADS_KEPT:
            del self._threads[next(iter(self._threads))]

    def home(self, channel_id: int) -> int:
        """The channel whose settings, and whose place in ``channels``, hold in ``channel_id``: a thread's parent,
        so a thread never escapes its channel's banned words or limits."""
        return self._threads.get(channel_id) or self.parent_of(channel_id) or channel_id

    async def get(self, guild_id: int, channel_id: int | None = None) -> GuildSettings:
        """The settings that hold in ``channel_id`` (its own, else the server's), or the server's."""
        server = self.base.with_values(await self.store.settings(guild_id))
        if channel_id is None:
            return server
        return server.with_values((await self.store.channel_settings(guild_id)).get(self.home(channel_id), {}))

    async def sources(self, guild_id: int, channel_id: int | None = None) -> dict[str, str]:
        """Where each value comes from: "channel", "server" or "default"."""
        server = await self.store.settings(guild_id)
        channels = await self.store.channel_settings(guild_id)
        own = channels.get(self.home(channel_id), {}) if channel_id is not None else {}
        return {key: "channel" if key in own else "server" if key in server else "default" for key in SETTINGS}

    async def set(
        self, guild_id: int, key: str, text: str, server: ServerRefs | None = None, channel_id: int | None = None
    ) -> GuildSettings:
        """Parse, check and store one setting, for the server or one channel; roles and channels must be the
        server's own when ``server`` says what it has."""
        value = parse_setting(key, text)
        if server is not None:
            server.check(key, value)
        return await self._change(guild_id, key, value, channel_id)

    async def reset(self, guild_id: int, key: str, channel_id: int | None = None) -> GuildSettings:
        """Drop a server's value (back to the bot's default) or a channel's (back to the server's)."""
        _setting(key)
        return await self._change(guild_id, key, None, channel_id)

    async def _change(self, guild_id: int, key: str, value: Any, channel_id: int | None) -> GuildSettings:
        """``value`` None: the override goes. Every channel's settings must still hold together afterwards."""
        if channel_id is not None and key in SERVER_ONLY:
            raise SettingError(f"{key} is a setting of the whole server; set it without a channel")
        async with self._lock:
            server = await self.store.settings(guild_id)
            channels = await self.store.channel_settings(guild_id)
            target = channels.setdefault(channel_id, {}) if channel_id is not None else server
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
            merged = self.base.with_values(server)
            merged.check()
            for channel, own in channels.items():
                try:
                    merged.with_values(own).check()
                except SettingError as error:
                    raise SettingError(f"in <#{channel}>, which has settings of its own, {error}") from None
            await self._store(guild_id, key, value, channel_id)
            return merged.with_values(channels.get(channel_id, {})) if channel_id is not None else merged

    async def _store(self, guild_id: int, key: str, value: Any, channel_id: int | None) -> None:
        if channel_id is None:
            if value is None:
                await self.store.delete_setting(guild_id, key)
            else:
                await self.store.put_setting(guild_id, key, value)  # JSON: tuples come back as lists
        elif value is None:
            await self.store.delete_channel_setting(channel_id, key)
        else:
            await self.store.put_channel_setting(guild_id, channel_id, key, value)
