"""What ``dreambot render`` leaves behind: the PNG (and a set's candidates), the frames, the GIF, the SVG and the
film, and the JSON summary of ``--json``. Every path is checked before the painting starts, and a file that still
cannot be written at the end is saved elsewhere, never lost."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from contract.errors import BadRequest
from contract.protocol import RenderRequest

if TYPE_CHECKING:
    from engine.pipeline import Engine, RenderResult
    from engine.sets import SetResult

log = logging.getLogger("dreambot")


def check_outputs(
    out: Path, video: Path | None = None, animation: str | None = None, svg: str | None = None, frames: str | None = None
) -> None:
    """Before anything is painted: each file the arguments name is not a folder, and its folder exists (made if
    missing, once every path has passed) and takes files; so a mistyped path costs no render."""
    files = {("--out", ".png"): out, ("--video", ".mp4"): video, ("--animation", ".gif"): animation, ("--svg", ".svg"): svg}
    folders = []
    for (flag, suffix), given in files.items():
        if not given:
            continue
        path = Path(given)
        if path.is_dir():
            raise BadRequest(f"{flag} {path} is a folder; name a file in it, such as {path / ('dream' + suffix)}")
        folders.append((flag, path.parent))
    if frames:
        folder = Path(frames)
        if folder.exists() and not folder.is_dir():
            raise BadRequest(f"--frames {folder} is a file; name a folder for the frames")
        folders.append(("--frames", folder))
    for flag, folder in folders:
        if in_the_way := next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None):
            raise BadRequest(f"{flag}: the folder {folder} cannot be made: {in_the_way} is a file")
    for flag, folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BadRequest(f"{flag}: the folder {folder} cannot be made ({error.strerror or error})") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BadRequest(f"{flag}: the folder {folder} is not writable")


def save(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, or, if that fails after a render, into the working folder or the temporary
    folder instead (saying so): a finished render is never lost to a path. Returns where it went."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path
    except OSError as error:
        for folder in (Path.cwd(), Path(tempfile.gettempdir())):
            rescue = folder / f"dreambot-rescued-{path.name}"
            try:
                rescue.write_bytes(data)
            except OSError:
                continue
            log.error("could not write %s (%s); saved it as %s instead", path, error.strerror or error, rescue)
            return rescue
        raise


def write_outputs(
    args: argparse.Namespace, request: RenderRequest, result: RenderResult | SetResult, out: Path, video: Path | None
) -> tuple[Path, list[Path]]:
    """Every file the arguments ask for; where the PNG went and the paths of a set's candidates (beside it, numbered)."""
    out = save(out, result.png)
    candidates = [out.with_name(f"{out.stem}-{number}.png") for number in range(1, request.count + 1)]
    if request.count > 1:  # a SetResult
        candidates = [save(path, png) for path, png in zip(candidates, result.candidates, strict=True)]
    if args.frames:
        frames_dir = Path(args.frames)
        frames_dir.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(result.frames):
            frame.save(frames_dir / f"{index:05d}.png")
    if args.animation and (animation := result.animation()):
        save(Path(args.animation), animation)
    if args.svg and result.svg is not None:
        save(Path(args.svg), result.svg.encode())
    if video is not None and result.video is not None:
        video = save(video, result.video)
        log.info("wrote the film %s (%d frames)", video, result.video_frames)
    return out, candidates


def render_summary(
    args: argparse.Namespace,
    request: RenderRequest,
    result: RenderResult | SetResult,
    engine: Engine,
    out: Path,
    video: Path | None,
    candidates: list[Path],
) -> dict:
    """``--json``'s last line: what was painted, how, where it went and how long it took."""
    summary = {
        "out": str(out),
        "model": request.model,
        "perceptor": request.perceptor,
        "seed": request.seed,
        "steps": request.steps,
        "width": request.width,
        "height": request.height,
        "options": request.options,
        "seconds": round(result.seconds, 3),
        "speed": str(engine.speed),
        "device": str(engine.device),
        "losses": result.losses,
    }
    if video is not None:
        summary |= {"video": str(video), "frames": result.video_frames}
    if args.svg:
        summary["svg"] = args.svg
    if request.count > 1:
        summary |= {"count": request.count, "candidates": [str(path) for path in candidates]}
    return summary
