"""Every limit and default of a request, written once: the bot, the command line, the config and
the engine all read them from here."""

from __future__ import annotations

import secrets

MAX_STEPS = 10_000
MIN_SIDE = 16
MAX_SIDE = 2048
MAX_CUTN = 256
MAX_PROMPT_CHARS = 1000
MAX_IMAGE_PIXELS = 40_000_000  # init and image prompts: larger pictures are refused before decoding
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # the only decoders a member's picture may reach
MAX_SEED = 2**53  # Discord's integer options end here, so every seed the CLI takes can be typed into /dream
NEW_SEED_BELOW = 2**31  # a fresh seed (CLI, /dream, 🔁) stays short enough to read and type
MAX_BATCH = 8  # jobs one engine paints at once, whatever [engine] batch says
STALL_TIMEOUT = 300.0  # seconds without any event from a running job before its engine is killed
MAX_COUNT = 4  # candidates of one request, painted as one batch and posted as one grid

OPTIMIZERS = ("adam", "adamw", "sgd")

DEFAULT_MODEL = "vqgan-imagenet-f16-16384"
DEFAULT_PERCEPTOR = "ViT-B-32/openai"
DEFAULT_UPSCALER = "realesrgan-x4plus"
UPSCALE = 4  # how much larger an upscale makes a picture, each side
# The largest side an upscale starts from: its result (4096 a side, 50 MP) is 200 MB as the engine's tensor and
# a PNG within the bot's bound on a worker's result; 2048 would give 800 MB and PNGs past that bound.
MAX_UPSCALE_SIDE = 1024
DEFAULT_STEPS = 300
DEFAULT_WIDTH = DEFAULT_HEIGHT = 256
DEFAULT_SIZE = f"{DEFAULT_WIDTH}x{DEFAULT_HEIGHT}"
DEFAULT_CUTN = 32
DEFAULT_CUT_POW = 1.0
DEFAULT_OPTIMIZER = "adam"
DEFAULT_PREVIEW_EVERY = 10
DEFAULT_STEPS_PER_FRAME = 10  # a zoom's frames after the first
DEFAULT_ZOOM = 1.02
DEFAULT_STORY_FADE = 0.25


def new_seed() -> int:
    """A fresh random seed for a request that gave none."""
    return secrets.randbelow(NEW_SEED_BELOW)
