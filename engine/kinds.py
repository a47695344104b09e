"""How the engine runs each job kind (``contract/kinds.py``): one plain function per kind, all with one
signature, looked up by the kind's name. Each says when the job starts and returns its final event."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from contract.protocol import Event, Finished, RenderRequest, Started

if TYPE_CHECKING:
    from engine.pipeline import Engine, RenderResult

Send = Callable[[Event], None]
ShouldStop = Callable[[], bool]
Run = Callable[["Engine", str, RenderRequest, Send, ShouldStop, bool], Finished]


def finished(job_id: str, result: RenderResult) -> Finished:
    """The final event of one rendered picture: the PNG, its losses, and its MP4 or SVG when it has one."""
    svg = result.svg.encode() if result.svg is not None else None
    return Finished(job_id, result.png, result.seconds, tuple(result.losses), result.video, svg=svg)


def picture(engine: Engine, job_id: str, request: RenderRequest, send: Send, should_stop: ShouldStop, video: bool) -> Finished:
    """One picture, or a film (a zoom, a story, a morph), painted by the CLIP-steered loop."""
    engine.load(request)
    send(Started(job_id, request.total_steps))
    return finished(job_id, engine.render(request, on_progress=send, should_stop=should_stop, video=video, job_id=job_id))


def candidates(engine: Engine, job_id: str, request: RenderRequest, send: Send, should_stop: ShouldStop, video: bool) -> Finished:
    """A set: its candidates painted as one batch, posted as one grid."""
    from engine.sets import render_set

    engine.load(request)
    send(Started(job_id, request.total_steps))
    done = render_set(engine, request, send, should_stop, job_id)
    return Finished(job_id, done.png, done.seconds, tuple(done.losses), candidates=tuple(done.candidates))


def dream(engine: Engine, job_id: str, request: RenderRequest, send: Send, should_stop: ShouldStop, video: bool) -> Finished:
    """DeepDream on the member's picture."""
    from engine.deepdream import deepdream

    send(Started(job_id, request.steps))
    result = deepdream(engine, request, send, should_stop, job_id)
    return Finished(job_id, result.png, result.seconds, tuple(result.losses))


def upscale(engine: Engine, job_id: str, request: RenderRequest, send: Send, should_stop: ShouldStop, video: bool) -> Finished:
    """A picture 4x larger, in one step."""
    from engine.upscale import upscale_request

    send(Started(job_id, 1))
    png, seconds = upscale_request(engine, request)
    return Finished(job_id, png, seconds)


def describe(engine: Engine, job_id: str, request: RenderRequest, send: Send, should_stop: ShouldStop, video: bool) -> Finished:
    """The words the perceptor finds closest to the member's picture, and prompts that paint it."""
    from engine.describe import describe_request

    send(Started(job_id, 1))
    png, described, seconds = describe_request(engine.describer, request)
    return Finished(job_id, png, seconds, description=described.to_dict())


RUNS: dict[str, Run] = {
    "picture": picture, "set": candidates, "film": picture, "morph": picture, "deepdream": dream, "upscale": upscale,
    "describe": describe,
}  # fmt: skip
