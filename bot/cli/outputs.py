"""What ``dreambot render`` leaves behind: the PNG (and a set's candidates), the frames, the GIF, the SVG and the
film, and the JSON summary of ``--json``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from contract.protocol import RenderRequest

if TYPE_CHECKING:
    from engine.pipeline import Engine, RenderResult
    from engine.sets import SetResult

log = logging.getLogger("dreambot")


def write_outputs(
    args: argparse.Namespace, request: RenderRequest, result: RenderResult | SetResult, out: Path, video: Path | None
) -> list[Path]:
    """Every file the arguments ask for; the paths of a set's candidates (beside ``out``, numbered)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.png)
    candidates = [out.with_name(f"{out.stem}-{number}.png") for number in range(1, request.count + 1)]
    if request.count > 1:  # a SetResult
        for path, png in zip(candidates, result.candidates, strict=True):
            path.write_bytes(png)
    if args.frames:
        frames_dir = Path(args.frames)
        frames_dir.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(result.frames):
            frame.save(frames_dir / f"{index:05d}.png")
    if args.animation and (animation := result.animation()):
        Path(args.animation).write_bytes(animation)
    if args.svg and result.svg is not None:
        Path(args.svg).parent.mkdir(parents=True, exist_ok=True)
        Path(args.svg).write_text(result.svg)
    if video is not None and result.video is not None:
        video.parent.mkdir(parents=True, exist_ok=True)
        video.write_bytes(result.video)
        log.info("wrote the film %s (%d frames)", video, result.video_frames)
    return candidates


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
        summary["video"] = str(video)
    if args.svg:
        summary["svg"] = args.svg
    if request.count > 1:
        summary |= {"count": request.count, "candidates": [str(path) for path in candidates]}
    if request.is_film:
        summary["frames"] = result.video_frames
    return summary
