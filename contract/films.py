"""Films: a run cut into segments, for stories (one prompt per scene) and zoom journeys.

A story's scenes sit in the prompt, separated by ``||`` (the CLI also reads one scene per line of a file); each
scene gets its share of the steps and starts from the picture the last one left, its targets fading in over the
first ``story_fade`` of its steps. A zoom paints ``steps`` for its first frame, then, for each further frame,
transforms the picture (zoom, rotate, shift) and paints ``steps_per_frame`` more from it. Both together make a
zooming story: the frames are shared out over the scenes. A morph goes from one picture to another: the painter
is fitted to each (``steps`` each), and each frame between is the point of the straight path between the two
fits at its share of the way, painted ``steps_per_frame`` steps towards both prompts weighted by that share.
Plain data: the bot checks limits with it, the engine runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import BadRequest

SCENE_SEPARATOR = "||"
MAX_FRAMES = 2000
MAX_SCENES = 50
MAX_ZOOM = 2.0  # a frame may grow (or shrink) by at most this factor
MAX_SHIFT = 256.0  # pixels a frame may move
MIN_MORPH_FRAMES = 3  # a morph's two ends and one frame between them at least
MORPH_FRAMES = 24  # a morph's frames unless asked
MORPH_FIT_STEPS = 60  # steps fitting the painter to each end, unless asked
MORPH_PULL = 0.5  # how strongly a frame between stays on the path between the two ends while its prompt is painted


def scenes(prompt: str) -> list[str]:
    """The scenes of a prompt: its parts between ``||`` (one scene: the prompt itself)."""
    return [part.strip() for part in prompt.split(SCENE_SEPARATOR)]


def check_scenes(prompt: str) -> list[str]:
    """The prompt's scenes, or ``BadRequest`` if one is empty or there are too many."""
    parts = scenes(prompt)
    if len(parts) > 1 and not all(parts):
        raise BadRequest(f"a story has an empty scene: write text between every {SCENE_SEPARATOR}")
    if len(parts) > MAX_SCENES:
        raise BadRequest(f"a story has at most {MAX_SCENES} scenes, not {len(parts)}")
    return parts


def story_prompt(lines: str) -> str:
    """A story file's text (one scene per non-empty line, or ``||`` between scenes) as one prompt."""
    parts = [part.strip() for line in lines.splitlines() for part in line.split(SCENE_SEPARATOR)]
    return f" {SCENE_SEPARATOR} ".join(part for part in parts if part)


def parse_shift(text: str) -> tuple[float, float]:
    """``"X,Y"``: pixels per frame, right and down."""
    try:
        x, y = (float(part) for part in text.replace(" ", "").split(","))
    except ValueError:
        raise BadRequest(f"shift is two numbers of pixels per frame, right and down, like 2,-1; not {text!r}") from None
    return x, y


@dataclass(frozen=True)
class Segment:
    """Steps painted in one go on one scene; ``transform``: the picture is zoomed, rotated and shifted first."""

    steps: int
    scene: int
    transform: bool = False
    first_step: int = 0  # steps of the whole film before this segment


def plan(steps: int, scene_count: int, frames: int = 0, steps_per_frame: int = 0) -> list[Segment]:
    """The film's segments: one per scene, or one per zoom frame (each frame showing its share of scenes)."""
    if frames:
        counts = [steps] + [steps_per_frame] * (frames - 1)
        shape = [(n, frame * scene_count // frames, frame > 0) for frame, n in enumerate(counts)]
    else:
        base, extra = divmod(steps, scene_count)
        shape = [(base + (scene == scene_count - 1) * extra, scene, False) for scene in range(scene_count)]
    segments, done = [], 0
    for n, scene, transform in shape:
        segments.append(Segment(n, scene, transform, done))
        done += n
    return segments


def total_steps(steps: int, frames: int = 0, steps_per_frame: int = 0, morph: bool = False) -> int:
    """Steps the whole film takes (what limits and ETAs count); a morph's: both ends fitted, the frames between painted."""
    if morph:
        return 2 * steps + max(frames - 2, 0) * steps_per_frame
    return steps + max(frames - 1, 0) * steps_per_frame


def check_morph(request) -> None:
    """A morph (``RenderRequest.morph_to``) goes from its init image to ``morph_to`` in ``zoom_frames`` frames, its
    prompt one scene for each end."""
    if not request.init_image:
        raise BadRequest("a morph starts from a picture: give the first one as its init image")
    if not MIN_MORPH_FRAMES <= request.zoom_frames <= MAX_FRAMES:
        raise BadRequest(f"a morph has {MIN_MORPH_FRAMES} to {MAX_FRAMES} frames, not {request.zoom_frames}")
    if len(scenes(request.prompt)) != 2:
        raise BadRequest(f"a morph's prompt is its two pictures' prompts, as 'a {SCENE_SEPARATOR} b'")
    if request.count != 1 or request.keep:
        raise BadRequest("a morph is one film; it paints no sets and keeps no region")
