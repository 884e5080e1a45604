"""Inline mode (`@bot 算法进阶` in any chat): three poems to choose from — 七言, 五言 and 藏尾 —
written through the core's own limits, storage and queue, and cached, so that a query typed again
is answered at once. Platform-neutral; bot/adapters/telegram_inline.py speaks Telegram."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from prometheus_client import Counter

from bot.base import messages
from bot.base.errors import StoreDown, error_id
from bot.base.logs import new_request_id
from bot.chat.actors import Actor, cleaned
from bot.chat.core import Core
from bot.chat.limits import TokenBuckets
from bot.chat.parsing import PoemOptions, clean_text, parse_callback, parse_poem_args, to_base36
from bot.chat.poem_commands import store_rating
from bot.chat.replies import POSITIONS, CallbackAnswer, Reply, rate_limited
from bot.store import queries
from bot.store.models import Chat, PoemRequest, RequestStatus
from engine import HeadError
from engine.checks import FORMS
from engine.spec import PoemSpec

log = logging.getLogger(__name__)
INLINE = "inline"  # the kind of the chat inline requests are stored under
# (result id prefix, form, position): a form of None is the query's own (五言 if it says so)
VARIANTS = (("h7", 7, "head"), ("h5", 5, "head"), ("t", None, "tail"))
WINDOW_S = 8.0  # Telegram drops an inline answer that comes ~10 s after the query
# Telegram sends a query for every letter typed: only one that stayed the user's newest for
# CANGTOU_LIMITS__INLINE_DEBOUNCE_S (0.6 s) is answered with poems (the superseded ones get an
# empty answer and write nothing)
INLINE_BURST = 3  # poems: one full answer (七言, 五言, 藏尾); refilled at the user's poem rate
CACHE_SIZE = 1024


def inline_actor(platform: str, user_id: str, user_name: str = "") -> Actor:
    """Inline queries come from no chat the bot can see: each user's are stored, limited and
    given defaults as one chat of their own."""
    return Actor(platform, user_id, f"{INLINE}:{user_id}", user_name, chat_kind=INLINE)


@dataclass(frozen=True)
class Offer:
    """One result of an answer: what the list shows, and the message choosing it posts."""

    id: str  # "<variant>.<poem id>", ≤ 64 bytes
    title: str
    description: str
    reply: Reply


@dataclass(frozen=True)
class Answer:
    offers: tuple[Offer, ...]
    shared: bool  # stored poems only: the platform may cache them and show them to anyone


def problem(reply: Reply) -> Answer:
    """The one result that says why there are no poems (personal: never cached)."""
    title, _, rest = reply.text.partition("\n")
    return Answer((Offer("problem", title, rest.strip(), reply),), shared=False)


def offer(variant: str, options: PoemOptions, reply: Reply, lines: int) -> Offer:
    """A written poem as a result: titled by its form, described by its lines."""
    ident = f"{variant}.{to_base36(reply.poem_id)}" if reply.poem_id else variant
    poem = "".join(reply.text.splitlines()[1 : 1 + lines])
    title = FORMS[options.chars_per_line] + POSITIONS[options.position]
    # only the ★ row: 🔄 and 🖼 would post into a chat the bot cannot see
    return Offer(ident, title, poem, replace(reply, buttons=reply.buttons[:1]))


class InlinePoems:
    """The answers to inline queries, the chosen results, and the ★ under posted poems."""

    def __init__(
        self,
        core: Core,
        window_s: float = WINDOW_S,
        debounce_s: float | None = None,
        sleep=asyncio.sleep,
        clock=time.monotonic,
    ):
        self.core = core
        self.window_s = window_s
        self.debounce_s = (
            core.settings.limits.inline_debounce_s if debounce_s is None else debounce_s
        )
        self.sleep = sleep
        self.latest: dict[str, int] = {}  # user → the ticket of their newest query
        self.tickets = itertools.count()
        # inline pays per poem it writes (a cached variant is free), from its own bucket: typing
        # a head letter by letter never burns the user's /acrostic tokens
        per_minute = core.settings.limits.user_per_minute * INLINE_BURST
        self.writes = TokenBuckets(per_minute, INLINE_BURST, clock=clock)
        self.cache: OrderedDict[tuple, Reply] = OrderedDict()  # stored poems, newest last
        self.writing: dict[tuple, asyncio.Task[Reply]] = {}  # poems being written, by key
        core.forget_listeners.append(self.forget)
        self.chosen_total = Counter(
            "cangtou_inline_chosen", "Inline poems posted, by variant", ["variant"],
            registry=core.metrics.registry,
        )  # fmt: skip

    def forget(self, poem_ids: set[int]) -> None:
        """Drop these poems (a forgotten user's) from the cache."""
        for key in [k for k, reply in self.cache.items() if reply.poem_id in poem_ids]:
            del self.cache[key]

    async def _still_stored(self, wanted) -> None:
        """Drop cached poems whose row is gone: forgotten here or on another replica, whose
        cache this one cannot see."""
        cached = {k: self.cache[k].poem_id for _, _, k in wanted if k in self.cache}
        if cached:
            alive = await self.core.store(queries.existing_poems, set(cached.values()))
            for key, poem_id in cached.items():
                if poem_id not in alive:
                    self.cache.pop(key, None)

    async def answer(self, actor: Actor, query: str) -> Answer:
        """Up to three poems for the query, or one result that explains; never raises."""
        new_request_id()
        actor, text = cleaned(actor), clean_text(query).strip()
        ticket = self.latest[actor.user_key] = next(self.tickets)
        if self.debounce_s:
            await self.sleep(self.debounce_s)
            if self.latest.get(actor.user_key) != ticket:  # the user typed on: superseded
                return Answer((), shared=False)
        try:
            return await self._answer(actor, text)
        except StoreDown:
            eid = error_id()
            log.error("database down during an inline query error_id=%s", eid)
            return problem(Reply(messages.DB_DOWN.format(error_id=eid), error_id=eid))
        except Exception:
            eid = error_id()
            log.exception("inline query failed error_id=%s user=%s", eid, actor.user_key)
            return problem(Reply(messages.FAILED.format(error_id=eid), error_id=eid))

    async def _answer(self, actor: Actor, text: str) -> Answer:
        if len(text) > self.core.settings.limits.max_message_chars:
            await self.core.record_failure(actor, text, "too_long", RequestStatus.REJECTED)
            return problem(Reply(messages.TOO_LONG.format(length=len(text))))
        options = parse_poem_args(text)
        try:
            if options.problem:
                raise HeadError(options.problem)
            spec = PoemSpec(options.head, theme=options.theme, keywords=options.keywords)
        except HeadError:  # theme, 意象 too: the core refuses it as a command, stored, says why
            return problem(await self.core.write(actor, options, text))
        if self.core.poets.changed():  # a promotion moved CURRENT: cache keys follow the model
            await asyncio.to_thread(self.core.poets.refresh)
        model = str(self.core.poets.path)  # None for a model held in memory (tests)
        wanted = []  # (variant, its options, its cache key)
        for variant, form, position in VARIANTS:
            chars = form or options.chars_per_line or 7
            key = (spec.head, chars, position, options.script, spec.theme, spec.keywords, model)
            wanted.append(
                (variant, replace(options, chars_per_line=chars, position=position), key)
            )
        replies, refused = await self._poems(actor, text, wanted)
        offers = [
            offer(variant, variant_options, reply, len(spec.head))
            for variant, variant_options, reply in replies
            if reply.model_version is not None  # a poem, not a "busy" or an apology
        ]
        if not offers:
            failed = [reply for _, _, reply in replies]
            return problem(refused or (failed[0] if failed else Reply(messages.INLINE_WRITING)))
        shared = len(offers) == len(wanted) and all(o.reply.poem_id for o in offers)
        return Answer(tuple(offers), shared)

    async def _poems(self, actor, text, wanted) -> tuple[list, Reply | None]:
        """Cached poems, poems being written, and new ones written concurrently (one token of
        the rate limits for them all) — whatever is ready within the window. The rest go on
        being written and are cached for the next query."""
        tasks: dict[str, asyncio.Task[Reply]] = {}
        await self._still_stored(wanted)
        fresh = [(v, o, key) for v, o, key in wanted if key not in self.cache]
        for variant, _, key in fresh:
            if key in self.writing:
                tasks[variant] = self.writing[key]
        fresh = [(v, o, key) for v, o, key in fresh if key not in self.writing]
        affordable = self._charge(actor, len(fresh))
        refused = None
        if fresh and not affordable:
            refused = await self._refuse(actor, text)
        for variant, options, key in fresh[:affordable]:
            task = asyncio.create_task(self._write(key, actor, options, text))
            self.writing[key] = tasks[variant] = task
        if tasks:
            await asyncio.wait(tasks.values(), timeout=self.window_s)
        replies = []  # (variant, its options, its reply)
        for variant, options, key in wanted:
            if key in self.cache:
                self.cache.move_to_end(key)
                replies.append((variant, options, self.cache[key]))
            elif variant in tasks and tasks[variant].done():
                replies.append((variant, options, tasks[variant].result()))
        return replies, refused

    def _charge(self, actor: Actor, poems: int) -> int:
        """Take a token for each poem to write, as many as the user's inline bucket holds."""
        taken = 0
        while taken < poems and self.writes.wait_time(actor.user_key) == 0:
            self.writes.take(actor.user_key)
            taken += 1
        return taken

    async def _refuse(self, actor: Actor, text: str) -> Reply:
        """The refusal of a query whose poems the bucket cannot pay for, stored like a
        command's."""
        wait = math.ceil(self.writes.wait_time(actor.user_key))
        await self.core.record_failure(actor, text, "limit_user", RequestStatus.LIMITED)
        return rate_limited("user", wait)

    async def _write(self, key: tuple, actor: Actor, options: PoemOptions, text: str) -> Reply:
        """One variant through the core (stored; unlimited: the answer took its token)."""
        try:
            reply = await self.core.write(actor, options, text, limited=False)
        except Exception:  # nobody may be waiting for this task: it must not raise
            eid = error_id()
            log.exception("inline poem failed error_id=%s head=%r", eid, options.head)
            reply = Reply(messages.FAILED.format(error_id=eid), error_id=eid)
        finally:
            self.writing.pop(key, None)
        if reply.poem_id is not None:  # stored: its ★ can be rated wherever it is posted
            self.cache[key] = reply
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        return reply

    def chosen(self, actor: Actor, result_id: str) -> None:
        """A user posted one of the offers (Telegram sends these with inline feedback on)."""
        variant, _, poem_id = result_id.partition(".")
        if variant not in {v for v, _, _ in VARIANTS}:
            variant = "other"  # the problem result, or an id from an older version
        self.chosen_total.labels(variant).inc()
        log.info("inline result chosen variant=%s poem=#%s user=%s", variant, poem_id or "-",
                 actor.user_key)  # fmt: skip

    async def callback(self, actor: Actor, data: str | None) -> CallbackAnswer:
        """★ under a poem posted inline: it sits in a chat the bot cannot see, so anyone there
        may rate it — but only a poem written inline; 🔄 and 🖼 were never offered there."""
        new_request_id()
        actor, data = cleaned(actor), clean_text(data or "")
        callback = parse_callback(data)
        if callback is None or callback.kind != "rate":
            log.info("stale or forged inline callback data=%r user=%s", data[:80], actor.user_key)
            return CallbackAnswer(messages.STALE_BUTTON, alert=True)
        try:
            row = await self.core.store(posted_inline, callback.poem_id)
            if row is None:
                log.info("inline ★ for a poem not written inline poem=#%s user=%s",
                         to_base36(callback.poem_id), actor.user_key)  # fmt: skip
                return CallbackAnswer(messages.NO_SUCH_POEM, alert=True)
            answer = await store_rating(self.core, actor, row, callback.stars)
        except StoreDown:
            eid = error_id()
            log.error("database down during an inline callback error_id=%s", eid)
            return CallbackAnswer(messages.DB_DOWN.format(error_id=eid), alert=True)
        except Exception:
            eid = error_id()
            log.exception("inline callback failed error_id=%s data=%r", eid, data[:80])
            return CallbackAnswer(messages.FAILED.format(error_id=eid), alert=True)
        edit = answer.edit and replace(answer.edit, buttons=answer.edit.buttons[:1])
        return replace(answer, edit=edit)


def posted_inline(session, poem_id: int) -> PoemRequest | None:
    """The stored poem with this id, if it was written for an inline query."""
    row = queries.poem_request(session, poem_id)
    if row is None or row.status != RequestStatus.OK:
        return None
    chat = session.get(Chat, row.chat_id)
    return row if chat is not None and chat.kind == INLINE else None
