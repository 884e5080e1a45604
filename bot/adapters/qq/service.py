"""The cangtou runtime the plugin's matchers talk to: in a host bot, one the plugin starts and
stops with the host's driver; under `acrostic run`, the one `acrostic run` built (`attach`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict

import nonebot

from bot.base import messages
from bot.chat.actors import Actor
from bot.chat.limits import RateLimiter
from bot.chat.replies import Reply
from bot.runtime.app import Runtime, build_runtime
from bot.runtime.services import Services

from .config import settings_from
from .replies import sent_id, to_message

log = logging.getLogger(__name__)


class Recording:
    """Poem messages being sent and recorded, per chat. QQ users reply fast, and a reply can
    arrive before the row that says which poem its quoted message holds: it waits for the
    sends to its own chat first (a send hung in another chat never delays it)."""

    def __init__(self) -> None:
        self._pending: dict[str, set[asyncio.Future]] = {}

    @contextlib.asynccontextmanager
    async def sending(self, chat: str):
        done = asyncio.get_running_loop().create_future()
        self._pending.setdefault(chat, set()).add(done)
        try:
            yield
        finally:
            pending = self._pending.get(chat, set())
            pending.discard(done)
            if not pending:
                self._pending.pop(chat, None)
            done.set_result(None)

    async def settled(self, chat: str, timeout: float = 10.0) -> None:
        """Once every message being sent to `chat` now is recorded (or `timeout` s passed)."""
        if pending := self._pending.get(chat):
            await asyncio.wait(set(pending), timeout=timeout)


class Seen:
    """Events already taken, for a while: one event delivered twice, or one group message that
    two of the bot's accounts both receive, is answered once. The event object itself is kept,
    so the rules of several matchers looking at one event all see it as the first."""

    def __init__(self, seconds: float = 120.0, size: int = 4096):
        self.seconds, self.size = seconds, size
        self._taken: OrderedDict[tuple, tuple[object, float]] = OrderedDict()

    def first_time(self, event) -> bool:
        now = time.monotonic()
        while self._taken and (
            len(self._taken) > self.size
            or next(iter(self._taken.values()))[1] < now - self.seconds
        ):
            self._taken.popitem(last=False)
        mine = ("message", str(event.self_id), str(event.message_id))
        keys = [mine]
        if getattr(event, "group_id", None) is not None:  # the same message, another account
            keys.append(("group", event.group_id, event.user_id, event.time, event.raw_message))
        for key in keys:
            if key not in self._taken or self._taken[key][0] is event:
                continue
            earlier = self._taken[key][0]
            if key is mine or str(earlier.self_id) != str(event.self_id):
                return False  # (one account's messages alike in one second are each answered)
        for key in keys:
            self._taken.setdefault(key, (event, now))
        return True


class Service:
    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.services: Services | None = None  # set when this plugin started its own
        self.hosted = False  # in another NoneBot2 bot, beside its plugins
        self.failed: str | None = None  # why the plugin could not start in its host
        self.replies: RateLimiter | None = None  # answers to replies (each a group message)
        self.recording = Recording()
        self.seen = Seen()

    def first_time(self, event) -> bool:
        return self.seen.first_time(event)

    @property
    def core(self):
        return None if self.runtime is None else self.runtime.core

    def unavailable(self) -> str:
        return messages.QQ_FAILED if self.failed else messages.QQ_NOT_READY

    def attach(self, runtime: Runtime) -> None:
        """Serve this runtime's core (stand-alone `acrostic run`): the plugin starts nothing."""
        self.runtime = runtime
        self.replies = RateLimiter(runtime.settings.limits)
        self.seen = Seen()
        runtime.senders["qq"] = qq_sender(runtime.core, self.recording)

    async def start(self, config: dict) -> None:
        """Inside a host bot (its driver's startup): the core, its workers and the scheduler,
        from the CANGTOU_* items of the host's config. Nothing when `acrostic run` attached one.
        Bad settings or a missing model disable this plugin (one log line), never the host."""
        if self.runtime is not None:
            return
        self.hosted = True
        try:
            settings = settings_from(config)
            runtime = build_runtime(settings)
            self.attach(runtime)
            self.services = Services(settings, runtime)
            await self.services.start_health()
            await self.services.start()
        except Exception as e:
            self.failed = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            log.error("the cangtou plugin is off: it could not start (%s)", self.failed)
            await self.stop()
            return
        log.info("cangtou plugin serving model %s", runtime.core.poets.current.model_version)

    async def stop(self) -> None:
        """The host's shutdown: stop what `start` started (an attached runtime is not ours)."""
        if not self.hosted:
            return
        services, runtime = self.services, self.runtime
        self.services, self.runtime = None, None
        if services is not None:
            await services.stop()
        if runtime is not None:
            core = runtime.core
            await core.close()
            core.db.dispose()


def account(via: str):
    """The connected bot account `via`; when it is not connected (or '' is asked), another
    connected one, which may be in the group too: better than a post that is surely lost."""
    bots = nonebot.get_bots()
    if via in bots:
        return bots[via]
    if not bots:
        raise RuntimeError(f"no QQ account is connected (the post's is {via or 'any'})")
    bot = next(iter(bots.values()))
    if via:
        log.warning("QQ account %s is not connected: posting through %s", via, bot.self_id)
    return bot


def qq_sender(core, recording: Recording):
    """Posts a reply to 'group:<id>' or 'private:<id>' through the account `via` (daily poems,
    admin notices); a poem's message is remembered so that replies to it rate it."""

    async def send(chat_id: str, reply: Reply, via: str = "") -> None:
        kind, _, ident = chat_id.partition(":")
        if kind not in ("group", "private") or not ident.isdigit():
            raise ValueError(f"not a QQ chat id: {chat_id!r} (group:<id> or private:<id>)")
        bot = account(via)
        target = {"group_id" if kind == "group" else "user_id": int(ident)}
        async with recording.sending(chat_id):
            result = await bot.send_msg(message_type=kind, message=to_message(reply), **target)
            if reply.poem_id is not None and (message_id := sent_id(result)):
                actor = Actor("qq", "daily", chat_id, via=str(bot.self_id))
                await core.remember_sent(actor, message_id, reply.poem_id)

    return send


SERVICE = Service()
