"""A fake Discord (REST + gateway) on 127.0.0.1 for the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.fakes import serve_on_free_port

APP_ID = 7000
GUILD_ID = (1 << 22) + 8000  # a snowflake on shard 1 of 2 or of 4
CHANNEL_ID = 8001
BOT = {"id": "7001", "username": "cangtou", "discriminator": "0", "global_name": None,
       "avatar": None, "bot": True}  # fmt: skip
TIMESTAMP = "2026-11-22T00:00:00.000000+00:00"


def user(user_id: int, name: str = "libai") -> dict:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name,
            "avatar": None}  # fmt: skip


def member(user_id: int, permissions: int = 0x800) -> dict:
    return {"user": user(user_id), "roles": [], "joined_at": TIMESTAMP, "deaf": False,
            "mute": False, "flags": 0, "permissions": str(permissions)}  # fmt: skip


@dataclass
class Request:
    method: str
    path: str
    body: dict
    at: float = field(default_factory=time.monotonic)
    files: dict[str, bytes] = field(default_factory=dict)  # multipart uploads: name → bytes


def json_response(data, status: int = 200) -> web.Response:
    # discord.py decodes only when the content type is exactly application/json
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


class FakeDiscord:
    def __init__(self):
        self.requests: list[Request] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.messages: dict[str, dict] = {}
        self.originals: dict[str, str] = {}  # interaction token → the message its button is on
        self._ids = itertools.count(9_000_000)
        self._seq = itertools.count(1)
        self._event = asyncio.Event()
        self.identified = asyncio.Event()  # a client has IDENTIFYed and got READY
        self.identifies: list[dict] = []  # IDENTIFY payloads (one per shard)
        self._socket_shards: list = []  # (shard, count) of each connection
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self.runner, self.port = await serve_on_free_port(app)

    async def stop(self) -> None:
        for socket in self.sockets:
            with contextlib.suppress(Exception):
                await socket.close()
        if self.runner:
            await self.runner.cleanup()

    # --- what a test does ------------------------------------------------------------------------
    def made(self, method: str, contains: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and contains in r.path]

    async def wait_for(self, method: str, contains: str, count: int = 1, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while len(self.made(method, contains)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {contains}: {len(self.made(method, contains))}×")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), 0.2)
        return self.made(method, contains)

    async def slash(self, name: str, options: dict, user_id: int = 1, permissions: int = 0) -> str:
        """Send an application-command interaction; returns its token."""
        typed = [{"name": k, "type": 4 if isinstance(v, int) else 3, "value": v}
                 for k, v in options.items()]  # fmt: skip
        data = {"id": str(next(self._ids)), "name": name, "type": 1, "options": typed}
        return await self._interaction(2, data, user_id, permissions)

    async def click(self, custom_id: str, message: dict, user_id: int = 2) -> str:
        data = {"custom_id": custom_id, "component_type": 2}
        token = await self._interaction(3, data, user_id, 0, message)
        self.originals[token] = message["id"]
        return token

    async def _interaction(self, kind, data, user_id, permissions, message=None) -> str:
        token = f"tok{next(self._ids)}"
        payload = {
            "id": str(next(self._ids)), "application_id": str(APP_ID), "type": kind,
            "token": token, "version": 1, "guild_id": str(GUILD_ID),
            "channel_id": str(CHANNEL_ID), "channel": self._channel(),
            "member": member(user_id, permissions), "data": data, "locale": "zh-CN",
            "guild_locale": "zh-CN", "app_permissions": "2147483647", "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }  # fmt: skip
        if message is not None:
            payload["message"] = message
        await self._dispatch("INTERACTION_CREATE", payload)
        return token

    # --- gateway ---------------------------------------------------------------------------------
    def _channel(self) -> dict:
        return {"id": str(CHANNEL_ID), "type": 0, "name": "诗社", "guild_id": str(GUILD_ID),
                "position": 0, "permission_overwrites": [], "nsfw": False}  # fmt: skip

    async def _dispatch(self, event: str, data: dict) -> None:
        """To the one connection whose shard owns the guild (Discord's (id >> 22) % count)."""
        frame = json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
        for socket, shard in zip(self.sockets, self._socket_shards, strict=True):
            if socket.closed:
                continue
            if shard is None or (GUILD_ID >> 22) % shard[1] == shard[0]:
                await socket.send_str(frame)
                return

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        self._socket_shards.append(None)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame["op"] == 1:
                await socket.send_str(json.dumps({"op": 11}))
            elif frame["op"] == 2:
                self.identifies.append(frame["d"])
                self._socket_shards[self.sockets.index(socket)] = frame["d"].get("shard")
                await self._ready(socket, frame["d"].get("shard"))
        return socket

    async def _ready(self, socket, shard=None) -> None:
        ready = {
            "v": 10, "user": BOT, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": "session", "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": 0},
        }  # fmt: skip
        if shard is not None:
            ready["shard"] = shard
        guild = {
            "id": str(GUILD_ID), "name": "诗社", "icon": None, "owner_id": "1",
            "roles": [{"id": str(GUILD_ID), "name": "@everyone", "permissions": "1024",
                       "position": 0, "color": 0, "hoist": False, "managed": False,
                       "mentionable": False, "flags": 0}],
            "channels": [self._channel()], "members": [member(1)], "member_count": 1,
            "features": [], "emojis": [], "stickers": [], "threads": [], "voice_states": [],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "unavailable": False, "large": False, "joined_at": TIMESTAMP,
            "premium_tier": 0, "preferred_locale": "zh-CN", "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "system_channel_flags": 0, "nsfw_level": 0,
        }  # fmt: skip
        for event, data in (("READY", ready), ("GUILD_CREATE", guild)):
            seq = next(self._seq)
            await socket.send_str(json.dumps({"op": 0, "t": event, "s": seq, "d": data}))
        self.identified.set()

    # --- REST ------------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: dict = {}
        files: dict[str, bytes] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
            elif request.content_type.startswith("multipart"):
                async for part in await request.multipart():
                    if part.name == "payload_json":
                        body = json.loads(await part.text())
                    else:
                        files[part.filename or part.name] = await part.read()
        self.requests.append(Request(request.method, path, body, files=files))
        self._event.set()
        return self._answer(request.method, path, body)

    def _message(self, body: dict, message_id: str | None = None) -> dict:
        message_id = message_id or str(next(self._ids))
        message = {
            "id": message_id, "channel_id": str(CHANNEL_ID), "author": BOT,
            "content": body.get("content", ""), "timestamp": TIMESTAMP,
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0,
            "flags": body.get("flags", 0), "components": body.get("components", []),
        }  # fmt: skip
        self.messages[message_id] = message
        return message

    def _answer(self, method: str, path: str, body: dict) -> web.Response:
        if path == "/users/@me":
            return json_response(BOT)
        if path == "/oauth2/applications/@me":
            return json_response({
                "id": str(APP_ID), "name": "cangtou", "description": "", "icon": None,
                "bot_public": True, "bot_require_code_grant": False, "owner": user(1),
                "verify_key": "0" * 64, "flags": 0, "team": None, "summary": "",
            })  # fmt: skip
        if path.startswith(f"/applications/{APP_ID}/commands"):
            return json_response([
                {"id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1",
                 "default_member_permissions": None, "type": 1, "nsfw": False, **command}
                for command in body or []
            ])  # fmt: skip
        if path.startswith("/interactions/") and path.endswith("/callback"):
            interaction_id = path.split("/")[2]
            message = self._message(body.get("data") or {})
            interaction = {"id": interaction_id, "type": body.get("type"),
                           "response_message_id": message["id"],
                           "response_message_loading": body.get("type") == 5,
                           "response_message_ephemeral": False}  # fmt: skip
            return json_response(
                {
                    "interaction": interaction,
                    "resource": {"type": body.get("type"), "message": message},
                }
            )
        if path.startswith(f"/webhooks/{APP_ID}/"):
            if method == "POST":
                return json_response(self._message(body))
            if method == "PATCH":  # .../messages/@original is the message the button is on
                token, message_id = path.split("/")[3], path.rsplit("/", 1)[-1]
                message_id = self.originals.get(token, message_id)
                return json_response(self._message(body, message_id))
        if method == "POST" and path.startswith("/channels/"):
            return json_response(self._message(body))
        return json_response({"message": "Unknown route", "code": 0}, status=404)
