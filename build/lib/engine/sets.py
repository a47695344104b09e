"""A set of candidates (``count`` above 1): one batch on one network, posted as one grid.

Each candidate is the request alone with its own seed (``RenderRequest.candidates``), so V2 or U3
acts on exactly what a single render of that seed paints. Progress comes as one stream: a step is
reported once every candidate has made it, with a grid of their latest previews.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from contract import parameters
from contract.errors import JobCancelled
from contract.protocol import Progress, RenderRequest
from contract.validation import validate
from engine import output
from engine.pipeline import Engine, RenderTask, package_version

GAP = 4  # pixels between the candidates of a grid


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows): two columns from three candidates on, read left to right, top to bottom."""
    columns = 2 if count >= 3 else count
    return columns, math.ceil(count / columns)


def grid(images: Sequence[Image.Image]) -> Image.Image:
    """The candidates side by side, numbered in reading order (V1 is the top left one)."""
    width, height = images[0].size
    columns, rows = grid_shape(len(images))
    sheet = Image.new("RGB", (columns * width + (columns - 1) * GAP, rows * height + (rows - 1) * GAP))
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        sheet.paste(image, (column * (width + GAP), row * (height + GAP)))
    return sheet


def cell(sheet: Image.Image, index: int, count: int) -> Image.Image:
    """Candidate ``index`` cut out of a grid of ``count``."""
    columns, rows = grid_shape(count)
    width = (sheet.width - (columns - 1) * GAP) // columns
    height = (sheet.height - (rows - 1) * GAP) // rows
    row, column = divmod(index, columns)
    left, top = column * (width + GAP), row * (height + GAP)
    return sheet.crop((left, top, left + width, top + height))


@dataclass
class SetResult:
    """The grid (its PNG carries the set's ``parameters``) and each candidate's own PNG."""

    request: RenderRequest
    image: Image.Image
    png: bytes
    candidates: list[bytes]
    losses: list[float]  # each step's mean over the candidates
    seconds: float


class SetProgress:
    """Merges the candidates' progress into one stream: a step is reported when the last candidate
    makes it, with a grid of everyone's latest preview when one of them brought a new one."""

    def __init__(self, job_id: str, count: int, report: Callable[[Progress], None], start: float) -> None:
        self.job_id, self.count, self.report, self.start = job_id, count, report, start
        self.previews: list[Image.Image | None] = [None] * count
        self.losses: list[float] = [0.0] * count
        self.fresh = False

    def for_candidate(self, index: int) -> Callable[[Progress], None]:
        def on_progress(event: Progress) -> None:
            self.losses[index] = event.loss
            if event.preview is not None:
                self.previews[index] = Image.open(io.BytesIO(event.preview)).convert("RGB")
                self.fresh = True
            if index == self.count - 1:
                self._step(event)

        return on_progress

    def _step(self, event: Progress) -> None:
        preview = None
        if self.fresh and all(p is not None for p in self.previews):
            preview = output.preview_bytes(output.small(grid(self.previews)))  # type: ignore[arg-type]
            self.fresh = False
        loss = sum(self.losses) / self.count
        self.report(Progress(self.job_id, event.step, event.total_steps, loss, time.perf_counter() - self.start, preview))


def render_set(
    engine: Engine,
    request: RenderRequest,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    job_id: str = "",
) -> SetResult:
    """Paint every candidate of ``request`` in one batch; raises what ``Engine.render_batch`` raises."""
    resolved = validate(request)
    start = time.perf_counter()
    merged = SetProgress(job_id, request.count, on_progress, start) if on_progress is not None else None
    tasks = [
        RenderTask(candidate, merged.for_candidate(index) if merged else None, should_stop, job_id=job_id)
        for index, candidate in enumerate(request.candidates)
    ]
    outcomes = engine.render_batch(tasks)
    for outcome in outcomes:
        if isinstance(outcome, JobCancelled):
            raise outcome
    sheet = grid([outcome.image for outcome in outcomes])
    seconds = time.perf_counter() - start
    png = output.png_bytes(sheet, parameters.write(resolved, seconds, package_version()))
    losses = [sum(step) / len(step) for step in zip(*(outcome.losses for outcome in outcomes), strict=True)]
    return SetResult(request, sheet, png, [outcome.png for outcome in outcomes], losses, seconds)
