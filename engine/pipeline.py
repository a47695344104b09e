"""Wires a request to a generator, a perceptor and the loop, and returns the finished picture."""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from contract import parameters
from contract.errors import JobCancelled, OutOfMemory
from contract.families import load_attribute
from contract.films import plan
from contract.prompts import parse_item, parse_noise_prompt, parse_prompts
from contract.protocol import Progress, RenderRequest, batch_key
from contract.validation import ResolvedRequest, open_image, validate
from engine import output
from engine.cutouts import MakeCutouts
from engine.film import SceneBlend, scene_spans, transform
from engine.generators.base import Generator
from engine.images import image_tensor, resize_image
from engine.loop import Optimization, Target, make_optimizer, optimize
from engine.models import Models
from engine.morph import between, blended, fit
from engine.perceptor import AnyPerceptor, unit_parts
from engine.video import FilmWriter

log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return version("dreambot")
    except PackageNotFoundError:
        return "dev"


@dataclass
class RenderResult:
    request: RenderRequest
    image: Image.Image
    png: bytes
    losses: list[float]
    seconds: float
    frames: list[Image.Image] = field(default_factory=list)
    video: bytes | None = None  # the run as an MP4, when asked for
    video_frames: int = 0
    svg: str | None = None  # the picture as vector strokes (clipdraw)

    def animation(self) -> bytes | None:
        return output.gif_bytes(self.frames) if len(self.frames) > 1 else None


@dataclass
class RenderTask:
    """A request and how its progress is reported and its cancel asked."""

    request: RenderRequest
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    keep_frames: bool = False
    job_id: str = ""
    reel: output.Reel = field(default_factory=output.Reel)
    video: bool = False
    film: FilmWriter | None = None  # while it renders, when ``video``

    def key_frame(self, frame: Image.Image, caption: str = "") -> None:
        """A picture for the GIF reel (when frames are kept) and the MP4 (when a video is asked for)."""
        if self.keep_frames:
            self.reel.add(frame)
        if self.film is not None:
            self.film.add(frame, caption)


class Engine(Models):
    """Renders requests, one after another or in batches, with the models it loads once (``Models``)."""

    def render(
        self,
        request: RenderRequest,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        keep_frames: bool = False,
        job_id: str = "",
        video: bool = False,
    ) -> RenderResult:
        """Render ``request``; raises ``BadRequest``, ``WeightsError``, ``OutOfMemory`` or ``JobCancelled``."""
        task = RenderTask(request, on_progress, should_stop, keep_frames, job_id, video=video or request.is_film)
        outcome = self.render_batch([task])[0]
        if isinstance(outcome, JobCancelled):
            raise outcome
        return outcome

    def render_batch(self, tasks: list[RenderTask]) -> list[RenderResult | JobCancelled]:
        """Render tasks that share a ``batch_key`` as one batch: one decode and one CLIP pass per step.

        Each task gets what it would get alone (its own seed, cutouts and optimizer), to float
        tolerance. Returns each task's result, or ``JobCancelled`` for one stopped on the way; raises
        ``BadRequest`` before any work if one request is invalid.
        """
        resolved = [validate(task.request) for task in tasks]
        if len({batch_key(task.request) for task in tasks}) != 1:
            raise ValueError("a batch needs one model, perceptor and size")
        if len(tasks) > 1 and any(task.request.is_film for task in tasks):
            raise ValueError("a film (a zoom or a story) renders on its own, not in a batch")
        try:
            try:
                return self._render(tasks, resolved)
            except torch.OutOfMemoryError:
                if all(self.speed.checkpoint_for(t.request.width, t.request.height) for t in tasks):
                    raise  # it recomputed activations already: nothing is left to save
                log.warning("out of memory on %s; trying once more with the generator's activations recomputed", self.device)
                free_memory()
                return self._render(tasks, resolved, recompute=True)
        except torch.OutOfMemoryError as error:
            free_memory()
            request = tasks[0].request
            pictures = request.size if len(tasks) == 1 else f"{len(tasks)} pictures of {request.size}"
            raise OutOfMemory(
                f"the {self.device} device ran out of memory rendering {pictures} with {request.cutn} cutouts; "
                "try a smaller size or fewer cutouts"
            ) from error

    def _render(
        self, tasks: list[RenderTask], resolved: list[ResolvedRequest], recompute: bool = False
    ) -> list[RenderResult | JobCancelled]:
        """``recompute``: checkpoint every generator (activations recomputed in the backward pass), whatever its size:
        the retry of a batch that ran out of memory."""
        start = time.perf_counter()
        first = tasks[0].request
        net = self.network(first.model)  # before any seeding: building a network draws random numbers
        perceptor = self.perceptor(first.perceptor)
        with tempfile.TemporaryDirectory(prefix="dreambot-film-") as folder:
            try:
                for i, task in enumerate(tasks):
                    if task.video:
                        task.film = FilmWriter(Path(folder) / f"{i}.mp4", key_frames(task.request))
                if first.morph_to is not None:
                    return [self._morph(tasks[0], resolved[0], net, perceptor, start, recompute)]
                if first.is_film:
                    return [self._film(tasks[0], resolved[0], net, perceptor, start, recompute)]
                own_rng = len(tasks) > 1
                runs = [
                    self._optimization(t, r, net, perceptor, start, own_rng, recompute)
                    for t, r in zip(tasks, resolved, strict=True)
                ]
                optimize(runs, perceptor, self.speed)
                return [
                    self._outcome(task, r, run.generator, run.losses, run.stopped_at, start, run.shown)
                    for task, r, run in zip(tasks, resolved, runs, strict=True)
                ]
            finally:
                for task in tasks:
                    if task.film is not None:
                        task.film.discard()
                        task.film = None

    def _outcome(
        self,
        task: RenderTask,
        resolved: ResolvedRequest,
        generator: Generator,
        losses: list[float],
        stopped_at: int | None,
        start: float,
        shown: Callable[[torch.Tensor], torch.Tensor] = lambda image: image,
    ) -> RenderResult | JobCancelled:
        """The finished picture (and film), or ``JobCancelled`` for a run stopped on the way; ``shown``: the picture
        as it is saved (a kept region pasted back)."""
        if stopped_at is not None:
            return JobCancelled(f"cancelled after {stopped_at} of {task.request.total_steps} steps", stopped_at)
        image = output.to_pil(shown(generator.image()))
        video = task.film.close() if task.film is not None else None
        frames = task.film.frames if task.film is not None else 0
        seconds = time.perf_counter() - start
        png = output.png_bytes(image, parameters.write(resolved, seconds, package_version()))
        return RenderResult(task.request, image, png, losses, seconds, task.reel.frames, video, frames, generator.vector())

    def _film(
        self, task: RenderTask, resolved: ResolvedRequest, net: nn.Module | None, perceptor: AnyPerceptor, start: float,
        recompute: bool = False,
    ) -> RenderResult | JobCancelled:  # fmt: skip
        """A story or a zoom: its segments one after another on one painter (see ``contract.films``)."""
        request = task.request
        torch.manual_seed(request.seed)
        generator, make_cutouts, init = self._painter(request, resolved, net, perceptor, recompute)
        texts = [text_targets(scene, perceptor) for scene in request.scenes]
        extra = self._extra_targets(request, perceptor, make_cutouts, texts[0][0].embeds.shape[1])
        scene_targets = [text + extra for text in texts]
        segments = plan(request.steps, len(scene_targets), request.zoom_frames, request.steps_per_frame)
        spans = scene_spans(segments)
        losses: list[float] = []
        for segment in segments:
            if segment.transform:
                generator.init_from_image(transform(generator.image(), request.zoom, request.rotate, request.shift))
            previous = (
                scene_targets[segment.scene - 1]
                if segment.scene and spans[segment.scene].first_step == segment.first_step
                else []
            )
            blend = SceneBlend(previous, scene_targets[segment.scene], spans[segment.scene], request.story_fade)
            caption = request.scenes[segment.scene] if request.captions else ""
            run = Optimization(
                generator,
                blend.at(segment.first_step + 1),
                make_optimizer(request.optimizer, generator.parameters(), resolved.lr),
                make_cutouts,
                segment.steps,
                report_every=request.preview_every,
                init_image=init if segment.first_step == 0 else None,
                init_weight=request.init_weight,
                on_step=self._reporter(task, generator, start, segment.first_step, caption, blend, request.zoom_frames == 0),
                should_stop=task.should_stop,
            )
            optimize([run], perceptor, self.speed)
            losses += run.losses
            if run.stopped_at is not None:
                return self._outcome(task, resolved, generator, losses, segment.first_step + run.stopped_at, start)
            end = segment.first_step + segment.steps
            if request.zoom_frames or (end % request.preview_every and end != request.total_steps):
                # a zoom's frame; a scene that ended between two previews: every scene is in the film, however short
                task.key_frame(output.small(output.to_pil(generator.image())), caption)
        return self._outcome(task, resolved, generator, losses, None, start)

    def _morph(
        self, task: RenderTask, resolved: ResolvedRequest, net: nn.Module | None, perceptor: AnyPerceptor, start: float,
        recompute: bool = False,
    ) -> RenderResult | JobCancelled:  # fmt: skip
        """A morph: the painter fitted to both pictures, then a frame at each share of the path between the fits,
        the frames between the ends painted a little towards both prompts by their share (``contract.films``)."""
        request = task.request
        assert request.morph_to is not None
        torch.manual_seed(request.seed)
        generator, make_cutouts = self._generator(request, resolved, net, perceptor, recompute)
        ends = [self._picture(path, request) for path in (request.init_image or "", request.morph_to)]
        fits, done = [], 0
        for picture in ends:
            report = self._reporter(task, generator, start, done, key_frames=False)
            fits.append(fit(generator, picture, request.steps, report))
            done += request.steps
            if task.should_stop is not None and task.should_stop():
                return self._outcome(task, resolved, generator, [], done, start)
        first, second = (text_targets(scene, perceptor) for scene in request.scenes)
        losses: list[float] = []
        for frame in range(request.zoom_frames):
            share = frame / (request.zoom_frames - 1)
            generator.set_parameters(between(*fits, share))
            if 0 < frame < request.zoom_frames - 1:
                run = Optimization(
                    generator, blended(first, second, share),
                    make_optimizer(request.optimizer, generator.parameters(), resolved.lr), make_cutouts,
                    request.steps_per_frame, report_every=request.preview_every, init_image=generator.image().detach(),
                    init_weight=request.init_weight, should_stop=task.should_stop,
                    on_step=self._reporter(task, generator, start, done, key_frames=False),
                )  # fmt: skip
                optimize([run], perceptor, self.speed)
                losses += run.losses
                if run.stopped_at is not None:
                    return self._outcome(task, resolved, generator, losses, done + run.stopped_at, start)
                done += request.steps_per_frame
            task.key_frame(output.small(output.to_pil(generator.image())))
        return self._outcome(task, resolved, generator, losses, None, start)

    def _generator(
        self, request: RenderRequest, resolved: ResolvedRequest, net: nn.Module | None, perceptor: AnyPerceptor,
        recompute: bool,
    ) -> tuple[Generator, MakeCutouts]:  # fmt: skip
        """The request's painter at its start and its cutouts (``recompute``: its activations recomputed)."""
        make_cutouts = MakeCutouts(perceptor.input_size, request.cutn, request.cut_pow, batched=self.speed.batched_cutouts)
        generator = load_attribute(resolved.family.painter)(net, request.width, request.height, self.device, **resolved.options)
        generator.checkpoint = recompute or self.speed.checkpoint_for(request.width, request.height)
        return generator, make_cutouts

    def _picture(self, path: str, request: RenderRequest) -> torch.Tensor:
        """The picture at ``path`` at the request's size, as the painter sees it."""
        return resize_image(image_tensor(open_image(path), self.device), request.width, request.height)

    def _optimization(
        self,
        task: RenderTask,
        resolved: ResolvedRequest,
        net: nn.Module | None,
        perceptor: AnyPerceptor,
        start: float,
        own_rng: bool,
        recompute: bool = False,
    ) -> Optimization:
        """Set up one still picture from its seed: generator, init image, targets, optimizer."""
        request = task.request
        torch.manual_seed(request.seed)
        generator, make_cutouts, init = self._painter(request, resolved, net, perceptor, recompute)
        text = text_targets(request.prompt, perceptor)
        targets = text + self._extra_targets(request, perceptor, make_cutouts, text[0].embeds.shape[1])
        keep = keep_mask(request.keep, init) if request.keep and init is not None else None
        if keep is not None:
            generator.hold(keep)
        run = Optimization(
            generator,
            targets,
            make_optimizer(request.optimizer, generator.parameters(), resolved.lr),
            make_cutouts,
            request.steps,
            report_every=request.preview_every,
            init_image=init,
            init_weight=request.init_weight,
            keep=keep,
            should_stop=task.should_stop,
            rng=torch.get_rng_state() if own_rng else None,
        )
        run.on_step = self._reporter(task, generator, start, shown=run.shown)
        return run

    def _painter(
        self, request: RenderRequest, resolved: ResolvedRequest, net: nn.Module | None, perceptor: AnyPerceptor,
        recompute: bool = False,
    ) -> tuple[Generator, MakeCutouts, torch.Tensor | None]:  # fmt: skip
        """The request's cutouts and generator, started from its init image if it has one."""
        generator, make_cutouts = self._generator(request, resolved, net, perceptor, recompute)
        init = None
        if request.init_image:
            init = self._picture(request.init_image, request)
            generator.init_from_image(with_noise(init, request.init_noise, request.seed) if request.init_noise else init)
        return generator, make_cutouts, init

    @staticmethod
    def _reporter(
        task: RenderTask,
        generator: Generator,
        start: float,
        offset: int = 0,
        caption: str = "",
        blend: SceneBlend | None = None,
        key_frames: bool = True,
        shown: Callable[[torch.Tensor], torch.Tensor] = lambda image: image,
    ) -> Callable[[int, float], None]:
        """The ``on_step`` of a run that is ``offset`` steps into its film: previews (of the picture as ``shown``),
        key frames, progress, and the next step's scene weights."""
        request = task.request
        total = request.total_steps

        def on_step(step: int, loss: float) -> None:
            step += offset
            if blend is not None:
                blend.at(step + 1)
            preview = None
            if step % request.preview_every == 0 or step == total:
                frame = output.small(output.to_pil(shown(generator.image())))
                preview = output.preview_bytes(frame)
                if key_frames:
                    task.key_frame(frame, caption)
            if task.on_progress is not None:
                task.on_progress(Progress(task.job_id, step, total, loss, time.perf_counter() - start, preview))

        return on_step

    def _extra_targets(
        self, request: RenderRequest, perceptor: AnyPerceptor, make_cutouts: MakeCutouts, dim: int
    ) -> list[Target]:
        """Image and noise prompts (the same in every scene of a story)."""
        targets = []
        for item in request.image_prompts:
            prompt = parse_item(item)
            picture = image_tensor(open_image(prompt.text), self.device)
            with torch.no_grad():
                embeds = perceptor.encode_image(make_cutouts(resize_image(picture, request.width, request.height)))
            targets.append(Target(embeds, prompt.weight, prompt.stop))
        for item in request.noise_prompts:
            seed, weight = parse_noise_prompt(item)
            noise = torch.randn(1, dim, generator=torch.Generator().manual_seed(seed))
            targets.append(Target(unit_parts(noise, perceptor.parts).to(self.device), weight))
        return targets


def text_targets(prompt: str, perceptor: AnyPerceptor) -> list[Target]:
    """The prompt's parts as the perceptor's text embeddings, each with its weight and stop."""
    prompts = parse_prompts(prompt)
    text = perceptor.encode_text([p.text for p in prompts])
    return [Target(text[i : i + 1], p.weight, p.stop) for i, p in enumerate(prompts)]


def with_noise(image: torch.Tensor, share: float, seed: int) -> torch.Tensor:
    """``image`` with ``share`` of the seed's uniform noise mixed in: where a variation starts. The noise
    has its own generator, so the seed's main random stream (cutouts, the painter's start) is untouched."""
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(seed)).to(image.device, image.dtype)
    return image.lerp(noise, share)


def key_frames(request: RenderRequest) -> int:
    """Key frames of a request's film: one per zoom frame, else one per preview."""
    return request.zoom_frames or math.ceil(request.total_steps / request.preview_every)


def free_memory() -> None:
    """Give the device's cached blocks back after an out-of-memory error, before trying again or failing."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def keep_mask(keep: tuple[int, int, int, int], like: torch.Tensor) -> torch.Tensor:
    """``[1, 1, H, W]`` of ``like``'s size: 1 inside the kept box (x, y, width, height), 0 outside."""
    x, y, width, height = keep
    mask = torch.zeros(1, 1, *like.shape[-2:], device=like.device, dtype=like.dtype)
    mask[..., y : y + height, x : x + width] = 1
    return mask
