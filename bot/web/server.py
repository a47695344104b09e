"""The bot's web server (``[web] listen``), aiohttp's, in the bot's own process and event loop: ``/healthz`` for a
health check, ``/metrics`` for Prometheus (``[web] metrics``), and the gallery. A gallery link (``/g/TOKEN``, which
/gallery gives) is checked once and kept in a cookie, so no page carries it; every page checks the pass again, the
server's ``gallery`` setting, and which channels the member could see."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from PIL import Image

from bot.admission import advanced
from bot.queue.jobs import Job
from bot.web import pages
from bot.web.catalog import Catalog, Filters
from bot.web.links import Pass, verify

if TYPE_CHECKING:
    import discord

    from bot.admission.settings import SettingsStore
    from bot.config import Config
    from bot.queue.files import JobFiles
    from bot.queue.store import Store


class Served(Protocol):
    """What the web server needs of the bot (``bot/client.py``'s ``DreamBot``)."""

    config: Config
    store: Store
    settings: SettingsStore
    files: JobFiles

    def get_guild(self, guild_id: int, /) -> discord.Guild | None: ...

    def health(self) -> list[str]: ...

    async def scrape(self) -> bytes: ...


log = logging.getLogger(__name__)

COOKIE = "dreambot_gallery"
THUMB_SIDE = 320


def listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class WebServer:
    def __init__(self, bot: Served) -> None:
        self.bot = bot
        self.catalog = Catalog(bot.store)
        self.runner: web.AppRunner | None = None
        self.address = ""  # HOST:PORT it listens on, once started
        app = web.Application()
        app.add_routes([
            web.get("/healthz", self.healthz),
            web.get("/g/{token}", self.enter),
            web.get("/gallery", self.grid),
            web.get("/gallery/picture/{job}", self.picture),
            web.get("/gallery/image/{job}.png", self.image),
            web.get("/gallery/thumb/{job}.webp", self.thumb),
            web.get("/gallery/film/{job}.mp4", self.film),
        ])  # fmt: skip
        if bot.config.web.metrics:
            app.add_routes([web.get("/metrics", self.metrics)])
        self.app = app

    async def start(self) -> str:
        """Listen on ``[web] listen``; returns the address it listens on (a port 0 is chosen by the system)."""
        host, port = listen_address(self.bot.config.web.listen)
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        bound = self.runner.addresses[0]
        self.address = f"{bound[0]}:{bound[1]}"
        log.info("the web server listens on http://%s", self.address)
        return self.address

    def base_url(self) -> str:
        """Where members reach the server: ``[web] public_url``, else the address it listens on."""
        return self.bot.config.web.public_url.rstrip("/") or f"http://{self.address}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # operators

    async def healthz(self, request: web.Request) -> web.Response:
        problems = self.bot.health()
        if problems:
            return web.Response(status=503, text="; ".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def metrics(self, request: web.Request) -> web.Response:
        body = await self.bot.scrape()
        return web.Response(body=body, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})

    # the gallery

    async def enter(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        granted = verify(await self.bot.store.web_secret(), token, time.time())
        if granted is None:
            raise _refused(
                403, "This gallery link is not valid: it was altered or it has expired. Ask for a new one with /gallery."
            )
        response = web.HTTPSeeOther("/gallery")
        response.set_cookie(COOKIE, token, max_age=max(0, int(granted.expires - time.time())), httponly=True, samesite="Lax")
        return response

    async def _pass(self, request: web.Request) -> tuple[Pass, set[int]]:
        """The pass of the cookie, its server's gallery open to it, and the channels its member could see."""
        token = request.cookies.get(COOKIE, "")
        granted = verify(await self.bot.store.web_secret(), token, time.time()) if token else None
        if granted is None:
            raise _refused(403, "Open the gallery with the link /gallery gives you in Discord (links last a while, then expire).")
        mode = (await self.bot.settings.get(granted.guild_id)).gallery
        if mode == "off" or (mode == "members" and granted.user_id == 0):
            raise _refused(403, "This server's gallery is not open to this link; ask in Discord with /gallery.")
        return granted, await self.catalog.visible(granted.guild_id, granted.user_id)

    def _server(self, guild_id: int) -> str:
        guild = self.bot.get_guild(guild_id)
        return guild.name if guild is not None else "A server"

    async def grid(self, request: web.Request) -> web.Response:
        granted, channels = await self._pass(request)
        filters = _filters(request)
        jobs, total = await self.catalog.pictures(granted.guild_id, channels, filters)
        guild = self.bot.get_guild(granted.guild_id)
        names = {c.id: c.name for c in guild.channels} if guild is not None else {}
        html = pages.grid(self._server(granted.guild_id), jobs, total, filters, names)
        return web.Response(text=html, content_type="text/html")

    async def _job(self, request: web.Request) -> Job:
        """The picture a page names, only when the pass may see it: otherwise it does not exist."""
        granted, channels = await self._pass(request)
        job = await self.catalog.shown(granted.guild_id, channels, request.match_info["job"])
        if job is None:
            raise _refused(404, "There is no such picture in this gallery.")
        return job

    async def picture(self, request: web.Request) -> web.Response:
        job = await self._job(request)
        png = await self.bot.files.read(self.bot.files.result(job.id))
        parameters = await asyncio.to_thread(_parameters, png) if png else ""
        options = " ".join(f"{k}={v}" for k, v in _options(job).items())
        parent, children = await self.catalog.family(job)
        film = await asyncio.to_thread(self.bot.files.animation(job.id).is_file)
        html = pages.picture(self._server(job.guild_id), job, parameters, pages.dream_command(job.request, options), film,
                             parent, children)  # fmt: skip
        return web.Response(text=html, content_type="text/html")

    async def image(self, request: web.Request) -> web.StreamResponse:
        job = await self._job(request)
        return await self._file(self.bot.files.result(job.id), "image/png")

    async def film(self, request: web.Request) -> web.StreamResponse:
        job = await self._job(request)
        return await self._file(self.bot.files.animation(job.id), "video/mp4")

    async def thumb(self, request: web.Request) -> web.StreamResponse:
        job = await self._job(request)
        path = await asyncio.to_thread(thumbnail, self.bot.files.result(job.id), self.bot.files.folder(job.id) / "thumb.webp")
        if path is None:
            raise _refused(404, "That picture's file was cleaned up.")
        return await self._file(path, "image/webp")

    @staticmethod
    async def _file(path: Path, kind: str) -> web.StreamResponse:
        if not await asyncio.to_thread(path.is_file):
            raise _refused(404, "That picture's file was cleaned up.")
        return web.FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "private, max-age=86400"})


def thumbnail(picture: Path, thumb: Path) -> Path | None:
    """The picture's WebP thumbnail, made once and kept beside it (None: the picture is gone)."""
    if thumb.is_file():
        return thumb
    try:
        with Image.open(picture) as image:
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            image.convert("RGB").save(thumb.with_suffix(".part"), "WEBP", quality=80)
    except FileNotFoundError:
        return None
    thumb.with_suffix(".part").replace(thumb)
    return thumb


def _parameters(png: bytes) -> str:
    with Image.open(io.BytesIO(png)) as image:
        return str(image.text.get("parameters", "")) if hasattr(image, "text") else ""


def _options(job: Job) -> dict[str, object]:
    """The options a /dream's ``options`` string gives to paint ``job`` again (the knobs beyond the defaults)."""
    given = advanced.given(job.request)
    return {**{k: v for k, v in given.items() if k != "options"}, **given.get("options", {})}


def _filters(request: web.Request) -> Filters:
    query = request.query

    def number(name: str) -> int | None:
        value = query.get(name, "")
        return int(value) if value.isdigit() and len(value) < 21 else None

    return Filters(
        member=number("member"), model=query.get("model", "")[:64] or None, channel=number("channel"),
        words=query.get("q", "")[:200], like=query.get("like", "")[:32] or None, page=max(1, min(number("page") or 1, 10_000)),
    )  # fmt: skip


def _refused(status: int, text: str) -> web.HTTPException:
    """A page that says why, with its status (403: this pass may not; 404: not here for this pass)."""
    kind = {403: web.HTTPForbidden, 404: web.HTTPNotFound}[status]
    return kind(text=pages.refused(text), content_type="text/html")
