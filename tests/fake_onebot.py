"""A small OneBot v11 implementation, as NapCat or Lagrange would be for one QQ account: a
reverse-WebSocket client that connects to the bot with its access token, sends real OneBot event
JSON, and answers the API calls it gets (send_msg, send_group_msg, send_private_msg, get_msg),
keeping each. Only ever talks to 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time

import aiohttp

_message_ids = itertools.count(5000)


class Refused(Exception):
    """The bot refused the connection (a wrong access token: HTTP 403)."""


def text_segment(text: str) -> dict:
    return {"type": "text", "data": {"text": text}}


class FakeOneBot:
    def __init__(self, url: str, token: str, self_id: int = 10001):
        self.url, self.token, self.self_id = url, token, self_id
        self.calls: list[dict] = []  # every API call: {"action", "params"}
        self.sent: dict[int, dict] = {}  # message id → what the bot sent (for get_msg)
        self.new_call = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._socket = None
        self._reader: asyncio.Task | None = None

    async def connect(self, timeout: float = 60.0) -> None:
        """Connect (retrying while the bot starts); Refused on a 401/403."""
        self._session = aiohttp.ClientSession()
        headers = {"X-Self-ID": str(self.self_id), "X-Client-Role": "Universal",
                   "Authorization": f"Bearer {self.token}"}  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._socket = await self._session.ws_connect(self.url, headers=headers)
                break
            except aiohttp.WSServerHandshakeError as e:
                await self._session.close()
                raise Refused(str(e.status)) from e
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    await self._session.close()
                    raise
                await asyncio.sleep(0.2)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        async for frame in self._socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            call = json.loads(frame.data)
            self.calls.append({"action": call["action"], "params": call.get("params", {})})
            await self._socket.send_str(json.dumps(self._answer(call), ensure_ascii=False))
            self.new_call.set()

    def _answer(self, call: dict) -> dict:
        action, params = call["action"], call.get("params", {})
        data = None
        if action in ("send_msg", "send_group_msg", "send_private_msg"):
            message_id = next(_message_ids)
            self.sent[message_id] = params
            data = {"message_id": message_id}
        elif action == "get_msg":
            message_id = int(params["message_id"])
            sent = self.sent.get(message_id)
            if sent is None:
                return {
                    "status": "failed",
                    "retcode": 1404,
                    "data": None,
                    "echo": call.get("echo"),
                }
            data = {"time": int(time.time()), "message_type": sent.get("message_type", "group"),
                    "message_id": message_id, "real_id": message_id,
                    "sender": {"user_id": self.self_id, "nickname": "藏头诗"},
                    "message": sent["message"]}  # fmt: skip
        return {"status": "ok", "retcode": 0, "data": data, "echo": call.get("echo")}

    async def group_message(self, segments: list[dict] | str, *, user_id: int = 1001,
                            group_id: int = 2001, role: str = "member") -> int:  # fmt: skip
        """Send a group message event; returns its message id."""
        if isinstance(segments, str):
            segments = [text_segment(segments)]
        message_id = next(_message_ids)
        raw = "".join(s["data"].get("text", "") for s in segments)
        event = {
            "time": int(time.time()), "self_id": self.self_id, "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": message_id,
            "group_id": group_id, "user_id": user_id, "message": segments,
            "message_format": "array", "raw_message": raw, "font": 0,
            "sender": {"user_id": user_id, "nickname": "小明", "card": "", "role": role},
        }  # fmt: skip
        await self._socket.send_str(json.dumps(event, ensure_ascii=False))
        return message_id

    async def next_call(self, action_prefix: str = "send_", timeout: float = 60.0) -> dict:
        """The next API call whose action starts with `action_prefix` (consumed)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, call in enumerate(self.calls):
                if call["action"].startswith(action_prefix):
                    return self.calls.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {action_prefix}* call in {timeout} s: {self.calls}")
            self.new_call.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_call.wait(), remaining)

    def sent_id(self, call: dict) -> int:
        """The message id this fake gave the message a call sent."""
        return next(i for i, params in self.sent.items() if params is call["params"])


def plain(message: list[dict]) -> str:
    return "".join(s["data"].get("text", "") for s in message if s["type"] == "text")
