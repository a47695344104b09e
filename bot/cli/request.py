"""``dreambot render``'s request from its arguments: over a dreambot PNG's parameters with ``--from``, else
over the config's defaults."""

from __future__ import annotations

import argparse
import dataclasses
import struct
import zlib
from pathlib import Path

from bot.config import Config
from contract.errors import BadRequest, EngineError
from contract.families import ALL_OPTIONS
from contract.films import MORPH_FIT_STEPS, MORPH_FRAMES, MORPH_PULL, SCENE_SEPARATOR, scenes, story_prompt
from contract.limits import (
    DEFAULT_CUT_POW,
    DEFAULT_CUTN,
    DEFAULT_OPTIMIZER,
    DEFAULT_PREVIEW_EVERY,
    DEFAULT_STEPS_PER_FRAME,
    DEFAULT_STORY_FADE,
    DEFAULT_ZOOM,
    new_seed,
)
from contract.moves import strength_of, variation
from contract.parameters import PNG_SIGNATURE
from contract.protocol import RenderRequest

TEXT_LIMIT = 1 << 20  # bytes of a text chunk read, or decompressed: a prompt and its parameters are a few kB


def _story(text: str) -> str:
    """``--story``: a file of scenes, one per line, or the scenes themselves."""
    path = Path(text)
    if len(text) < 4096 and path.is_file():
        try:
            scenes = story_prompt(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise BadRequest(f"could not read the story file {text!r}: {error}") from None
        if not scenes:
            raise BadRequest(f"the story file {text!r} has no scenes: write one per line")
        return scenes
    return story_prompt(text)


def _paints(model: str, width: int, height: int) -> bool:
    """Whether ``model`` paints pictures of this size (an unknown model is refused later, by name)."""
    from contract.registry import lookup
    from contract.validation import check_size

    try:
        check_size(lookup(model), width, height)
    except EngineError:
        return False
    return True


VARIED = ("seed", "count", "init_image", "init_noise", "init_weight", "keep")  # what a variation does not take from its parent
MORPH_SETS = ("steps", "zoom_frames", "steps_per_frame", "zoom", "rotate", "shift", "story_fade", "captions")  # a morph's own


def _recorded(args: argparse.Namespace) -> dict:
    """What ``--from``'s (or ``--vary-from``'s) picture recorded and still applies, or a refusal naming the pictures
    it needs again. A variation starts from the picture itself, with a new seed."""
    if args.source and args.vary_from:
        raise BadRequest("give --from (paint it again) or --vary-from (a variation of it), not both")
    if args.strength is not None and not args.vary_from:
        raise BadRequest("--strength goes with --vary-from PICTURE.png")
    if (args.pan or args.zoom_out) and not args.source:
        raise BadRequest("--pan and --zoom-out move a picture: give it with --from PICTURE.png")
    if args.pan and args.zoom_out:
        raise BadRequest("give --pan or --zoom-out, not both")
    if args.morph and (args.source or args.vary_from or args.story):
        raise BadRequest(
            "--morph A.png B.png takes its prompts and model from the two pictures: leave out --from, --vary-from and --story"
        )
    source = args.source or args.vary_from or (args.morph[0] if args.morph else None)
    recorded = recorded_request(source) if source else {}
    if args.vary_from:
        recorded = {k: v for k, v in recorded.items() if k not in VARIED}
    if args.morph:  # the film starts from the picture itself, the painter fitted to it
        recorded = {k: v for k, v in recorded.items() if k not in (*VARIED[1:], *MORPH_SETS)}
    if args.pan or args.zoom_out:  # the move starts from the picture itself
        recorded = {k: v for k, v in recorded.items() if k not in VARIED[2:]}
    if args.model and args.model != recorded.get("model"):  # another model: the picture's options were its own
        recorded = {k: v for k, v in recorded.items() if k not in ("options", "lr")}
        if "width" in recorded and not _paints(args.model, recorded["width"], recorded["height"]):
            recorded = {k: v for k, v in recorded.items() if k not in ("width", "height")}
    if recorded.get("init_image") and not args.init_image:
        raise BadRequest(f"{source} started from the picture {recorded['init_image']!r}; give it again with --init-image PATH")
    if recorded.get("image_prompts") and not args.image_prompt:
        raise BadRequest(
            f"{source} was steered by pictures ({' | '.join(recorded['image_prompts'])}); give them with --image-prompt"
        )
    return recorded


def request_from_args(args: argparse.Namespace, config: Config) -> RenderRequest:
    """The request the arguments ask for: over the PNG's parameters with ``--from``, else over the defaults."""
    from contract.validation import size_for

    recorded = _recorded(args)
    prompt = _story(args.story) if args.story else args.prompt if args.prompt is not None else recorded.get("prompt")
    if prompt is None:
        raise BadRequest("give a prompt, or --from PICTURE.png to paint one of dreambot's pictures again")
    model = args.model or recorded.get("model") or config.defaults.model
    if args.size or "width" not in recorded:
        width, height = size_for(model, args.size, config.defaults.size)
    else:
        width, height = recorded["width"], recorded["height"]

    def pick(name: str, default):
        """The argument if given, else the picture's value, else ``default``."""
        value = getattr(args, name)
        return value if value is not None else recorded.get(name, default)

    seed = pick("seed", None)
    init_noise, init_weight = pick("init_noise", 0.0), pick("init_weight", 0.0)
    if args.vary_from:
        try:
            noise, weight = variation(strength_of(args.strength or "strong"))
        except ValueError as error:
            raise BadRequest(f"--strength: {error}") from None
        init_noise = noise if args.init_noise is None else args.init_noise
        init_weight = weight if args.init_weight is None else args.init_weight
    request = RenderRequest(
        prompt=prompt,
        model=model,
        perceptor=pick("perceptor", config.defaults.perceptor),
        width=width,
        height=height,
        steps=pick("steps", config.defaults.steps),
        seed=new_seed() if seed is None else seed,
        cutn=pick("cutn", DEFAULT_CUTN),
        cut_pow=pick("cut_pow", DEFAULT_CUT_POW),
        lr=pick("lr", None),
        optimizer=pick("optimizer", DEFAULT_OPTIMIZER),
        init_image=args.init_image or args.vary_from,
        init_weight=init_weight,
        init_noise=init_noise,
        count=pick("count", 1),
        image_prompts=tuple(args.image_prompt or ()),
        noise_prompts=tuple(args.noise_prompt or recorded.get("noise_prompts", ())),
        preview_every=DEFAULT_PREVIEW_EVERY if args.preview_every is None else args.preview_every,
        options={**recorded.get("options", {}), **{n: v for n in ALL_OPTIONS if (v := getattr(args, n)) is not None}},
        zoom_frames=pick("zoom_frames", 0),
        steps_per_frame=pick("steps_per_frame", DEFAULT_STEPS_PER_FRAME),
        zoom=pick("zoom", DEFAULT_ZOOM),
        rotate=pick("rotate", 0.0),
        shift=pick("shift", (0.0, 0.0)),
        story_fade=pick("story_fade", DEFAULT_STORY_FADE),
        captions=pick("captions", False),
        keep=recorded.get("keep", ()) if (width, height) == (recorded.get("width"), recorded.get("height")) else (),
    )
    if args.morph:
        return _morph(request, args)
    return _moved(request, args) if args.pan or args.zoom_out else request


def _morph(request: RenderRequest, args: argparse.Namespace) -> RenderRequest:
    """``--morph A.png B.png``: a film from A to B, both of one model; A gives the size, seed and options."""
    first, second = args.morph
    other = recorded_request(second)
    if other.get("model") != request.model:
        raise BadRequest(
            f"a morph goes between pictures of one model: {first} is {request.model}, {second} is {other.get('model')}"
        )
    if len(scenes(request.prompt)) > 1 or len(scenes(other.get("prompt", ""))) > 1:
        raise BadRequest("a morph goes between two pictures, not films: their prompts are one scene each")
    return dataclasses.replace(
        request, prompt=f"{request.prompt} {SCENE_SEPARATOR} {other['prompt']}", init_image=first, morph_to=second,
        zoom_frames=args.zoom_frames or MORPH_FRAMES, steps=args.steps or MORPH_FIT_STEPS,
        init_weight=MORPH_PULL if args.init_weight is None else args.init_weight,
    )  # fmt: skip


def _moved(request: RenderRequest, args: argparse.Namespace) -> RenderRequest:
    """``--pan`` or ``--zoom-out`` of ``--from``'s picture: its canvas, the picture in its kept box, written beside
    the output as the start (``NAME-pan-right-start.png``), which the new picture's parameters name."""
    from PIL import Image

    from contract.moves import MIN_PAN_SHARE, composed, pan_canvas, zoom_out_canvas

    if args.pan and not MIN_PAN_SHARE <= args.pan_share <= 1:
        raise BadRequest(f"--pan-share is from {MIN_PAN_SHARE:g} to 1")
    try:
        if args.pan:
            canvas, move = pan_canvas(request.width, request.height, args.pan, args.pan_share), f"pan-{args.pan}"
        else:
            canvas, move = zoom_out_canvas(request.width, request.height, args.zoom_out), f"zoom-out-{args.zoom_out:g}"
    except ValueError as error:
        raise BadRequest(str(error)) from None
    folder = Path(args.out).parent if args.out else Path("outputs")
    start = folder / f"{Path(args.source).stem}-{move}-start.png"
    with Image.open(args.source) as picture:
        folder.mkdir(parents=True, exist_ok=True)
        composed(picture, canvas).save(start)
    return dataclasses.replace(request, width=canvas.width, height=canvas.height, init_image=str(start), keep=canvas.keep)


def recorded_request(source: str) -> dict:
    """The request fields a dreambot PNG records in its ``parameters`` chunk."""
    from contract import parameters

    try:
        text = _text_chunk(Path(source), "parameters")
    except (OSError, ValueError, zlib.error) as error:
        raise BadRequest(f"{source} could not be read as a PNG ({error})") from None
    if text is None:
        raise BadRequest(f"{source} has no parameters chunk: dreambot did not paint it, or its metadata was removed")
    try:
        return parameters.read(text)
    except BadRequest as error:
        raise BadRequest(f"{source} cannot be painted again: {error}") from None


def _text_chunk(path: Path, key: str) -> str | None:
    """The PNG text chunk ``key`` (tEXt, zTXt or iTXt), read chunk by chunk without decoding a pixel: a picture of
    any size (a 14000x14000 decompression bomb included) costs a few reads, and no text is read past TEXT_LIMIT."""
    with path.open("rb") as png:
        if png.read(8) != PNG_SIGNATURE:
            raise ValueError("not a PNG file")
        while True:
            if len(header := png.read(8)) < 8:
                raise ValueError("the file ends inside a chunk" if header else "the file ends before its last chunk")
            size, kind = struct.unpack(">I4s", header)
            if kind == b"IEND":
                return None
            if kind not in (b"tEXt", b"zTXt", b"iTXt") or size > TEXT_LIMIT:
                png.seek(size + 4, 1)  # the chunk and its CRC, unread
                continue
            if len(chunk := png.read(size)) < size:
                raise ValueError("the file ends inside a chunk")
            name, _, body = chunk.partition(b"\0")
            png.seek(4, 1)
            if name.decode("latin-1") == key:
                return _chunk_text(kind, body)


def _chunk_text(kind: bytes, body: bytes) -> str:
    """A text chunk's text, after its keyword (decompressed, within TEXT_LIMIT, for zTXt and compressed iTXt)."""
    if kind == b"tEXt":
        return body.decode("latin-1")
    if kind == b"zTXt":
        return zlib.decompressobj().decompress(body[1:], TEXT_LIMIT).decode("latin-1")
    compressed, rest = body[:1] == b"\x01", body[2:]
    _language, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return (zlib.decompressobj().decompress(text, TEXT_LIMIT) if compressed else text).decode("utf-8")
