"""The commands that make jobs: /dream, /zoom, /story, /deepdream, /describe and /morph. What members do with jobs once made
(/cancel, /queue, /mine, reactions) is in ``cogs/jobs.py``; the actions themselves live in
``bot/actions/job_actions.py``, shared with the buttons."""

from __future__ import annotations

import dataclasses
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions.job_actions import MakeRequest
from bot.admission import advanced, attachments
from bot.admission.attachments import png_size
from bot.admission.refusal import Refusal
from bot.admission.requests import DeepDreamOptions, DreamOptions, build_dream_request, build_request, with_picture
from bot.admission.settings import GuildSettings
from bot.client import DreamBot
from bot.display.replies import answer_in_time, reply
from contract.deepdream import DREAM_LAYERS
from contract.films import MAX_FRAMES, MIN_MORPH_FRAMES, MORPH_FRAMES, SCENE_SEPARATOR, scenes
from contract.limits import MAX_COUNT, MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS
from contract.protocol import RenderRequest
from contract.registry import generator_names

log = logging.getLogger(__name__)

SHARED_OPTIONS = {"size": "WIDTHxHEIGHT, e.g. 256x256", "model": "generator", "init_image": "start from this picture"}


class Dream(commands.Cog):
    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self.actions = bot.actions

    @app_commands.command(name="dream", description="Paint a picture from words")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt='what to paint; several prompts as "a | b:0.5 | c:-1"',
        seed="random seed (same seed, same picture)",
        steps="optimization steps (more: more detail, slower)",
        count=f"paint 1 to {MAX_COUNT} pictures at once, posted as one grid with V and U buttons",
        negative="what the picture should not look like (advanced)",
        image_prompt="steer towards this picture (advanced)",
        options="advanced: key=value pairs, e.g. cutn=64 lr=0.05; start typing to see the keys",
        preset="a named style (the server's or a built-in one): adds its prompt parts, its model and options",
        **SHARED_OPTIONS,
    )
    async def dream(
        self,
        interaction: discord.Interaction,
        prompt: str,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: int | None = None,
        size: str | None = None,
        model: str | None = None,
        init_image: discord.Attachment | None = None,
        count: app_commands.Range[int, 1, MAX_COUNT] | None = None,
        negative: app_commands.Range[str, 1, 300] | None = None,
        image_prompt: discord.Attachment | None = None,
        options: str | None = None,
        preset: str | None = None,
    ) -> None:
        asked = DreamOptions(prompt, seed, steps, size, model, count=count, negative=negative, options_text=options)
        assert interaction.guild_id is not None
        # the preset named here, else the one the server's style names (whose parts join as the style)
        default = await self.actions.default_preset(interaction.guild_id, interaction.channel_id)
        chosen = await self.actions.preset(interaction.guild_id, interaction.channel_id, preset) if preset else default
        if chosen is not None:
            asked = dataclasses.replace(
                asked, prompt=chosen.applied(prompt) if preset else prompt, model=model or chosen.model,
                options_text=options or chosen.options, styled=not (preset and default),
            )  # fmt: skip
        await self._queue(interaction, asked, init_image, image_prompt)

    @app_commands.command(name="zoom", description="An endless zoom into a picture, as a film")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt='what to paint; several prompts as "a | b:0.5 | c:-1"; scenes as "a || b"',
        frames="frames of the film (each one zooms, then paints a little more)",
        zoom="scale per frame: 1.02 is 2% closer, below 1 moves away",
        rotate="degrees per frame, counter-clockwise",
        shift="pixels per frame, right and down, e.g. 2,-1",
        steps="steps of the first frame",
        steps_per_frame="steps of every later frame",
        seed="random seed (same seed, same film)",
        **SHARED_OPTIONS,
    )
    async def zoom(
        self,
        interaction: discord.Interaction,
        prompt: str,
        frames: app_commands.Range[int, 1, MAX_FRAMES] = 30,
        zoom: float | None = None,
        rotate: float | None = None,
        shift: str | None = None,
        steps: int | None = None,
        steps_per_frame: int | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        size: str | None = None,
        model: str | None = None,
        init_image: discord.Attachment | None = None,
    ) -> None:
        options = DreamOptions(prompt, seed, steps, size, model, frames, steps_per_frame, zoom, rotate, shift)
        await self._queue(interaction, options, init_image)

    @app_commands.command(name="story", description="A film of several prompts, one after another")
    @app_commands.guild_only()
    @app_commands.describe(
        lines='the scenes, in order, separated by ||: "a seed || a sapling || an old oak"',
        steps_per_line="steps of each scene",
        fade="share of each scene over which it takes over from the last (0 to 1)",
        captions="show each scene's line in the film",
        seed="random seed (same seed, same film)",
        size=SHARED_OPTIONS["size"],
        model=SHARED_OPTIONS["model"],
    )
    async def story(
        self,
        interaction: discord.Interaction,
        lines: str,
        steps_per_line: int | None = None,
        fade: app_commands.Range[float, 0.0, 1.0] | None = None,
        captions: bool = False,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        size: str | None = None,
        model: str | None = None,
    ) -> None:
        if len(scenes(lines)) < 2:
            await reply(
                interaction, f"A story has at least two scenes: separate them with {SCENE_SEPARATOR}, e.g. `a seed || an oak`."
            )
            return
        options = DreamOptions(lines, seed, None, size, model, steps_per_scene=steps_per_line, fade=fade, captions=captions)
        await self._queue(interaction, options, None)

    async def _queue(
        self,
        interaction: discord.Interaction,
        options: DreamOptions,
        init_image: discord.Attachment | None,
        image_prompt: discord.Attachment | None = None,
    ) -> None:
        """Admit, store and announce a job: the same checks, queue and messages for pictures and films."""
        config = self.bot.config
        files = self.bot.files
        options = dataclasses.replace(options, image_prompt=image_prompt is not None)

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            """Admitted first, downloaded after: a refused request costs no download."""
            given = {files.init_image(job_id): init_image, files.image_prompt(job_id, 0): image_prompt}
            init, prompt = (str(path) if attachment is not None else None for path, attachment in given.items())
            pictures = options.pictures(init, (prompt,) if prompt else ())
            request = build_request(pictures, settings, config.defaults.perceptor, config.engine.preview_every)
            for path, attachment in given.items():
                if attachment is not None:
                    data = await attachments.init_image(attachment.url, attachment.size, config.discord.api_base)
                    await files.write(path, data)
            return request

        await self._submit(interaction, make_request, slow=init_image is not None or image_prompt is not None)

    async def _submit(self, interaction: discord.Interaction, make_request: MakeRequest, slow: bool) -> None:
        """Admit, store and announce the job ``make_request`` makes; ``slow``: it downloads a picture first."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        self.actions.learn_place(interaction.channel)
        if slow:
            await interaction.response.defer(ephemeral=True, thinking=True)  # the download may take a while
        async with answer_in_time(interaction):
            job, position = await self.actions.submit(
                interaction.guild_id, interaction.channel_id, interaction.user, make_request
            )
        where = "it starts next" if position <= 1 else f"position {position} in the queue"
        seed = "" if job.request.describe else f" (seed {job.request.seed})"
        queued = f"Queued as job `{job.id}`{seed}, {where}."
        await reply(interaction, f"{queued} Progress appears in this channel.")
        if problem := await self.actions.announce(job, position):
            await interaction.followup.send(problem, ephemeral=True)

    @app_commands.command(name="deepdream", description="Dream on a picture with InceptionV1 (DeepDream, 2015)")
    @app_commands.guild_only()
    @app_commands.describe(
        image="the picture to dream on (the dream keeps its size, within this server's largest)",
        prompt="steer the dream towards these words with CLIP (optional)",
        steps="steps in all, spread over the octaves",
        layer="the layer to amplify: early ones paint textures, late ones eyes and creatures",
        seed="random seed of the jitter (same seed, same dream)",
    )
    @app_commands.choices(layer=[app_commands.Choice(name=layer, value=layer) for layer in DREAM_LAYERS])
    async def deepdream(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        steps: int | None = None,
        layer: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
    ) -> None:
        config, files = self.bot.config, self.bot.files
        asked = DeepDreamOptions(prompt or "", steps, layer, seed)

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            request = build_dream_request(
                asked, settings, config.defaults.dreamer, config.defaults.perceptor, config.engine.preview_every
            )
            data = await attachments.init_image(image.url, image.size, config.discord.api_base)
            return with_picture(request, settings, str(await files.write(files.init_image(job_id), data)), png_size(data))

        await self._submit(interaction, make_request, slow=True)

    @app_commands.command(name="morph", description="A film from one of your pictures to another of the same model")
    @app_commands.guild_only()
    @app_commands.describe(
        job_a="the job the film starts on (its id, shown under its picture)",
        job_b="the job the film ends on",
        frames=f"frames of the film (default {MORPH_FRAMES}, within the server's largest)",
        steps_per_frame="steps painted on each frame between the two pictures",
    )
    async def morph(
        self,
        interaction: discord.Interaction,
        job_a: app_commands.Range[str, 1, 32],
        job_b: app_commands.Range[str, 1, 32],
        frames: app_commands.Range[int, MIN_MORPH_FRAMES, MAX_FRAMES] | None = None,
        steps_per_frame: app_commands.Range[int, 1, MAX_STEPS] | None = None,
    ) -> None:
        self.actions.learn_place(interaction.channel)
        try:
            async with answer_in_time(interaction):
                await self.actions.check_blocked(interaction.guild_id, interaction.user)
                first, second = [await self.actions.job_here(job_id.strip(), interaction.guild_id) for job_id in (job_a, job_b)]
                job = await self.actions.morph(first, second, interaction.user, frames, steps_per_frame, interaction.permissions)
        except Refusal as refusal:
            await reply(interaction, str(refusal))
            return
        frames_said = f"{job.request.zoom_frames} frames"
        await reply(
            interaction, f"Queued as job `{job.id}`: a morph of {frames_said} from job `{first.id}` to job `{second.id}`."
        )

    @app_commands.command(name="describe", description="The words CLIP finds closest to a picture, and prompts to paint it")
    @app_commands.guild_only()
    @app_commands.describe(image="the picture to describe (PNG, JPEG or WebP)")
    async def describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        config, files = self.bot.config, self.bot.files

        async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
            request = RenderRequest(
                "", model=settings.model, perceptor=config.defaults.perceptor, steps=1,
                preview_every=config.engine.preview_every, describe=True,
            )  # fmt: skip
            data = await attachments.init_image(image.url, image.size, config.discord.api_base)
            return with_picture(request, settings, str(await files.write(files.init_image(job_id), data)), png_size(data))

        await self._submit(interaction, make_request, slow=True)

    @dream.autocomplete("model")
    @zoom.autocomplete("model")
    @story.autocomplete("model")
    async def _models(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in generator_names() if current.lower() in n][:25]

    @dream.autocomplete("preset")
    async def _presets(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        assert interaction.guild_id is not None
        known = await self.actions.presets(interaction.guild_id, interaction.channel_id)
        return [app_commands.Choice(name=n, value=n) for n in sorted(known) if current.lower() in n][:25]

    @dream.autocomplete("options")
    async def _options(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The keys the chosen model (else this channel's default) takes, as the member types."""
        model = interaction.namespace.model
        if model not in generator_names():
            assert interaction.guild_id is not None
            model = (await self.bot.settings.get(interaction.guild_id, interaction.channel_id)).model
        return [app_commands.Choice(name=name, value=value) for name, value in advanced.suggestions(current, model) if value]


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Dream(bot))
