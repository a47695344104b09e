"""A small Discord API emulator on 127.0.0.1: REST under ``/api/v10``, the gateway websocket, and
a CDN stand-in, enough for the real discord.py client to log in, sync commands, receive
interactions and reactions, and post and edit messages with files.

Tests drive it (``slash``, ``react``, ``click``) and read what the bot did (``requests``,
``messages``, ``wait_for``). It keeps everything in memory and records every REST call.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.waiting import PATIENCE

MANAGE_GUILD = 1 << 5
EVERYONE_PERMISSIONS = (1 << 6) | (1 << 10) | (1 << 11) | (1 << 15) | (1 << 16)  # react, view, send, attach, history


@dataclass
class Call:
    """One REST request the bot made."""

    method: str
    path: str
    json: Any = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Member:
    id: int
    name: str
    roles: tuple[int, ...] = ()
    permissions: int = EVERYONE_PERMISSIONS

    def user(self) -> dict:
        return {"id": str(self.id), "username": self.name, "discriminator": "0", "global_name": self.name, "avatar": None}

    def payload(self) -> dict:
        return {
            "user": self.user(), "roles": [str(r) for r in self.roles], "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False, "mute": False, "flags": 0, "permissions": str(self.permissions), "nick": None,
        }  # fmt: skip


class DiscordEmulator:
    def __init__(self) -> None:
        self._ids = itertools.count(1_000_000_000_000_000_000)
        self.app_id = self.snowflake()
        self.bot_user = {"id": str(self.app_id), "username": "dreambot", "discriminator": "0", "avatar": None, "bot": True}
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.other_channel_id = self.snowflake()
        self.nsfw_channel_id = self.snowflake()  # #after-dark: Discord's age-restricted flag is on
        self.thread_id = self.snowflake()  # a public thread of #dreams, in the guild's list at connect
        self.threads: dict[int, int] = {self.thread_id: self.channel_id}  # every thread, to its parent channel
        self.mod_role_id = self.snowflake()
        self.private_channel_id = self.snowflake()  # #mods-only: @everyone may not view it, the mods role may
        self.calls: list[Call] = []
        self.messages: dict[int, dict] = {}
        self.dm_channels: dict[int, int] = {}  # member id -> the id of the bot's direct-message channel with them
        self.closed_dms: set[int] = set()  # members who take no direct messages from the bot
        self.files: dict[int, dict[str, bytes]] = {}
        self.cdn: dict[str, bytes] = {}
        self.commands: dict[str, dict] = {}
        self.expired_tokens: set[str] = set()
        self.rate_limit_edits = 0
        self.token = "test-token"
        self._original: dict[str, int] = {}
        self.ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._sockets: list[tuple[web.WebSocketResponse, Any]] = []
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    def snowflake(self) -> int:
        return next(self._ids)

    def dms(self, member_id: int) -> list[dict]:
        """The direct messages the bot sent ``member_id``, oldest first."""
        channel = self.dm_channels.get(member_id)
        return [m for m in self.messages.values() if channel is not None and int(m["channel_id"]) == channel]

    def new_thread(self, parent_id: int) -> int:
        """A thread the bot's cache never heard of (like a private thread it was not added to): only the
        interactions from it say what it is."""
        thread_id = self.snowflake()
        self.threads[thread_id] = parent_id
        return thread_id

    def _thread(self, thread_id: int) -> dict:
        return {
            "id": str(thread_id), "type": 11, "guild_id": str(self.guild_id), "parent_id": str(self.threads[thread_id]),
            "owner_id": str(self.app_id), "name": f"thread {thread_id}", "last_message_id": None, "rate_limit_per_user": 0,
            "message_count": 0, "member_count": 1, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                                "archive_timestamp": "2026-01-01T00:00:00+00:00"},
        }  # fmt: skip

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base}/api/v10"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{name}", self._cdn)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for ws, _ in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    # what the bot did

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = PATIENCE) -> Any:
        """Wait until ``predicate()`` returns something truthy (re-checked after every REST call)."""
        async with self._changed:
            return await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    def calls_to(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    def interaction_replies(self, interaction_id: int) -> list[Call]:
        """The interaction's response and its follow-ups, in order."""
        return self.calls_to("POST", f"/interactions/{interaction_id}/") + self.calls_to("POST", f"/token-{interaction_id}")

    def _reply_bodies(self, interaction_id: int) -> list[dict]:
        bodies = []
        for call in self.interaction_replies(interaction_id):
            body = (call.json.get("data") or {}) if "/interactions/" in call.path else call.json
            if body.get("content") or body.get("embeds") or call.files:
                bodies.append(body)
        return bodies

    def reply_text(self, interaction_id: int) -> str | None:
        """What the bot answered (content and embed text), once it has answered with something to read."""
        for body in self._reply_bodies(interaction_id):
            parts = [body.get("content") or ""]
            for embed in body.get("embeds") or []:
                parts += [embed.get("title") or "", embed.get("description") or ""]
                parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
            return "\n".join(p for p in parts if p)
        return None

    def reply_flags(self, interaction_id: int) -> int:
        return self._reply_bodies(interaction_id)[0].get("flags", 0)

    def channel_messages(self, channel_id: int | None = None) -> list[dict]:
        channel = str(channel_id or self.channel_id)
        return [m for m in self.messages.values() if m["channel_id"] == channel and not m.get("deleted")]

    def job_message(self, job_id: str) -> dict | None:
        """The live message that shows ``job_id`` (its embed footer names the job)."""
        for message in reversed(list(self.messages.values())):
            embeds = message["embeds"]
            if not message.get("deleted") and embeds and f"job {job_id} " in embeds[0]["footer"]["text"]:
                return message
        return None

    def job_title(self, job_id: str) -> str:
        message = self.job_message(job_id)
        return message["embeds"][0]["title"] if message else ""

    async def wait_title(self, job_id: str, word: str, timeout: float = PATIENCE) -> dict:
        """Wait until the job's message title contains ``word`` (Queued, Painting, Done, Failed, Cancelled)."""
        await self.wait_for(lambda: word in self.job_title(job_id), timeout)
        return self.job_message(job_id)

    # driving the bot

    async def dispatch(self, event: str, data: dict) -> None:
        for ws, compressor in list(self._sockets):
            self._seq += 1
            await self._send(ws, compressor, {"op": 0, "t": event, "s": self._seq, "d": data})

    async def slash(
        self, name: str, options: list[dict] | None = None, member: Member | None = None, channel_id: int | None = None,
        attachments: dict[str, dict] | None = None, users: tuple[Member, ...] = (),
    ) -> int:  # fmt: skip
        """Send an application command interaction; returns its id. ``users``: the members its user options name
        (Discord sends them resolved)."""
        member = member or Member(self.snowflake(), "someone")
        channel = channel_id or self.channel_id
        interaction_id = self.snowflake()
        command = self.commands.get(name, {"id": str(self.snowflake())})
        data = {"id": command["id"], "name": name, "type": 1, "options": options or [], "guild_id": str(self.guild_id)}
        if attachments:
            data["resolved"] = {"attachments": attachments}
        if users:
            member_of = {str(u.id): {k: v for k, v in u.payload().items() if k != "user"} for u in users}
            data["resolved"] = {"users": {str(u.id): u.user() for u in users}, "members": member_of}
        await self.dispatch("INTERACTION_CREATE", self._interaction(interaction_id, 2, data, member, channel))
        return interaction_id

    def attachment(self, name: str, data: bytes, url: str | None = None, content_type: str = "image/png") -> dict:
        """Put ``data`` on the CDN stand-in and return the attachment object that refers to it."""
        self.cdn[name] = data
        attachment_id = str(self.snowflake())
        url = url or f"{self.base}/cdn/{name}"
        return {
            "id": attachment_id, "filename": name, "size": len(data), "url": url, "proxy_url": url,
            "content_type": content_type, "width": 64, "height": 64,
        }  # fmt: skip

    async def react(self, message_id: int, emoji: str, member: Member, channel_id: int | None = None) -> None:
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": str(member.id), "channel_id": str(channel_id or self.channel_id), "message_id": str(message_id),
                "guild_id": str(self.guild_id), "member": member.payload(), "emoji": {"id": None, "name": emoji},
                "burst": False, "type": 0, "message_author_id": str(self.app_id),
            },
        )  # fmt: skip

    async def click(self, message_id: int, custom_id: str, member: Member, shown: dict | None = None) -> int:
        """Press a button on one of the bot's messages; returns the interaction id. ``shown``: the message as the
        interaction carries it, where a forged one differs from the real message."""
        interaction_id = self.snowflake()
        message = shown or self.messages[message_id]
        data = {"custom_id": custom_id, "component_type": 2}
        payload = self._interaction(interaction_id, 3, data, member, int(message["channel_id"]))
        payload["message"] = message
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    def modal_of(self, interaction_id: int) -> dict | None:
        """The modal the bot answered an interaction with (response type 9), if it did."""
        for call in self.calls_to("POST", f"/interactions/{interaction_id}/"):
            if call.json.get("type") == 9:
                return call.json["data"]
        return None

    async def submit_modal(self, modal: dict, values: dict[str, str], member: Member, message_id: int) -> int:
        """Fill in and submit a modal the bot showed from a button on ``message_id``; returns the interaction id."""
        interaction_id = self.snowflake()
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": values[field["custom_id"]]}]}
            for row in modal["components"]
            for field in row["components"]
        ]
        data = {"custom_id": modal["custom_id"], "components": rows}
        payload = self._interaction(interaction_id, 5, data, member, int(self.messages[message_id]["channel_id"]))
        payload["message"] = self.messages[message_id]  # Discord sends the message of the button that opened it
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    async def autocomplete(self, name: str, options: list[dict], focused: str, member: Member) -> list[dict]:
        """Type into option ``focused`` of command ``name``; returns the choices the bot offers."""
        interaction_id = self.snowflake()
        typed = [{**o, "focused": True} if o["name"] == focused else o for o in options]
        data = {"id": self.commands[name]["id"], "name": name, "type": 1, "options": typed, "guild_id": str(self.guild_id)}
        await self.dispatch("INTERACTION_CREATE", self._interaction(interaction_id, 4, data, member, self.channel_id))
        await self.wait_for(lambda: self.calls_to("POST", f"/interactions/{interaction_id}/"))
        return self.calls_to("POST", f"/interactions/{interaction_id}/")[0].json["data"]["choices"]

    def _interaction(self, interaction_id: int, kind: int, data: dict, member: Member, channel_id: int) -> dict:
        return {
            "id": str(interaction_id), "application_id": str(self.app_id), "type": kind, "token": f"token-{interaction_id}",
            "version": 1, "guild_id": str(self.guild_id), "channel_id": str(channel_id),
            "channel": self._thread(channel_id) if channel_id in self.threads else {
                "id": str(channel_id), "type": 0, "guild_id": str(self.guild_id), "name": "dreams", "position": 0,
                "permission_overwrites": [], "nsfw": channel_id == self.nsfw_channel_id, "parent_id": None},
            "member": member.payload(), "data": data, "app_permissions": str((1 << 50) - 1), "locale": "en-US",
            "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0, "attachment_size_limit": 10 * 1024 * 1024,
        }  # fmt: skip

    # gateway

    def _guild(self) -> dict:
        role = {"color": 0, "hoist": False, "managed": False, "mentionable": False, "icon": None, "flags": 0}
        channel = {"type": 0, "guild_id": str(self.guild_id), "permission_overwrites": [], "nsfw": False, "parent_id": None}
        return {
            "id": str(self.guild_id), "name": "Dream Lab", "icon": None, "owner_id": str(self.snowflake()),
            "roles": [
                {**role, "id": str(self.guild_id), "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS), "position": 0},
                {**role, "id": str(self.mod_role_id), "name": "mods", "permissions": str(MANAGE_GUILD), "position": 1},
            ],
            "channels": [
                {**channel, "id": str(self.channel_id), "name": "dreams", "position": 0},
                {**channel, "id": str(self.other_channel_id), "name": "general", "position": 1},
                {**channel, "id": str(self.nsfw_channel_id), "name": "after-dark", "position": 2, "nsfw": True},
                {**channel, "id": str(self.private_channel_id), "name": "mods-only", "position": 3, "permission_overwrites": [
                    {"id": str(self.guild_id), "type": 0, "allow": "0", "deny": str(1 << 10)},
                    {"id": str(self.mod_role_id), "type": 0, "allow": str(1 << 10), "deny": "0"}]},
            ],
            "members": [], "member_count": 3, "features": [], "emojis": [], "stickers": [], "voice_states": [],
            "threads": [self._thread(self.thread_id)],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [], "unavailable": False,
            "large": False, "joined_at": "2026-01-01T00:00:00+00:00", "mfa_level": 0, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "afk_timeout": 300, "system_channel_flags": 0,
            "premium_tier": 0, "preferred_locale": "en-US", "nsfw_level": 0, "premium_progress_bar_enabled": False,
        }  # fmt: skip

    async def _send(self, ws: web.WebSocketResponse, compressor: Any, payload: dict) -> None:
        data = json.dumps(payload)
        if compressor is None:
            await ws.send_str(data)
        else:
            await ws.send_bytes(compressor.compress(data.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            await ws.close(code=4000, message=b"this emulator speaks zlib-stream only")
            return ws
        compressor = zlib.compressobj() if compress else None
        await self._send(ws, compressor, {"op": 10, "d": {"heartbeat_interval": 41250}})
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            if payload["op"] == 1:
                await self._send(ws, compressor, {"op": 11})
            elif payload["op"] in (2, 6):
                self._sockets.append((ws, compressor))
                self._seq += 1
                ready = {
                    "v": 10, "user": self.bot_user, "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                    "session_id": "emulated", "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                    "application": {"id": str(self.app_id), "flags": 0}, "shard": [0, 1], "private_channels": [],
                    "relationships": [], "presences": [],
                }  # fmt: skip
                await self._send(ws, compressor, {"op": 0, "t": "READY", "s": self._seq, "d": ready})
                await self.dispatch("GUILD_CREATE", self._guild())
                self.ready.set()
        self._sockets = [(w, c) for w, c in self._sockets if w is not ws]
        return ws

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.cdn.get(request.match_info["name"])
        return web.Response(body=data, content_type="image/png") if data is not None else web.Response(status=404)

    # REST

    async def _body(self, request: web.Request) -> tuple[Any, dict[str, tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            payload, files = None, {}
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    files[part.name] = (part.filename, bytes(await part.read()))
            return payload, files
        if request.can_read_body:
            return await request.json(), {}
        return None, {}

    async def _rest(self, request: web.Request) -> web.Response:
        webhook = "/interactions/" in request.path or "/webhooks/" in request.path  # authorised by their own token
        if not webhook and request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        body, files = await self._body(request)
        call = Call(request.method, "/" + request.match_info["path"], body, files)
        async with self._changed:
            self.calls.append(call)
            try:
                response = self._route(call)
            finally:
                self._changed.notify_all()
        return response

    def _route(self, call: Call) -> web.Response:
        parts = call.path.strip("/").split("/")
        match call.method, parts:
            case "GET", ["gateway", "bot"]:
                limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
                return _json({"url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1, "session_start_limit": limit})
            case "GET", ["users", "@me"]:
                return _json(self.bot_user)
            case "GET", ["oauth2", "applications", "@me"]:
                return _json({"id": str(self.app_id), "name": "dreambot", "description": "", "icon": None, "bot_public": True,
                              "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0, "team": None,
                              "owner": {**self.bot_user, "bot": False}, "summary": ""})  # fmt: skip
            case "PUT", ["applications", _, "commands"]:
                self.commands = {c["name"]: {**c, "id": str(self.snowflake()), "application_id": str(self.app_id), "version": "1"}
                                 for c in call.json}  # fmt: skip
                return _json(list(self.commands.values()))
            case "POST", ["interactions", interaction_id, token, "callback"]:
                return self._callback(int(interaction_id), token, call)
            case (("PATCH" | "GET" | "DELETE"), ["webhooks", _, token, "messages", message]):
                if token in self.expired_tokens:
                    return _json({"message": "Invalid Webhook Token", "code": 50027}, 401)
                return self._message_op(call, self._original.get(token) if message == "@original" else int(message))
            case "POST", ["webhooks", _, token]:
                if token in self.expired_tokens:
                    return _json({"message": "Invalid Webhook Token", "code": 50027}, 401)
                return _json(self._new_message(self.channel_id, call))
            case "POST", ["users", "@me", "channels"]:
                member = int(call.json["recipient_id"])
                channel_id = self.dm_channels.setdefault(member, self.snowflake())
                return _json({"id": str(channel_id), "type": 1, "last_message_id": None,
                              "recipients": [{"id": str(member), "username": f"member{member}", "discriminator": "0",
                                              "avatar": None}]})  # fmt: skip
            case "GET", ["users", user_id]:
                return _json({"id": user_id, "username": f"member{user_id}", "discriminator": "0", "avatar": None})
            case "POST", ["channels", channel_id, "messages"]:
                if any(int(channel_id) == dm for member, dm in self.dm_channels.items() if member in self.closed_dms):
                    return _json({"message": "Cannot send messages to this user", "code": 50007}, 403)
                return _json(self._new_message(int(channel_id), call))
            case (("PATCH" | "GET" | "DELETE"), ["channels", _, "messages", message_id]):
                return self._message_op(call, int(message_id))
            case "PUT", ["channels", _, "messages", _, "reactions", _, "@me"]:
                return web.Response(status=204)
        return _json({"message": f"emulator: no route for {call.method} {call.path}", "code": 0}, 404)

    def _callback(self, interaction_id: int, token: str, call: Call) -> web.Response:
        kind = call.json["type"]
        resource: dict[str, Any] = {"type": kind}
        message_id = None
        if kind in (4, 5):
            message = self._new_message(self.channel_id, Call("POST", "", call.json.get("data") or {}, call.files))
            self._original[token] = message_id = int(message["id"])
            resource["message"] = message
        flags = (call.json.get("data") or {}).get("flags", 0)
        return _json({
            "interaction": {"id": str(interaction_id), "type": 2, "response_message_id": str(message_id) if message_id else None,
                            "response_message_loading": kind == 5, "response_message_ephemeral": bool(flags & 64)},
            "resource": resource,
        })  # fmt: skip

    def _attachments(self, message_id: int, call: Call, kept: list[dict]) -> list[dict]:
        stored = self.files.setdefault(message_id, {})
        result = list(kept)
        for filename, data in call.files.values():
            stored[filename] = data
            url = f"{self.base}/cdn/{message_id}-{filename}"
            self.cdn[f"{message_id}-{filename}"] = data
            result.append({"id": str(self.snowflake()), "filename": filename, "size": len(data), "url": url, "proxy_url": url})
        return result

    def _new_message(self, channel_id: int, call: Call) -> dict:
        body = call.json or {}
        message_id = self.snowflake()
        message = {
            "id": str(message_id), "channel_id": str(channel_id), "guild_id": str(self.guild_id), "author": self.bot_user,
            "content": body.get("content") or "", "embeds": body.get("embeds") or [], "components": body.get("components") or [],
            "attachments": self._attachments(message_id, call, []), "timestamp": "2026-11-25T00:00:00+00:00",
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "pinned": False, "type": 0, "flags": body.get("flags", 0), "allowed_mentions": body.get("allowed_mentions"),
        }  # fmt: skip
        self.messages[message_id] = message
        return message

    def _message_op(self, call: Call, message_id: int | None) -> web.Response:
        message = self.messages.get(message_id) if message_id else None
        if message is None or message.get("deleted"):
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        if call.method == "GET":
            return _json(message)
        if call.method == "DELETE":
            message["deleted"] = True
            return web.Response(status=204)
        if self.rate_limit_edits > 0:
            self.rate_limit_edits -= 1
            headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.2",
                       "X-RateLimit-Bucket": "edit", "Retry-After": "0.2"}  # fmt: skip
            return _json({"message": "You are being rate limited.", "retry_after": 0.2, "global": False}, 429, headers)
        body = call.json or {}
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = body[key]
        if "attachments" in body or call.files:
            kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = self._attachments(message_id, call, kept)
        message["edited_timestamp"] = "2026-11-25T00:00:01+00:00"
        message.setdefault("edits", 0)
        message["edits"] += 1
        return _json(message)

    def delete(self, message_id: int) -> None:
        """A member deleted one of the bot's messages."""
        self.messages[message_id]["deleted"] = True


def _json(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    """discord.py reads a body as JSON only when the content type is exactly ``application/json``."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
