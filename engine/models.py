"""What the engine loads once and keeps: the generator networks, the perceptors, the upscalers and the dreamers
of one device, read from the weights cache (like diffusers' models beside its pipelines). How they are used is
in ``engine/pipeline.py`` (a picture, a set, a film) and in ``engine/deepdream.py`` and ``engine/upscale.py``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from contract import registry
from contract.errors import WeightsError
from contract.families import Network, load_attribute
from contract.models import CLIP_WEIGHTS, ESRGAN_WEIGHTS, GOOGLENET_WEIGHTS, ModelSpec
from contract.protocol import RenderRequest
from contract.speed import DEFAULT as DEFAULT_SPEED
from contract.speed import Speed
from engine.concepts import ConceptScorer
from engine.describe import Describer
from engine.networks.clip import sequence_first_attention
from engine.perceptor import AnyPerceptor, Ensemble, Perceptor, load_perceptor
from engine.weights import WeightStore, spec_for

MAX_REASON = 300  # torch's load errors list every tensor; the user needs the first lines


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


def device_memory(device: torch.device) -> float:
    """GiB of memory ``device`` has: a GPU's own, or the machine's for a CPU (what a job's peak must fit in)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / 2**30
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware; emulated bf16 is far slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def device_speed(text: str, device: torch.device) -> Speed:
    """The speed setting ``text`` as it runs on ``device``: that device's preset, less what it cannot use."""
    return Speed.parse(text, device.type).for_device(device.type, native_bf16(device))


class Models:
    """The models of one device, each loaded once, on first use."""

    def __init__(self, store: WeightStore, device: str = "auto", speed: str = DEFAULT_SPEED) -> None:
        self.store = store
        self.device = resolve_device(device)
        self.speed = device_speed(speed, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = self.speed.cudnn_benchmark
        self._networks: dict[str, nn.Module | None] = {}
        self._perceptors: dict[str, AnyPerceptor] = {}
        self._scorers: dict[str, ConceptScorer] = {}

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

    def perceptor(self, name: str) -> AnyPerceptor:
        """The perceptor ``name``, loaded once; ``A+B`` is an ensemble of its members, each loaded once too."""
        if len(parts := registry.perceptor_members(name)) > 1 and name not in self._perceptors:
            self._perceptors[name] = Ensemble([self.perceptor(member) for member in parts])
        if name not in self._perceptors:
            perceptor = self._load(spec_for(name), lambda folder: load_perceptor(name, folder), CLIP_WEIGHTS)
            self._perceptors[name] = prepare_perceptor(perceptor, self.speed, self.device)
        return self._perceptors[name]

    def concept_scorer(self, name: str) -> ConceptScorer:
        """The CLIP zero-shot check with the perceptor ``name`` (``engine/concepts.py``), its text embeddings kept."""
        if name not in self._scorers:
            self._scorers[name] = ConceptScorer(self.perceptor(name), self.device)
        return self._scorers[name]

    def describer(self, name: str) -> Describer:
        """CLIP interrogation with the perceptor ``name`` (``engine/describe.py``), its vocabularies kept on disk."""
        return Describer(self.concept_scorer(name), name, self.store.root / "cache")

    def upscaler(self, name: str) -> nn.Module:
        """A super-resolution network of the registry (``realesrgan-x4plus``, ``tiny-esrgan``), loaded once."""
        return self._other_network(name, "engine.networks.esrgan:load_upscaler", ESRGAN_WEIGHTS)

    def dreamer(self, name: str) -> nn.Module:
        """A DeepDream network of the registry (``inception-v1``, ``tiny-inception``), loaded once."""
        return self._other_network(name, "engine.networks.inception:load_dreamer", GOOGLENET_WEIGHTS)

    def _other_network(self, name: str, loader: str, main_file: str) -> nn.Module:
        """A network that is no painter's, read by ``loader`` (imported on first use: spandrel, torchvision's models)."""
        if name not in self._networks:
            network = self._load(registry.lookup(name), load_attribute(loader), main_file)
            self._networks[name] = network.to(self.device)
        network = self._networks[name]
        assert network is not None
        return network

    def load(self, request: RenderRequest) -> None:
        """Load (or find cached) the request's models, so missing weights fail before any work starts."""
        self.network(request.model)
        self.perceptor(request.perceptor)


def prepare_network(net: nn.Module, network: Network, speed: Speed, device: torch.device) -> nn.Module:
    """Move a generator network to ``device`` in the memory layout ``speed`` asks for, compiled if it asks."""
    net = net.to(device, memory_format=torch.channels_last if speed.channels_last else torch.preserve_format)
    for part in network.compiled_parts if speed.compile else ():
        _compile(net.get_submodule(part))
    return net


def prepare_perceptor(perceptor: Perceptor, speed: Speed, device: torch.device) -> Perceptor:
    """The perceptor on ``device``: its image tower's attention fed contiguous input (exactly the same
    numbers, 1.2x faster on a CPU; see ``SequenceFirstAttention``) and compiled when ``speed`` says so."""
    sequence_first_attention(perceptor.model.visual)
    if speed.compile:
        _compile(perceptor.model.visual)
    return perceptor.to(device)


def _compile(module: nn.Module) -> None:
    """Compile ``module`` in place (each item of a list), so every caller gets the compiled forward."""
    for part in module if isinstance(module, nn.ModuleList) else [module]:
        part.compile()
