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

from contract import parameters, registry
from contract.errors import JobCancelled, OutOfMemory, WeightsError
from contract.families import Network, load_attribute
from contract.models import CLIP_WEIGHTS, ModelSpec
from contract.prompts import parse_item, parse_noise_prompt, parse_prompts
from contract.protocol import Progress, RenderRequest
from contract.speed import DEFAULT as DEFAULT_SPEED
from contract.speed import Speed
from contract.validation import ResolvedRequest, open_image, validate
from engine import output
from engine.cutouts import MakeCutouts
from engine.images import image_tensor, resize_image
from engine.loop import Optimization, Target, make_optimizer, optimize
from engine.perceptor import Perceptor, load_perceptor
from engine.weights import WeightStore, spec_for

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
class RenderTask:
    """A request and how its progress is reported and its cancel asked."""

    request: RenderRequest
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    keep_frames: bool = False
    job_id: str = ""
    reel: output.Reel = field(default_factory=output.Reel)


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

    def __init__(self, store: WeightStore, device: str = "auto", speed: str = DEFAULT_SPEED) -> None:
        self.store = store
        self.device = resolve_device(device)
        self.speed = device_speed(speed, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = self.speed.cudnn_benchmark
        self._networks: dict[str, nn.Module | None] = {}
        self._perceptors: dict[str, Perceptor] = {}

    def _load(self, spec: ModelSpec, loader: Callable[[Path], object], main_file: str):
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
            spec = registry.lookup(name)
            network = registry.family_of(spec).network
            if network is None:
                self._networks[name] = None
            else:
                net = self._load(spec, load_attribute(network.loader), network.main_file)
                self._networks[name] = prepare_network(net, network, self.speed, self.device)
        return self._networks[name]

    def perceptor(self, name: str) -> Perceptor:
        if name not in self._perceptors:
            perceptor = self._load(spec_for(name), lambda folder: load_perceptor(name, folder), CLIP_WEIGHTS)
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
        """Render ``request``; raises ``BadRequest``, ``WeightsError``, ``OutOfMemory`` or ``JobCancelled``."""
        outcome = self.render_batch([RenderTask(request, on_progress, should_stop, keep_frames, job_id)])[0]
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
        try:
            return self._render(tasks, resolved)
        except torch.OutOfMemoryError as error:
            request = tasks[0].request
            pictures = request.size if len(tasks) == 1 else f"{len(tasks)} pictures of {request.size}"
            raise OutOfMemory(
                f"the {self.device} device ran out of memory rendering {pictures} with {request.cutn} cutouts; "
                "try a smaller size or fewer cutouts"
            ) from error

    def _render(self, tasks: list[RenderTask], resolved: list[ResolvedRequest]) -> list[RenderResult | JobCancelled]:
        start = time.perf_counter()
        first = tasks[0].request
        net = self.network(first.model)  # before any seeding: building a network draws random numbers
        perceptor = self.perceptor(first.perceptor)
        own_rng = len(tasks) > 1
        runs = [self._optimization(task, r, net, perceptor, start, own_rng) for task, r in zip(tasks, resolved, strict=True)]
        optimize(runs, perceptor, self.speed)
        outcomes: list[RenderResult | JobCancelled] = []
        for task, r, run in zip(tasks, resolved, runs, strict=True):
            if run.stopped_at is not None:
                outcomes.append(JobCancelled(f"cancelled after {run.stopped_at} of {run.steps} steps", run.stopped_at))
                continue
            image = output.to_pil(run.generator.image())
            seconds = time.perf_counter() - start
            png = output.png_bytes(image, parameters.write(r, seconds, package_version()))
            outcomes.append(RenderResult(task.request, image, png, run.losses, seconds, task.reel.frames))
        return outcomes

    def _optimization(
        self,
        task: RenderTask,
        resolved: ResolvedRequest,
        net: nn.Module | None,
        perceptor: Perceptor,
        start: float,
        own_rng: bool,
    ) -> Optimization:
        """Set up one task from its seed: generator, init image, targets, optimizer."""
        request = task.request
        torch.manual_seed(request.seed)
        make_cutouts = MakeCutouts(perceptor.input_size, request.cutn, request.cut_pow, batched=self.speed.batched_cutouts)
        painter = load_attribute(resolved.family.painter)
        generator = painter(net, request.width, request.height, self.device, **resolved.options)
        generator.checkpoint = self.speed.checkpoint_for(request.width, request.height)
        init = None
        if request.init_image:
            init = resize_image(image_tensor(open_image(request.init_image), self.device), request.width, request.height)
            generator.init_from_image(init)
        targets = self._targets(request, perceptor, make_cutouts)
        optimizer = make_optimizer(request.optimizer, generator.parameters(), resolved.lr)

        def on_step(step: int, loss: float) -> None:
            preview = None
            if step % request.preview_every == 0 or step == request.steps:
                frame = output.small(output.to_pil(generator.image()))
                preview = output.preview_bytes(frame)
                if task.keep_frames:
                    task.reel.add(frame)
            if task.on_progress is not None:
                task.on_progress(Progress(task.job_id, step, request.steps, loss, time.perf_counter() - start, preview))

        return Optimization(
            generator,
            targets,
            optimizer,
            make_cutouts,
            request.steps,
            report_every=request.preview_every,
            init_image=init,
            init_weight=request.init_weight,
            on_step=on_step,
            should_stop=task.should_stop,
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


def prepare_network(net: nn.Module, network: Network, speed: Speed, device: torch.device) -> nn.Module:
    """Move a generator network to ``device`` in the memory layout ``speed`` asks for, compiled if it asks."""
    net = net.to(device, memory_format=torch.channels_last if speed.channels_last else torch.preserve_format)
    for part in network.compiled_parts if speed.compile else ():
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
