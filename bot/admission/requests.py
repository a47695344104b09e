"""What may be queued: a member's /dream checked against the server's settings and limits.

Every refusal is a ``Refusal`` whose message is shown to the member as it is; nothing is queued.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.admission import advanced
from bot.admission.refusal import Refusal
from bot.admission.settings import GuildSettings
from bot.display.text import fold
from contract import deepdream
from contract.deepdream import DEFAULT_DREAM_STEPS
from contract.errors import EngineError
from contract.films import SCENE_SEPARATOR, check_scenes, parse_shift, scenes
from contract.limits import DEFAULT_STEPS_PER_FRAME, MAX_STEPS, new_seed
from contract.prompts import parse_prompts
from contract.protocol import RenderRequest
from contract.registry import generator_names, lookup
from contract.validation import check_film, check_seed, check_set, check_size, size_for

T = TypeVar("T")


@dataclass(frozen=True)
class DreamOptions:
    """What the member typed; ``None`` means "use the server's default"."""

    prompt: str
    seed: int | None = None
    steps: int | None = None
    size: str | None = None
    model: str | None = None
    zoom_frames: int = 0  # /zoom: frames of the journey
    steps_per_frame: int | None = None
    zoom: float | None = None
    rotate: float | None = None
    shift: str | None = None  # "X,Y" pixels per frame
    steps_per_scene: int | None = None  # /story: steps of each line (the prompt holds the lines, between ||)
    fade: float | None = None
    captions: bool = False
    count: int | None = None  # candidates painted at once, posted as one grid
    negative: str | None = None  # what the picture should not look like (an advanced option)
    options_text: str | None = None  # /dream's ``options``, parsed once the model is known
    image_prompt: bool = False  # a picture to steer towards is attached (an advanced option)
    advanced: dict[str, Any] = field(default_factory=dict)  # options already parsed (🔁 keeps a job's)
    perceptor: str | None = None  # None: the bot's default (🔁 keeps a job's)
    # the pictures, by the paths they have (or will have, once downloaded or copied) among the new job's files
    init_image: str | None = None
    image_prompts: tuple[str, ...] = ()
    init_weight: float | None = None  # None: the request's default
    init_noise: float | None = None
    styled: bool = True  # the server's style joins the prompt (False: a preset named in /dream stands in for it)
    morph_to: str | None = None  # a morph's second picture (its first is ``init_image``)

    @classmethod
    def again(cls, asked: RenderRequest) -> DreamOptions:
        """🔁: what the member asked for in ``asked`` (film, set, advanced options and how it used its pictures
        included), to be checked again under today's rules; the pictures' new paths are set with ``pictures``."""
        count = len(asked.scenes)
        return cls(
            asked.prompt, None, None if count > 1 else asked.steps, asked.size, asked.model,
            asked.zoom_frames, asked.steps_per_frame, asked.zoom, asked.rotate, f"{asked.shift[0]},{asked.shift[1]}",
            asked.steps // count if count > 1 else None, asked.story_fade, asked.captions, asked.count,
            advanced=advanced.given(asked), perceptor=asked.perceptor, init_weight=asked.init_weight,
            init_noise=asked.init_noise,
        )  # fmt: skip

    def pictures(self, init_image: str | None, image_prompts: tuple[str, ...] = ()) -> DreamOptions:
        """These options with the new job's own pictures."""
        return dataclasses.replace(self, init_image=init_image, image_prompts=image_prompts)


def banned_word(prompt: str, banned: tuple[str, ...]) -> str | None:
    """The first banned word or phrase ``prompt`` holds as whole words, compared after ``fold``."""
    text = fold(prompt)
    for word in banned:
        if re.search(rf"(?<!\w){re.escape(fold(word))}(?!\w)", text):
            return word
    return None


def styled(prompt: str, style: str) -> str:
    """The server's style joins as one more prompt, so it never changes a weight the member wrote."""
    return f"{prompt} | {style}" if style and style.lower() not in prompt.lower() else prompt


def _as_refusal(check: Callable[..., T], *args: Any) -> T:
    """``check(*args)``, its ``EngineError`` turned into a sentence for the member."""
    try:
        return check(*args)
    except EngineError as error:
        raise Refusal(f"{str(error)[:1].upper()}{str(error)[1:]}.") from None


def build_request(options: DreamOptions, settings: GuildSettings, perceptor: str, preview_every: int) -> RenderRequest:
    """The render request for ``options`` under ``settings``, or a ``Refusal`` naming the first problem: the one
    door of every picture a member asks for (/dream, /zoom, /story, 🔁, Vary, Restyle). ``perceptor``: the bot's
    default, when the options name none."""
    prompt = options.prompt.strip()
    if (options.advanced or options.options_text or options.negative or options.image_prompt) and not settings.advanced:
        raise Refusal("This server has turned /dream's advanced options (options, negative, image_prompt) off.")
    if options.negative:
        prompt = f"{prompt} | {options.negative.strip()}:-1"
    parts = _as_refusal(check_scenes, prompt)
    if len(parts) > settings.max_scenes:
        raise Refusal(f"This server allows stories of at most {settings.max_scenes} scenes, not {len(parts)}.")
    for part in parts:
        _as_refusal(parse_prompts, part)
    _allowed_words(prompt, settings)
    model = options.model or settings.model
    if model not in generator_names():
        raise Refusal(f"Unknown model {model!r}. Models: {', '.join(generator_names())}.")
    steps = _steps(options, settings, len(parts))
    try:
        width, height = size_for(model, options.size, settings.size)
        max_width, max_height = settings.max_sides
    except EngineError as error:
        raise Refusal(f"The size is not usable: {error}.") from None
    if width > max_width or height > max_height:
        raise Refusal(f"{width}x{height} is larger than this server allows ({settings.max_size}).")
    seed = options.seed if options.seed is not None else new_seed()
    _as_refusal(check_seed, seed)
    style = settings.style if options.styled else ""
    full_prompt = f" {SCENE_SEPARATOR} ".join(styled(part, style) for part in parts)
    _as_refusal(check_size, lookup(model), width, height)
    for part in scenes(full_prompt):
        _as_refusal(parse_prompts, part)
    request = RenderRequest(
        prompt=full_prompt, model=model, perceptor=options.perceptor or perceptor, width=width, height=height,
        steps=steps, seed=seed, preview_every=preview_every, **_pictures(options), **_film(options, settings),
    )  # fmt: skip
    _as_refusal(check_film, request)
    request = _set(request, options.count or 1, settings)
    if options.advanced or options.options_text:
        try:
            knobs = options.advanced | (advanced.parse(options.options_text, model) if options.options_text else {})
            request = advanced.apply(request, knobs, settings.perceptors)
        except advanced.OptionsError as error:
            raise Refusal(str(error)) from None
    if request.total_steps > MAX_STEPS:
        raise Refusal(
            f"The film would take {request.total_steps} steps in all; {MAX_STEPS} is the most. Use fewer frames or steps."
        )
    return request


@dataclass(frozen=True)
class DeepDreamOptions:
    """What a member asked /deepdream for; the picture comes separately, once it is downloaded."""

    prompt: str = ""
    steps: int | None = None
    layer: str | None = None
    seed: int | None = None


def build_dream_request(
    options: DeepDreamOptions, settings: GuildSettings, dreamer: str, perceptor: str, preview_every: int
) -> RenderRequest:
    """A DeepDream request for ``options`` under ``settings``, still without its picture (``with_picture``)."""
    prompt = options.prompt.strip()
    if prompt:
        _as_refusal(parse_prompts, prompt)
        _allowed_words(prompt, settings)
    steps = _within_max_steps(
        options.steps if options.steps is not None else min(DEFAULT_DREAM_STEPS, settings.max_steps), settings
    )
    seed = options.seed if options.seed is not None else new_seed()
    _as_refusal(check_seed, seed)
    layer = {"layer": options.layer} if options.layer else {}
    _as_refusal(deepdream.dream_options, layer)
    return RenderRequest(
        prompt, model=dreamer, perceptor=perceptor, width=0, height=0, steps=steps, seed=seed,
        preview_every=preview_every, options=layer,
    )  # fmt: skip


def with_picture(request: RenderRequest, settings: GuildSettings, path: str, size: tuple[int, int]) -> RenderRequest:
    """The dream (or description) of the picture at ``path``, its size scaled down to fit the server's largest."""
    width, height = deepdream.fitted(*size, *settings.max_sides)
    return dataclasses.replace(request, init_image=path, width=width, height=height)


def _set(request: RenderRequest, count: int, settings: GuildSettings) -> RenderRequest:
    """The request painted as ``count`` candidates, within the server's ``max_count``."""
    if not 1 <= count <= settings.max_count:
        raise Refusal(f"This server paints 1 to {settings.max_count} pictures at once, not {count}.")
    if count > 1 and request.is_film:
        raise Refusal("A zoom or a story is one film; it is not painted as several candidates.")
    changed = dataclasses.replace(request, count=count)
    _as_refusal(check_set, changed)
    return changed


def _steps(options: DreamOptions, settings: GuildSettings, scene_count: int) -> int:
    """A picture's (or a zoom's first frame's) steps; a story's are its lines' steps together."""
    if options.steps_per_scene is not None or (scene_count > 1 and options.steps is None):
        per_scene = options.steps_per_scene or max(1, settings.steps // 2)
        if not 1 <= per_scene <= settings.max_steps:
            raise Refusal(f"Steps per line must be between 1 and {settings.max_steps} on this server, not {per_scene}.")
        return per_scene * scene_count
    return _within_max_steps(options.steps if options.steps is not None else settings.steps, settings)


def _within_max_steps(steps: int, settings: GuildSettings) -> int:
    if not 1 <= steps <= settings.max_steps:
        raise Refusal(f"Steps must be between 1 and {settings.max_steps} on this server, not {steps}.")
    return steps


def _allowed_words(prompt: str, settings: GuildSettings) -> None:
    if word := banned_word(prompt, settings.banned_words):
        raise Refusal(f"The prompt contains a word this server does not allow ({word!r}).")


def _pictures(options: DreamOptions) -> dict[str, Any]:
    """The fields of a request that says how it uses its pictures; left out where the options leave them."""
    fields: dict[str, Any] = {"init_image": options.init_image, "image_prompts": options.image_prompts}
    if options.morph_to is not None:
        fields["morph_to"] = options.morph_to
    if options.init_weight is not None:
        fields["init_weight"] = options.init_weight
    if options.init_noise is not None:
        fields["init_noise"] = options.init_noise
    return fields


def build_upscale_request(candidate: RenderRequest, upscaler: str, init_image: str) -> RenderRequest:
    """U1–U4 and Upscale: ``candidate``'s picture, at ``init_image``, enlarged by ``upscaler`` (one step)."""
    return RenderRequest(
        candidate.prompt, model=upscaler, width=candidate.width, height=candidate.height, steps=1, seed=candidate.seed,
        preview_every=1, init_image=init_image,
    )  # fmt: skip


def _film(options: DreamOptions, settings: GuildSettings) -> dict[str, Any]:
    """The film fields of a request: a zoom's frames and motion, a story's fade and captions."""
    fields: dict[str, Any] = {"captions": options.captions}
    if options.fade is not None:
        fields["story_fade"] = options.fade
    if options.zoom_frames:
        if not 1 <= options.zoom_frames <= settings.max_frames:
            raise Refusal(f"A zoom may have 1 to {settings.max_frames} frames on this server, not {options.zoom_frames}.")
        per_frame = options.steps_per_frame if options.steps_per_frame is not None else DEFAULT_STEPS_PER_FRAME
        if not 1 <= per_frame <= settings.max_steps:
            raise Refusal(f"Steps per frame must be between 1 and {settings.max_steps} on this server, not {per_frame}.")
        fields |= {"zoom_frames": options.zoom_frames, "steps_per_frame": per_frame}
        if options.zoom is not None:
            fields["zoom"] = options.zoom
        if options.rotate is not None:
            fields["rotate"] = options.rotate
        if options.shift is not None:
            fields["shift"] = _as_refusal(parse_shift, options.shift)
    return fields


@dataclass(frozen=True)
class Standing:
    """What the queue says about a member's new request, read once before admission judges it."""

    channel_id: int
    queued: int  # the server's waiting jobs
    max_queued: int  # [queue] max_per_server
    active: int  # the member's waiting and running jobs
    last_created: float | None  # when the member's last job was made
    now: float


def check_standing(settings: GuildSettings, standing: Standing) -> None:
    """The server's channel list and queue cap, the member's cap on waiting jobs and their cooldown."""
    check_channel(settings, standing.channel_id)
    check_room(standing.queued, standing.max_queued)
    check_quota(settings, standing.active, standing.last_created, standing.now)


def check_room(queued: int, max_queued: int) -> None:
    """The server's cap on waiting jobs."""
    if queued >= max_queued:
        raise Refusal(f"The queue of this server is full ({max_queued} jobs wait); try again when some have run.")


def check_channel(settings: GuildSettings, channel_id: int) -> None:
    if settings.channels and channel_id not in settings.channels:
        allowed = ", ".join(f"<#{c}>" for c in settings.channels)
        raise Refusal(f"Dreams are not painted in this channel. Try {allowed}.")


def check_quota(settings: GuildSettings, active: int, last_created: float | None, now: float) -> None:
    """The per-member cap on waiting jobs, and the cooldown between dreams."""
    if active >= settings.jobs_per_user:
        raise Refusal(
            f"You already have {active} job(s) waiting or running; this server allows {settings.jobs_per_user}. "
            "Wait for one to finish or /cancel one."
        )
    if settings.cooldown and last_created is not None and (left := last_created + settings.cooldown - now) > 0:
        raise Refusal(f"Slow down: you can dream again in {math.ceil(left)}s (this server's cooldown is {settings.cooldown}s).")
