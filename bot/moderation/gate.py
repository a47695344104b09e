"""What may be shown where: every preview, result and film passes the picture check before it is posted.

Discord's rules keep sexual content in age-restricted channels, so there (a thread follows its channel) a
picture is posted as it is. Elsewhere a flagged result is handled as the channel's ``flagged`` setting says:
behind a spoiler, sent to its member privately, or withheld; previews of a job flagged once stay hidden to its
end, and whatever is made from a flagged result (🔁, Vary, Upscale, its film) starts flagged. A member cannot
un-flag: the flag is kept in the database with the job.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageFilter

from bot.config import ConfigError, ModerationConfig
from bot.moderation.entries import Kind
from bot.moderation.handling import Handling
from bot.moderation.pictures import SAFETY_EXTRA, Checker, Finding, NudeNet, Verdict, concept_verdict
from contract.concepts import checked_scores

if TYPE_CHECKING:
    from bot.admission.settings import SettingsStore
    from bot.moderation.audit import AuditLog
    from bot.queue.jobs import Job
    from bot.queue.store import Store

log = logging.getLogger(__name__)

BLURRED_NAME = "flagged.jpg"
INHERITED = "made from a flagged picture"  # the flag a job made from a flagged result starts with
HANDLED = {
    Handling.SPOILER: "posted behind a spoiler",
    Handling.PRIVATE: "sent to its painter privately",
    Handling.WITHHOLD: "withheld: Release shows it in its channel",
}


class PictureGate:
    """Decides, job by job, what the reporter may post: the check's verdict, the channel and its setting."""

    def __init__(
        self, checker: Checker, store: Store, settings: SettingsStore, age_restricted: Callable[[int], bool],
        audit: AuditLog | None = None,
    ) -> None:  # fmt: skip
        self.checker = checker
        self.audit = audit  # told of every flagged result, with its picture
        self.store = store
        self.settings = settings
        self.age_restricted = age_restricted  # a channel id (a thread's parent) -> its nsfw flag
        self._hidden: set[str] = set()  # running jobs flagged once: their previews stay hidden

    def _age_restricted(self, job: Job) -> bool:
        """Whether ``job``'s channel (a thread's parent) carries Discord's age-restricted flag."""
        return self.age_restricted(self.settings.home(job.channel_id))

    async def _open(self, job: Job) -> bool:
        """Whether ``job``'s pictures are posted unchecked: no check here, or an age-restricted channel."""
        return self._age_restricted(job) or not (self.checker or await self.concepts(job))

    async def concepts(self, job: Job) -> tuple[str, ...]:
        """What the engine scores ``job``'s pictures against (``contract/concepts.py``): its channel's
        ``clip_concepts``, none in an age-restricted channel."""
        if self._age_restricted(job):
            return ()
        return (await self.settings.get(job.guild_id, job.channel_id)).clip_concepts

    async def _judged(self, job: Job, scores: object) -> Verdict:
        """The CLIP check's verdict on the engine's ``scores`` for ``job``'s concepts. Scores that are missing or
        malformed (an engine or worker that did not score, or lied) count as flagged: what was not seen is not shown."""
        settings = await self.settings.get(job.guild_id, job.channel_id)
        if self._age_restricted(job) or not settings.clip_concepts:
            return Verdict()
        try:
            good = checked_scores(scores if scores is not None else {}, settings.clip_concepts)
        except ValueError as error:
            log.warning("job %s: the concept scores cannot be used (%s); the picture counts as flagged", job.id, error)
            return Verdict(True, (Finding("UNCHECKED", 1.0),))
        return concept_verdict(good, settings.clip_threshold)

    async def preview(self, job: Job, data: bytes, scores: object = None) -> bool:
        """Whether this preview may be shown; a flagged one hides the job's previews until its end."""
        if await self._open(job):
            return True
        if job.id in self._hidden or job.flagged:
            return False
        verdict = Verdict.join([await self.checker.picture(data), await self._judged(job, scores)])
        if verdict.flagged:
            self._hidden.add(job.id)
            await self.store.flag(job.id, f"a preview: {verdict}")
            log.info("job %s: a preview was flagged (%s); its previews are hidden", job.id, verdict)
        return not verdict.flagged

    async def result(
        self, job: Job, png: bytes, candidates: Sequence[bytes] = (), film: bytes | None = None, scores: object = None
    ) -> str | None:
        """Why a result is flagged here (the check's labels and scores, or the flag it started with), or None:
        posted as it is. Every candidate of a set is checked, and a sample of its film's frames, and the engine's
        concept ``scores`` judged; the audit log gets the picture."""
        hidden = job.id in self._hidden
        self._hidden.discard(job.id)
        if await self._open(job):
            return None
        verdict = Verdict.join([await self.checker.pictures(candidates or [png]), await self._judged(job, scores)])
        if film is not None:
            verdict = Verdict.join([verdict, await self.checker.film(film)])
        if not (verdict.flagged or hidden or job.flagged):
            return None
        reason = str(verdict) if verdict.flagged else job.flagged or "a preview was flagged"
        await self.store.flag(job.id, reason)
        log.info("job %s: the result was flagged (%s)", job.id, reason)
        if self.audit is not None:
            handling = await self.handling(job)
            text = f"job `{job.id}` flagged ({reason}): {HANDLED[handling]}"
            await self.audit.record(job.guild_id, Kind.FLAGGED, job.user_id, text, job.channel_id, job.id, png,
                                    release=handling is Handling.WITHHOLD)  # fmt: skip
        return reason

    def hidden(self, job: Job) -> bool:
        """Whether ``job``'s previews are hidden (one was flagged)."""
        return job.id in self._hidden

    async def handling(self, job: Job) -> Handling:
        return Handling((await self.settings.get(job.guild_id, job.channel_id)).flagged)

    def shown_as_is(self, job: Job) -> bool:
        """Whether a stored picture of ``job`` (its film, for one) may be posted without a spoiler here."""
        return not job.flagged or self._age_restricted(job)


def picture_checker(config: ModerationConfig) -> Checker:
    """The checks ``[moderation]`` asks for. "auto" without NudeNet posts unchecked and says so once; "nudenet"
    without it is a mistake said at start (``ConfigError``)."""
    if config.picture_check == "off":
        return Checker([])
    if NudeNet.available():
        return Checker([NudeNet(config.threshold)])
    if config.picture_check == "nudenet":
        raise ConfigError(f"[moderation] picture_check is nudenet, but NudeNet is not installed: {SAFETY_EXTRA}")
    log.warning(
        "pictures are posted unchecked: the picture check needs NudeNet (%s); "
        '[moderation] picture_check = "off" says that this is meant',
        SAFETY_EXTRA,
    )
    return Checker([])


def blurred(data: bytes, side: int = 256) -> bytes:
    """A picture too blurred to show what it is, for the embed of a flagged result (JPEG, small)."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").resize((16, 16), Image.Resampling.BOX)
    picture = small.resize((side, side), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(side / 16))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()
