"""Painting on this machine, without Discord: ``dreambot render`` (a picture, a set or a film from words),
``dreambot upscale`` and ``dreambot deepdream`` (from a picture)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.outputs import check_outputs, render_summary, save, write_outputs
from bot.cli.request import request_from_args
from bot.config import Config
from contract import limits, registry
from contract.deepdream import DEFAULT_DREAM_STEPS
from contract.deepdream import OPTIONS as DEEPDREAM_OPTIONS
from contract.errors import BadRequest
from contract.families import FAMILIES
from contract.films import MORPH_FIT_STEPS, MORPH_FRAMES, parse_shift
from contract.moves import DIRECTIONS, PAN_SHARE
from contract.protocol import RenderRequest
from contract.registry import DEFAULT_DREAMER
from contract.validation import check_device_here

if TYPE_CHECKING:
    from engine.pipeline import Engine, RenderResult
    from engine.sets import SetResult

log = logging.getLogger("dreambot")


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    render = commands.add_parser("render", parents=[parent], help="make one image on this machine")
    _add_painting_arguments(render)
    _add_film_arguments(render)
    render.add_argument("--json", action="store_true", help="print a JSON summary as the last line of stdout")
    render.set_defaults(handler=cmd_render)

    upscale = commands.add_parser("upscale", parents=[parent], help="make a picture 4x larger (Real-ESRGAN)")
    upscale.add_argument("image", help="a PNG, JPEG or WebP; a dreambot PNG keeps its parameters")
    upscale.add_argument("--model", default="realesrgan-x4plus", help="realesrgan-x4plus, or tiny-esrgan (random weights)")
    upscale.add_argument("--out", metavar="PATH", help="PNG to write (default: IMAGE-x4.png beside it)")
    upscale.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: [engine] device)")
    upscale.add_argument("--json", action="store_true", help="print a JSON summary as the last line of stdout")
    upscale.set_defaults(handler=cmd_upscale)

    dream = commands.add_parser("deepdream", parents=[parent], help="dream on a picture with InceptionV1 (DeepDream)")
    dream.add_argument("image", help="a PNG, JPEG or WebP; the dream keeps its size")
    dream.add_argument("--model", default=DEFAULT_DREAMER, help="inception-v1, or tiny-inception (random weights)")
    spread = f"steps in all, spread over the octaves (default {DEFAULT_DREAM_STEPS})"
    dream.add_argument("--steps", type=int, default=DEFAULT_DREAM_STEPS, help=spread)
    dream.add_argument("--prompt", default="", help="steer the dream towards this text with CLIP (default: none)")
    dream.add_argument("--perceptor", help="the CLIP that steers a prompt (default: [defaults] perceptor)")
    dream.add_argument("--seed", type=int, help="random seed of the jitter (default: a fresh one, printed)")
    for option in DEEPDREAM_OPTIONS:
        dream.add_argument(option.flag, dest=option.name, type=option.kind, help=f"{option.help} (default {option.default})")
    dream.add_argument("--out", metavar="PATH", help="PNG to write (default: IMAGE-dream.png beside it)")
    dream.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: [engine] device)")
    dream.add_argument("--json", action="store_true", help="print a JSON summary as the last line of stdout")
    dream.set_defaults(handler=cmd_deepdream)


def _add_painting_arguments(render: argparse.ArgumentParser) -> None:
    render.add_argument("prompt", nargs="?", help='prompts as "text[:weight[:stop]] | ..." (may be left out with --from)')
    render.add_argument(
        "--from",
        dest="source",
        metavar="PICTURE.png",
        help="paint a dreambot PNG again from its parameters; options given override them",
    )
    render.add_argument(
        "--vary-from",
        metavar="PICTURE.png",
        help="a variation of a dreambot PNG: its parameters and a new seed, started from the picture itself",
    )
    render.add_argument("--strength", help="with --vary-from: subtle, strong (the default) or a share from 0 to 1 of fresh noise")
    render.add_argument(
        "--pan", choices=DIRECTIONS, help="with --from: grow the canvas that way (by --pan-share), keep the picture, paint on"
    )
    render.add_argument("--pan-share", type=float, default=PAN_SHARE, help=f"how much --pan grows it (default {PAN_SHARE})")
    render.add_argument(
        "--zoom-out", type=float, metavar="FACTOR", help="with --from: shrink the picture into its centre and paint around it"
    )
    render.add_argument(
        "--morph", nargs=2, metavar=("A.png", "B.png"),
        help="a film from one dreambot PNG to another of the same model: --zoom frames (default "
        f"{MORPH_FRAMES}), --steps fitting each end (default {MORPH_FIT_STEPS}), --steps-per-frame between",
    )  # fmt: skip
    render.add_argument("--model", help="generator, e.g. vqgan-imagenet-f16-16384, biggan-deep-256, siren, pixels")
    render.add_argument(
        "--perceptor",
        help="open_clip MODEL/PRETRAINED, e.g. ViT-B-32/openai, or tiny-clip; A+B averages several perceptors' losses",
    )
    render.add_argument("--steps", type=int, help=f"optimization steps (1-{limits.MAX_STEPS})")
    render.add_argument("--size", help="WIDTHxHEIGHT, e.g. 256x256 (default: the model's own size, else [defaults] size)")
    render.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    render.add_argument("--init-image", metavar="PATH", help="start from this picture")
    render.add_argument("--init-weight", type=float, help="how strongly to stay close to the init image (default 0)")
    noise_help = "mix this share (0-1) of the seed's noise into the init image (a variation)"
    render.add_argument("--init-noise", type=float, metavar="SHARE", help=noise_help)
    count_help = f"paint N candidates (1-{limits.MAX_COUNT}, seeds from --seed up) as one batch: OUT is their grid"
    render.add_argument("--count", type=int, metavar="N", help=count_help)
    render.add_argument("--image-prompt", action="append", metavar="PATH[:W[:STOP]]", help="steer towards a picture")
    render.add_argument("--noise-prompt", action="append", metavar="SEED[:W]", help="steer towards random noise")
    render.add_argument("--cutn", type=int, help=f"cutouts per step (default {limits.DEFAULT_CUTN})")
    render.add_argument(
        "--cut-pow", type=float, help=f"cutout size exponent, higher: smaller cutouts (default {limits.DEFAULT_CUT_POW})"
    )
    render.add_argument("--lr", type=float, help="learning rate (default: the generator's own)")
    render.add_argument("--optimizer", choices=limits.OPTIMIZERS, help=f"(default {limits.DEFAULT_OPTIMIZER})")
    for family in FAMILIES.values():
        for option in family.options:
            default = "off" if option.default is None else option.default
            render.add_argument(option.flag, type=option.kind, help=f"{family.name}: {option.help} (default {default})")
    render.add_argument(
        "--preview-every", type=int, metavar="N", help=f"keep a frame every N steps (default {limits.DEFAULT_PREVIEW_EVERY})"
    )
    render.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: [engine] device)")
    render.add_argument("--speed", help="fast or plain, then +SWITCH/-SWITCH, e.g. fast,+compile (default: [engine] speed)")
    render.add_argument("--out", metavar="PATH", help="PNG to write (default: outputs/<prompt>-<seed>.png)")
    render.add_argument("--frames", metavar="DIR", help="also save the kept frames as PNGs in DIR")
    render.add_argument("--animation", metavar="PATH", help="also save the run as a GIF")
    render.add_argument("--svg", metavar="PATH", help="also save the strokes as an SVG (clipdraw)")
    render.add_argument(
        "--video", metavar="PATH.mp4", help="also save the run as an MP4 (H.264); zooms and stories always get one"
    )


def _add_film_arguments(render: argparse.ArgumentParser) -> None:
    film = render.add_argument_group("films", "a zoom journey, a story (one prompt per scene), or both")
    film.add_argument("--zoom", type=_frames, dest="zoom_frames", metavar="FRAMES", help="frames of an endless zoom")
    film.add_argument(
        "--zoom-factor", type=float, dest="zoom", metavar="Z", help=f"scale per frame (default {limits.DEFAULT_ZOOM})"
    )
    film.add_argument("--rotate", type=float, metavar="DEG", help="degrees per frame, counter-clockwise (default 0)")
    film.add_argument("--shift", type=_shift, metavar="X,Y", help="pixels per frame, right and down (default 0,0)")
    film.add_argument(
        "--steps-per-frame",
        type=int,
        metavar="N",
        help=f"steps of each frame after the first (default {limits.DEFAULT_STEPS_PER_FRAME})",
    )
    film.add_argument(
        "--story", metavar="FILE_OR_TEXT", help="scenes, one per line of FILE or separated by || (the prompt may be left out)"
    )
    film.add_argument(
        "--fade",
        type=float,
        dest="story_fade",
        metavar="SHARE",
        help=f"share of a scene over which it fades in (default {limits.DEFAULT_STORY_FADE})",
    )
    film.add_argument("--captions", action="store_true", default=None, help="show each scene's line in the film")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "dream"


def _frames(text: str) -> int:
    """``--zoom``'s frames: 0 would make no film and say nothing."""
    try:
        frames = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of frames, not {text!r}") from None
    if frames < 1:
        raise argparse.ArgumentTypeError(f"a zoom has 1 frame or more, not {frames} (leave --zoom out for a still picture)")
    return frames


def _shift(text: str) -> tuple[float, float]:
    try:
        return parse_shift(text)
    except BadRequest as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_render(args: argparse.Namespace, config: Config) -> int:
    from contract.speed import Speed
    from contract.validation import validate

    request = request_from_args(args, config)
    validate(request)  # before torch loads: bad input fails in a blink and writes nothing
    if args.svg and request.model not in registry.vector_models():
        raise BadRequest(f"--svg saves the strokes of {' or '.join(registry.vector_models())}; {request.model} paints pixels")
    if args.svg and request.count > 1:
        raise BadRequest("--svg saves the strokes of one picture; leave it out with --count")
    speed = args.speed or config.engine.speed
    Speed.parse(speed)
    device = _device(args, config)
    out = Path(args.out or f"outputs/{_slug(request.prompt)}-{request.seed}.png")
    video = Path(args.video) if args.video else out.with_suffix(".mp4") if request.is_film else None
    if request.count > 1 and (video or args.frames or args.animation):
        raise BadRequest("--video, --frames and --animation film one picture; leave them out with --count")
    if args.animation and not request.is_film and request.steps <= request.preview_every:
        raise BadRequest(
            f"--animation needs two frames or more: with --steps {request.steps} and a frame every {request.preview_every} "
            f"steps (--preview-every) it would have one; give --preview-every {max(request.steps // 2, 1)} or less"
        )
    check_outputs(out, video, args.animation, args.svg, args.frames)
    engine = _engine(config, device, speed)
    engine.load(request)
    log.info(
        "rendering %r with %s + %s on %s, seed %d", request.prompt, request.model, request.perceptor, engine.device, request.seed
    )
    result = _paint(engine, request, keep_frames=bool(args.frames or args.animation), video=bool(video))
    out, candidates = write_outputs(args, request, result, out, video)
    log.info("wrote %s in %.1fs (final loss %.4f)", out, result.seconds, result.losses[-1])
    if args.json:
        print(json.dumps(render_summary(args, request, result, engine, out, video, candidates)))
    return 0


def _device(args: argparse.Namespace, config: Config) -> str:
    """The device a command paints on, checked before torch is imported: a typo costs no wait."""
    device = args.device or config.engine.device
    check_device_here(device)
    return device


def _engine(config: Config, device: str, speed: str | None = None) -> Engine:
    from engine.pipeline import Engine
    from engine.weights import WeightStore

    return Engine(WeightStore(Path(config.engine.weights_dir)), device, speed or config.engine.speed)


def _paint(engine: Engine, request: RenderRequest, keep_frames: bool, video: bool) -> RenderResult | SetResult:
    """The picture, set or film, with a progress bar on stderr."""
    from tqdm import tqdm

    from engine.sets import render_set

    with tqdm(total=request.total_steps, desc="dreaming", unit="step", file=sys.stderr) as bar:

        def on_progress(event) -> None:
            bar.set_postfix(loss=f"{event.loss:.4f}", refresh=False)
            bar.update(1)

        if request.count > 1:
            return render_set(engine, request, on_progress)
        return engine.render(request, on_progress=on_progress, keep_frames=keep_frames, video=video)


def cmd_upscale(args: argparse.Namespace, config: Config) -> int:
    import time

    source = Path(args.image)
    if not source.is_file():
        raise BadRequest(f"{args.image!r} does not exist or is not a file")
    out = Path(args.out or source.with_name(f"{source.stem}-x4.png"))
    device = _device(args, config)
    check_outputs(out)
    engine = _engine(config, device)
    from engine.upscale import upscale_png

    began = time.perf_counter()
    image, png = upscale_png(engine, source.read_bytes(), args.model)
    out = save(out, png)
    seconds = time.perf_counter() - began
    log.info("wrote %s (%dx%d) in %.1fs", out, image.width, image.height, seconds)
    if args.json:
        print(json.dumps({"out": str(out), "model": args.model, "width": image.width, "height": image.height,
                          "seconds": round(seconds, 3), "device": str(engine.device)}))  # fmt: skip
    return 0


def cmd_deepdream(args: argparse.Namespace, config: Config) -> int:
    from contract.deepdream import validate_deepdream
    from contract.validation import open_image

    picture = open_image(args.image)
    options = {option.name: getattr(args, option.name) for option in DEEPDREAM_OPTIONS if getattr(args, option.name) is not None}
    seed = args.seed if args.seed is not None else limits.new_seed()
    request = RenderRequest(
        args.prompt, model=args.model, perceptor=args.perceptor or config.defaults.perceptor, width=picture.width,
        height=picture.height, steps=args.steps, seed=seed, init_image=str(Path(args.image).expanduser()),
        options=options,
    )  # fmt: skip
    if request.model not in registry.dreamer_names():
        raise BadRequest(f"unknown DeepDream network {request.model!r}; networks: {', '.join(registry.dreamer_names())}")
    validate_deepdream(request)  # before torch loads
    source = Path(args.image)
    out = Path(args.out or source.with_name(f"{source.stem}-dream.png"))
    device = _device(args, config)
    check_outputs(out)
    engine = _engine(config, device)
    from engine.deepdream import deepdream

    log.info("dreaming on %s with %s on %s, seed %d", source, request.model, engine.device, seed)
    result = deepdream(engine, request)
    out = save(out, result.png)
    log.info("wrote %s (%s) in %.1fs (final loss %.4f)", out, request.size, result.seconds, result.losses[-1])
    if args.json:
        summary = {"out": str(out), "model": request.model, "seed": seed, "steps": request.steps, "width": request.width,
                   "height": request.height, "options": options, "seconds": round(result.seconds, 3),
                   "device": str(engine.device), "losses": result.losses}  # fmt: skip
        print(json.dumps(summary))
    return 0
