"""Fake chat-platform servers on 127.0.0.1 that the real PTB and discord.py libraries talk to."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "藏头", "username": "cangtou_bot"}


ADMIN_RIGHTS = [
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
]


async def serve_on_free_port(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 on a port the kernel picks; returns the runner and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def _decode(value):
    if isinstance(value, web.FileField):  # an upload (sendPhoto): its bytes
        return value.file.read()
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


@dataclass
class Call:
    method: str
    params: dict
    at: float = field(default_factory=time.monotonic)


class FakeBotApi:
    """The Telegram Bot API, as much of it as cangtou uses: records calls, serves queued updates."""

    def __init__(self, token: str = "123:TEST"):
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.members: dict[tuple[int, int], str] = {}  # (chat, user) → status
        self.fail_methods: set[str] = set()
        self.on_call = None  # optional callable(Call), e.g. to time replies in a benchmark
        self._ids = itertools.count(1)
        self._messages = itertools.count(100)
        self._new_update = asyncio.Event()
        self._call_event = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.runner, self.port = await serve_on_free_port(app)

    async def stop(self) -> None:
        self._new_update.set()  # a long poll in flight returns now, not after its timeout
        if self.runner:
            await self.runner.cleanup()

    # --- what a test does ------------------------------------------------------------------------
    def push(self, update: dict) -> int:
        update_id = next(self._ids)
        self.updates.append({"update_id": update_id, **update})
        self._new_update.set()
        return update_id

    def command(self, text: str, user_id=1, chat_id=None, chat_type="private", name="Li Bai"):
        chat_id = chat_id or user_id
        command_length = len(text.split()[0]) if text.strip() else 0
        return self.push(
            {
                "message": {
                    "message_id": next(self._messages),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": chat_type, "title": "诗社"},
                    "from": {"id": user_id, "is_bot": False, "first_name": name},
                    "text": text,
                    "entities": [{"type": "bot_command", "offset": 0, "length": command_length}]
                    if text.startswith("/")
                    else [],
                }
            }
        )

    def press(self, data: str, message: dict | None, user_id=1, name="Du Fu", inline_id=None):
        """A button press under `message`, or (message None) under the inline message
        `inline_id`, which Telegram sends without the message."""
        where = {"message": message} if message is not None else {"inline_message_id": inline_id}
        return self.push(
            {
                "callback_query": {
                    "id": str(next(self._ids) + 10_000),
                    "from": {"id": user_id, "is_bot": False, "first_name": name},
                    "chat_instance": "ci-1",
                    "data": data,
                    **where,
                }
            }
        )

    def inline_query(self, query: str, user_id=1, name="Li Bai") -> int:
        """`@bot <query>` typed in some chat."""
        user = {"id": user_id, "is_bot": False, "first_name": name}
        inline = {"id": f"iq{next(self._ids)}", "from": user, "query": query, "offset": ""}
        return self.push({"inline_query": {**inline, "chat_type": "group"}})

    def choose(self, result_id: str, query: str, inline_id: str, user_id=1, name="Li Bai"):
        """The user posted one of the inline results (sent with BotFather's inline feedback)."""
        chosen = {"result_id": result_id, "query": query, "inline_message_id": inline_id,
                  "from": {"id": user_id, "is_bot": False, "first_name": name}}  # fmt: skip
        return self.push({"chosen_inline_result": chosen})

    def sent(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.sent(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} called {len(self.sent(method))}× of {count}")
            self._call_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._call_event.wait(), 0.2)
        return self.sent(method)

    # --- the server ------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(  # as Telegram does: HTTP 401 too
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update({k: _decode(v) for k, v in (await request.post()).items()})
        if method == "getUpdates":
            return self._ok(await self._get_updates(params))
        call = Call(method, params)
        self.calls.append(call)
        self._call_event.set()
        if self.on_call is not None:
            self.on_call(call)
        if method in self.fail_methods:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            )
        return self._ok(self._result(method, params))

    async def _get_updates(self, params: dict):
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        return self.updates[:100]

    @staticmethod
    def _ok(result) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    def _result(self, method: str, params: dict):
        if method == "getMe":
            return BOT_USER
        if method.startswith("edit") and params.get("inline_message_id"):
            return True  # an inline message is edited without being returned
        if method in ("sendMessage", "editMessageText", "sendPhoto", "editMessageCaption"):
            chat_id = params.get("chat_id", 0)
            message = {
                "message_id": params.get("message_id") or next(self._messages),
                "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"},
                "from": BOT_USER,
            }
            if method in ("sendPhoto", "editMessageCaption"):
                size = {"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}
                message.update(photo=[size], caption=params.get("caption", ""))
            else:
                message["text"] = params.get("text", "")
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        if method == "getChatMember":
            key = (int(params["chat_id"]), int(params["user_id"]))
            status = self.members.get(key, "member")
            member = {"status": status, "user": {"id": key[1], "is_bot": False, "first_name": "x"}}
            if status == "administrator":
                member.update(dict.fromkeys(ADMIN_RIGHTS, False))
            return member
        if method == "deleteWebhook" and params.get("drop_pending_updates"):
            self.updates.clear()
        return True


def buttons_of(call: Call) -> list[list[dict]]:
    markup = call.params.get("reply_markup") or {}
    return markup.get("inline_keyboard", [])


def count_by(calls: list[Call], key: str) -> dict:
    counts: dict = defaultdict(int)
    for call in calls:
        counts[call.params.get(key)] += 1
    return counts
