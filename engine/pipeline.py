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
from engine.errors import OutOfMemory, WeightsError
from engine.generators import generator_class
from engine.images import image_tensor, resize_image
from engine.loop import Target, dream, make_optimizer
from engine.perceptor import Perceptor, load_perceptor
from engine.prompts import parse_item, parse_noise_prompt, parse_prompts
from engine.protocol import Progress, RenderRequest
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


class Engine:
    """Loads models once and renders requests one after another on one device."""

    def __init__(self, store: weights.WeightStore, device: str = "auto") -> None:
        self.store = store
        self.device = resolve_device(device)
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
            self._networks[name] = net if net is None else net.to(self.device)
        return self._networks[name]

    def perceptor(self, name: str) -> Perceptor:
        if name not in self._perceptors:
            self._perceptors[name] = self._load(
                name, lambda folder: load_perceptor(name, folder), "open_clip_model.safetensors"
            ).to(self.device)
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
        validate(request)
        try:
            return self._render(request, on_progress, should_stop, keep_frames, job_id)
        except torch.OutOfMemoryError as error:
            raise OutOfMemory(
                f"the {self.device} device ran out of memory rendering {request.size} with {request.cutn} cutouts; "
                "try a smaller size or fewer cutouts"
            ) from error

    def _render(self, request, on_progress, should_stop, keep_frames, job_id) -> RenderResult:
        start = time.perf_counter()
        family = weights.lookup(request.model).family
        net = self.network(request.model)
        perceptor = self.perceptor(request.perceptor)
        torch.manual_seed(request.seed)
        make_cutouts = MakeCutouts(perceptor.input_size, request.cutn, request.cut_pow)
        settings = options.resolve(family, request.model, request.options)
        generator = generator_class(family)(net, request.width, request.height, self.device, **settings)
        init = None
        if request.init_image:
            init = resize_image(image_tensor(open_image(request.init_image), self.device), request.width, request.height)
            generator.init_from_image(init)
        targets = self._targets(request, perceptor, make_cutouts)
        optimizer = make_optimizer(request.optimizer, generator.parameters(), options.learning_rate(request.lr, family))
        frames: list[Image.Image] = []

        def callback(info: dict) -> None:
            step = info["step"]
            preview = None
            if step % request.preview_every == 0 or step == request.steps:
                picture = output.to_pil(generator.image())
                preview = output.preview_bytes(picture)
                if keep_frames:
                    frames.append(picture)
            if on_progress is not None:
                on_progress(Progress(job_id, step, request.steps, info["loss"], time.perf_counter() - start, preview))

        losses = dream(
            generator,
            perceptor,
            targets,
            make_cutouts,
            optimizer,
            request.steps,
            callback=callback,
            should_stop=should_stop,
            init_image=init,
            init_weight=request.init_weight,
        )
        image = output.to_pil(generator.image())
        seconds = time.perf_counter() - start
        png = output.png_bytes(image, output.parameters_text(request, seconds, package_version()))
        return RenderResult(request, image, png, losses, seconds, frames)

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
