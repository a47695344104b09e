"""What the job messages say: queued, painting (progress bar, step, ETA), done, failed, cancelled.

Pure functions from jobs and events to embeds, so the look is tested without Discord.
"""

from __future__ import annotations

import discord

from bot.display.emoji import AGAIN, ANIMATION, CANCEL, DELETE
from bot.queue.jobs import Job
from contract import deepdream
from contract.describe import Description
from contract.limits import UPSCALE
from contract.protocol import Progress, RenderRequest

BAR_WIDTH = 20
PROMPT_CHARS = 1000
COLOURS = {"queued": 0x99AAB5, "running": 0x5865F2, "done": 0x57F287, "failed": 0xED4245, "cancelled": 0x4F545C}
FOOTER = f"{AGAIN} another seed · {ANIMATION} the animation · {CANCEL} cancel · {DELETE} delete (owner or moderator)"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def progress_bar(done: int, total: int) -> str:
    fraction = 0.0 if total <= 0 else min(1.0, done / total)
    filled = round(fraction * BAR_WIDTH)
    return f"`{'█' * filled}{'░' * (BAR_WIDTH - filled)}` {fraction:.0%}"


def _prompt(job: Job) -> str:
    if job.request.is_deepdream and not job.request.prompt.strip():
        return "DeepDream on a picture"
    if job.request.describe:
        return "A picture, described in words"
    text = discord.utils.escape_markdown(job.request.prompt)
    return text if len(text) <= PROMPT_CHARS else text[: PROMPT_CHARS - 1] + "…"


def _base(job: Job, title: str, state: str) -> discord.Embed:
    embed = discord.Embed(title=title, description=_prompt(job), colour=COLOURS[state])
    embed.set_footer(text=f"job {job.id} · by {job.user_name} · {FOOTER}")
    return embed


def queued(job: Job, position: int) -> discord.Embed:
    where = "next in line" if position <= 1 else f"position {position} in the queue"
    return _base(job, f"⏳ Queued · {where}", "queued")


def _painting_title(job: Job) -> str:
    return "🎨 Painting (second try)" if job.attempts > 1 else "🎨 Painting"


def starting(job: Job) -> discord.Embed:
    embed = _base(job, _painting_title(job), "running")
    embed.add_field(name="Progress", value=progress_bar(0, job.request.total_steps), inline=False)
    return embed


def painting(job: Job, event: Progress, image: str | None) -> discord.Embed:
    embed = _base(job, _painting_title(job), "running")
    embed.add_field(name="Progress", value=progress_bar(event.step, event.total_steps), inline=False)
    embed.add_field(name="Step", value=f"{event.step}/{event.total_steps}")
    embed.add_field(name="ETA", value=duration(event.eta))
    embed.add_field(name="Loss", value=f"{event.loss:.4f}")
    if image:
        embed.set_image(url=f"attachment://{image}")
    return embed


def done(job: Job, image: str, note: str | None = None, parent: str | None = None) -> discord.Embed:
    """The result; ``parent`` links the job it was made from (a variation, restyle or upscale)."""
    request = job.request
    if request.is_upscale:
        embed = _base(job, "✨ Upscaled", "done")
        fields = [("Model", request.model), ("Size", f"{request.width * UPSCALE}x{request.height * UPSCALE}")]
    elif request.is_deepdream:
        embed = _base(job, "✨ Dreamt", "done")
        layer = request.options.get("layer") or deepdream.OPTIONS[0].default
        fields = [("Seed", str(request.seed)), ("Model", request.model), ("Layer", str(layer)), ("Steps", str(request.steps))]
        fields += [("Size", request.size), *([("Perceptor", request.perceptor)] if request.prompt.strip() else [])]
    else:
        embed = _base(job, "✨ Done", "done")
        fields = [
            ("Seeds" if request.count > 1 else "Seed", seeds(request)),
            ("Model", request.model),
            ("Steps", str(request.total_steps)),
            ("Size", request.size),
            ("Perceptor", request.perceptor),
        ]
    for name, value in [*fields, ("Time", duration(job.seconds or 0.0))]:
        embed.add_field(name=name, value=value)
    if job.parent:
        embed.add_field(name="From", value=f"[job {job.parent}]({parent})" if parent else f"job {job.parent}")
    if film := film_summary(request):
        embed.add_field(name="Film", value=film)
    if note:
        embed.add_field(name="Note", value=note, inline=False)
    embed.set_image(url=f"attachment://{image}")
    return embed


def described(job: Job, image: str, description: Description, note: str | None = None) -> discord.Embed:
    """A /describe's result: the candidate prompts, numbered as their Dream buttons, and each vocabulary's closest
    phrases with the perceptor's cosine similarity."""
    prompts = "\n".join(f"**{n}.** {discord.utils.escape_markdown(p)}" for n, p in enumerate(description.prompts, 1))
    embed = discord.Embed(title="🔎 Described", description=prompts[:4000], colour=COLOURS["done"])
    embed.set_footer(text=f"job {job.id} · by {job.user_name} · Dream 1-{len(description.prompts)} paints a prompt")
    for name, phrases in description.ranked.items():
        value = " · ".join(f"{discord.utils.escape_markdown(p.text)} {p.score:.3f}" for p in phrases)
        embed.add_field(name=name.capitalize(), value=value[:1024] or "none", inline=False)
    embed.add_field(name="Perceptor", value=job.request.perceptor)
    embed.add_field(name="Time", value=duration(job.seconds or 0.0))
    if note:
        embed.add_field(name="Note", value=note, inline=False)
    embed.set_image(url=f"attachment://{image}")
    return embed


def seeds(request: RenderRequest) -> str:
    """A picture's seed; a set's seeds, in the order of its buttons."""
    if request.count == 1:
        return str(request.seed)
    return ", ".join(f"V{number} {candidate.seed}" for number, candidate in enumerate(request.candidates, 1))


def film_summary(request: RenderRequest) -> str:
    """What kind of film a request makes ("" for a still picture)."""
    if request.morph_to is not None:
        return f"morph, {request.zoom_frames} frames"
    parts = []
    if request.zoom_frames:
        parts.append(f"zoom, {request.zoom_frames} frames of ×{request.zoom:g}")
    if len(request.scenes) > 1:
        parts.append(f"story, {len(request.scenes)} scenes")
    return "; ".join(parts)


def failed(job: Job, reason: str, hint: str) -> discord.Embed:
    embed = _base(job, "⚠️ Failed", "failed")
    embed.add_field(name="Why", value=reason[:1024] or "unknown", inline=False)
    if hint:
        embed.add_field(name="Try", value=hint[:1024], inline=False)
    return embed


def cancelled(job: Job) -> discord.Embed:
    return _base(job, "🚫 Cancelled", "cancelled")
