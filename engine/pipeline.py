"""Wires a request to a generator, a perceptor and the loop, and returns the finished picture."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine import options, output, weights
from engine.cutouts import MakeCutouts
from engine.errors import Cancelled, OutOfMemory, WeightsError
from engine.generators import Generator, generator_class
from engine.images import image_tensor, resize_image
from engine.loop import Dream, Target, dream, make_optimizer
from engine.perceptor import Perceptor, load_perceptor
from engine.prompts import parse_item, parse_noise_prompt, parse_prompts
from engine.protocol import Progress, RenderRequest
from engine.speed import DEFAULT as DEFAULT_SPEED
from engine.speed import Speed
from engine.validation import open_image, validate

log = logging.getLogger(__name__)

MAX_REASON = 300  # torch's load errors list every tensor; the user needs the first lines


def package_version() -> str:
    try:
        return version("dreambot")
    except PackageNotFoundError:
        return "dev"


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise WeightsError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WeightsError(f"device {name} was asked for, but this torch build sees no CUDA GPU")
    return device


@dataclass
class RenderResult:
    request: RenderRequest
    image: Image.Image
    png: bytes
    losses: list[float]
    seconds: float
    frames: list[Image.Image] = field(default_factory=list)

    def animation(self) -> bytes | None:
        return output.gif_bytes(self.frames) if len(self.frames) > 1 else None


@dataclass
class Job:
    """A request and how its progress is reported and its cancel asked."""

    request: RenderRequest
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    keep_frames: bool = False
    job_id: str = ""
    frames: list[Image.Image] = field(default_factory=list)


def batch_key(request: RenderRequest) -> tuple[str, str, int, int]:
    """Requests with equal keys can share one batch: one generator network, one perceptor, one size."""
    return request.model, request.perceptor, request.width, request.height


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware; emulated bf16 is far slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def device_speed(text: str, device: torch.device) -> Speed:
    """The speed setting ``text`` as it runs on ``device``: that device's preset, less what it cannot use."""
    return Speed.parse(text, device.type).for_device(device.type, native_bf16(device))


class Engine:
    """Loads models once and renders requests, one after another or in batches, on one device."""

    def __init__(self, store: weights.WeightStore, device: str = "auto", speed: str = DEFAULT_SPEED) -> None:
        self.store = store
        self.device = resolve_device(device)
        self.speed = device_speed(speed, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = self.speed.cudnn_benchmark
        self._networks: dict[str, nn.Module | None] = {}
        self._perceptors: dict[str, Perceptor] = {}

    def _load(self, name: str, loader: Callable[[Path], object], main_file: str):
        spec = weights.lookup(name)
        folder = self.store.ensure(spec)
        try:
            return loader(folder)
        except WeightsError:
            raise
        except Exception as error:  # any unreadable byte or mismatched shape means the same to the user
            why = f"{type(error).__name__}: {error}"
            why = why if len(why) <= MAX_REASON else why[:MAX_REASON] + "…"
            raise self.store.corrupt(spec, folder / main_file, why) from error

    def network(self, name: str) -> nn.Module | None:
        """The generator's pretrained network (None for painters trained from scratch)."""
        if name not in self._networks:
            spec = weights.lookup(name)
            painter = generator_class(spec.family)
            net = self._load(name, painter.load_network, painter.weights_file) if spec.needs_weights else None
            self._networks[name] = prepare_network(net, painter, self.speed, self.device)
        return self._networks[name]

    def perceptor(self, name: str) -> Perceptor:
        if name not in self._perceptors:
            perceptor = self._load(name, lambda folder: load_perceptor(name, folder), "open_clip_model.safetensors")
            self._perceptors[name] = prepare_perceptor(perceptor, self.speed, self.device)
        return self._perceptors[name]

    def load(self, request: RenderRequest) -> None:
        """Load (or find cached) the request's models, so missing weights fail before any work starts."""
        self.network(request.model)
        self.perceptor(request.perceptor)

    def render(
        self,
        request: RenderRequest,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        keep_frames: bool = False,
        job_id: str = "",
    ) -> RenderResult:
        """Render ``request``; raises ``BadRequest``, ``WeightsError``, ``OutOfMemory`` or ``Cancelled``."""
        outcome = self.render_batch([Job(request, on_progress, should_stop, keep_frames, job_id)])[0]
        if isinstance(outcome, Cancelled):
            raise outcome
        return outcome

    def render_batch(self, jobs: list[Job]) -> list[RenderResult | Cancelled]:
        """Render jobs that share a ``batch_key`` as one batch: one decode and one CLIP pass per step.

        Each job gets what it would get alone (its own seed, cutouts and optimizer), to float
        tolerance. Returns each job's result, or ``Cancelled`` for a job stopped on the way; raises
        ``BadRequest`` before any work if one job is invalid.
        """
        for job in jobs:
            validate(job.request)
        if len({batch_key(job.request) for job in jobs}) != 1:
            raise ValueError("a batch needs one model, perceptor and size")
        try:
            return self._render(jobs)
        except torch.OutOfMemoryError as error:
            request = jobs[0].request
            pictures = request.size if len(jobs) == 1 else f"{len(jobs)} pictures of {request.size}"
            raise OutOfMemory(
                f"the {self.device} device ran out of memory rendering {pictures} with {request.cutn} cutouts; "
                "try a smaller size or fewer cutouts"
            ) from error

    def _render(self, jobs: list[Job]) -> list[RenderResult | Cancelled]:
        start = time.perf_counter()
        first = jobs[0].request
        net = self.network(first.model)  # before any seeding: building a network draws random numbers
        perceptor = self.perceptor(first.perceptor)
        dreams = [self._dream(job, net, perceptor, start, own_rng=len(jobs) > 1) for job in jobs]
        dream(dreams, perceptor, self.speed)
        outcomes: list[RenderResult | Cancelled] = []
        for job, run in zip(jobs, dreams, strict=True):
            if run.stopped_at is not None:
                outcomes.append(Cancelled(f"cancelled after {run.stopped_at} of {run.steps} steps", run.stopped_at))
                continue
            image = output.to_pil(run.generator.image())
            seconds = time.perf_counter() - start
            png = output.png_bytes(image, output.parameters_text(job.request, seconds, package_version()))
            outcomes.append(RenderResult(job.request, image, png, run.losses, seconds, job.frames))
        return outcomes

    def _dream(self, job: Job, net: nn.Module | None, perceptor: Perceptor, start: float, own_rng: bool) -> Dream:
        """Set up one job from its seed: generator, init image, targets, optimizer."""
        request = job.request
        family = weights.lookup(request.model).family
        torch.manual_seed(request.seed)
        make_cutouts = MakeCutouts(perceptor.input_size, request.cutn, request.cut_pow, batched=self.speed.batched_cutouts)
        settings = options.resolve(family, request.model, request.options)
        generator = generator_class(family)(net, request.width, request.height, self.device, **settings)
        generator.checkpoint = self.speed.checkpoint_for(request.width, request.height)
        init = None
        if request.init_image:
            init = resize_image(image_tensor(open_image(request.init_image), self.device), request.width, request.height)
            generator.init_from_image(init)
        targets = self._targets(request, perceptor, make_cutouts)
        optimizer = make_optimizer(request.optimizer, generator.parameters(), options.learning_rate(request.lr, family))

        def on_step(step: int, loss: float) -> None:
            preview = None
            if step % request.preview_every == 0 or step == request.steps:
                picture = output.to_pil(generator.image())
                preview = output.preview_bytes(picture)
                if job.keep_frames:
                    job.frames.append(picture)
            if job.on_progress is not None:
                job.on_progress(Progress(job.job_id, step, request.steps, loss, time.perf_counter() - start, preview))

        return Dream(
            generator,
            targets,
            optimizer,
            make_cutouts,
            request.steps,
            report_every=request.preview_every,
            init_image=init,
            init_weight=request.init_weight,
            on_step=on_step,
            should_stop=job.should_stop,
            rng=torch.get_rng_state() if own_rng else None,
        )

    def _targets(self, request: RenderRequest, perceptor: Perceptor, make_cutouts: MakeCutouts) -> list[Target]:
        prompts = parse_prompts(request.prompt)
        text = perceptor.encode_text([p.text for p in prompts])
        targets = [Target(text[i : i + 1], p.weight, p.stop) for i, p in enumerate(prompts)]
        for item in request.image_prompts:
            prompt = parse_item(item)
            picture = image_tensor(open_image(prompt.text), self.device)
            with torch.no_grad():
                embeds = perceptor.encode_image(make_cutouts(resize_image(picture, request.width, request.height)))
            targets.append(Target(embeds, prompt.weight, prompt.stop))
        for item in request.noise_prompts:
            seed, weight = parse_noise_prompt(item)
            noise = torch.randn(1, text.shape[1], generator=torch.Generator().manual_seed(seed))
            targets.append(Target(F.normalize(noise, dim=-1).to(self.device), weight))
        return targets


def prepare_network(net: nn.Module | None, painter: type[Generator], speed: Speed, device: torch.device) -> nn.Module | None:
    """Move a generator network to ``device`` in the memory layout ``speed`` asks for, compiled if it asks."""
    if net is None:
        return None
    net = net.to(device, memory_format=torch.channels_last if speed.channels_last else torch.preserve_format)
    for part in painter.compiled_parts if speed.compile else ():
        _compile(net.get_submodule(part))
    return net


def prepare_perceptor(perceptor: Perceptor, speed: Speed, device: torch.device) -> Perceptor:
    if speed.compile:
        _compile(perceptor.model.visual)
    return perceptor.to(device)


def _compile(module: nn.Module) -> None:
    """Compile ``module`` in place (each item of a list), so every caller gets the compiled forward."""
    for part in module if isinstance(module, nn.ModuleList) else [module]:
        part.compile()
