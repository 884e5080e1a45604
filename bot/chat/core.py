"""The services every chat command uses, platform-neutral (no Telegram, no Discord): the
store, the chat's context, the limits, the generator and the write path of a poem. The
handlers call these; the dispatcher above them (bot.chat.dispatch) knows the handlers."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.base import messages
from bot.base.errors import StoreDown, error_id
from bot.base.logs import request_arrived
from bot.base.metrics import Metrics
from bot.base.settings import Settings
from bot.chat.actors import DEFAULT_CONTEXT, Actor, Context
from bot.chat.card_service import Cards
from bot.chat.limits import Notices, RateLimited, RateLimiter, TokenBuckets
from bot.chat.parsing import PoemOptions
from bot.chat.replies import PoemView, Reply, rate_limited, render_poem
from bot.serving.generation import Busy, Generator
from bot.serving.poets import PoetHolder
from bot.store import queries
from bot.store.models import PoemRequest, RequestStatus
from bot.store.session import Database, DatabaseUnavailable
from engine import HeadError, Poem
from engine.heads import KeywordError, ThemeError
from engine.poet import DEFAULT_SEARCH
from engine.spec import PoemSpec

log = logging.getLogger(__name__)
TOP_P = 0.9
RECENT_POEMS = 5  # the search avoids the 3-grams of this chat's last five poems


@dataclass(frozen=True)
class Written:
    """A poem fresh from the queue, with what it was written for."""

    spec: PoemSpec
    poem: Poem
    ctx: Context
    latency_ms: float
    down_id: str | None  # the database was down when the request came: nothing is stored


RACE_RETRIES = 3  # a unit of work that lost a race to insert the same row runs again
FORGOTTEN_FOR = 600.0  # seconds a /forgetme is remembered for the requests still under way


class Core:
    """What handlers use: write (parse → limit → store → generate off the loop → store),
    generate, store, context, record_failure; settings, limiter, metrics, poets, admin."""

    def __init__(self, settings: Settings, db: Database, poets: PoetHolder, admin: Any = None):
        self.settings = settings
        self.db = db
        self.poets = poets
        self.admin = admin  # retrain/rollback hooks, wired by the scheduler
        self.limiter = RateLimiter(settings.limits)
        per_minute = settings.limits.refusals_per_minute
        self.refusals = TokenBuckets(per_minute, per_minute)  # stored refusals a user a minute
        self.edits = TokenBuckets(per_minute, per_minute)  # messages a user's ★ edit a minute
        self.notices = Notices()  # 'over the limit', said once a window (Dispatcher.says)
        limits = settings.limits
        self.generator = Generator(
            poets, limits.workers, limits.queue_size, limits.processes, limits.batching
        )
        self.metrics = Metrics()
        # called with a forgotten user's poem ids after /forgetme: every cache drops them
        self.forget_listeners: list[Callable[[set[int]], None]] = []
        self.cards = Cards(self.limiter, settings.card_font)  # drawn in a pool of their own
        self.forget_listeners.append(self.cards.forget)
        self.forgotten: dict[str, float] = {}  # user key → when /forgetme took them (monotonic)

    def forgot(self, user_key: str) -> None:
        """/forgetme took this user: what their requests still under way would store is not."""
        now = time.monotonic()
        self.forgotten = {k: t for k, t in self.forgotten.items() if t > now - FORGOTTEN_FOR}
        self.forgotten[user_key] = now

    def forgotten_meanwhile(self, actor: Actor) -> bool:
        """Whether this user was forgotten after the request being handled arrived (a task
        that is handling no request, 0: never; the IntegrityError guard still holds there)."""
        arrived = request_arrived.get()
        return arrived > 0 and self.forgotten.get(actor.user_key, -1.0) >= arrived

    async def close(self) -> None:
        self.cards.shutdown()
        await asyncio.to_thread(self.generator.shutdown)

    async def store(self, fn: Callable[..., Any], *args) -> Any:
        """Run `fn(session, *args)` in one transaction on a worker thread."""

        def work():
            with self.db.session() as session:
                return fn(session, *args)

        def work_again_on_a_race():
            # First messages of one user in one chat, at once (or on two replicas), can all try
            # to create the same users, chats and chat_settings rows: a loser's transaction is
            # rolled back, and run again it finds what the winner made. It can lose once per
            # such row (three), so a fourth IntegrityError is a real one and is raised.
            for _ in range(RACE_RETRIES):
                try:
                    return work()
                except IntegrityError:
                    log.info("concurrent insert: running the transaction again")
            return work()

        try:
            return await asyncio.to_thread(work_again_on_a_race)
        except (OperationalError, PoolTimeout, DatabaseUnavailable) as e:
            raise StoreDown() from e
        except DBAPIError as e:
            if e.connection_invalidated:
                raise StoreDown() from e
            raise

    async def context(self, actor: Actor) -> Context:
        """Our ids for this user and chat, and the chat's settings."""

        def load(session) -> Context:
            user = queries.user(session, actor.platform, actor.user_id, actor.user_name)
            chat = queries.chat(
                session, actor.platform, actor.chat_id, actor.chat_kind, actor.chat_title,
                owner_id=user.id,
            )  # fmt: skip
            prefs = queries.chat_settings(session, chat.id)
            return Context(
                user.id,
                chat.id,
                prefs.chars_per_line,
                prefs.rhyme,
                prefs.script,
                prefs.temperature,
                queries.recent_phrases(session, chat.id, RECENT_POEMS),
                prefs.theme,
            )

        return await self.store(load)

    # --- writing poems --------------------------------------------------------------------------
    async def write(
        self,
        actor: Actor,
        options: PoemOptions,
        raw_text: str,
        parent: PoemRequest | None = None,
        limited: bool = True,
    ) -> Reply:
        """One poem request, start to end; every outcome is stored (when the database is up)."""
        try:  # a bad head, theme or 意象 is refused before it costs a token of the limits
            if options.problem:
                raise KeywordError(options.problem)
            spec = PoemSpec(options.head, options.chars_per_line or 7, options.position,
                            theme=options.theme, keywords=options.keywords)  # fmt: skip
        except HeadError as e:  # ThemeError and KeywordError too
            code = {ThemeError: "bad_theme", KeywordError: "bad_option"}.get(type(e), "bad_head")
            await self.record_failure(actor, raw_text, code, RequestStatus.REJECTED)
            return self._refusal(actor, messages.BAD_HEAD.format(reason=str(e)))
        written = await self.generate(
            actor, raw_text, lambda ctx: self._spec(spec, options, ctx, parent), limited
        )
        if isinstance(written, Reply):
            return written
        if self.forgotten_meanwhile(actor):  # /forgetme came while the poem was being written
            log.info("a poem was dropped: its user asked to be forgotten while it was written")
            await self.store(queries.forget_again, actor.platform, actor.user_id)
            return Reply(messages.FORGOTTEN_MEANWHILE)
        spec, poem, ctx, down_id = written.spec, written.poem, written.ctx, written.down_id
        view = PoemView(
            None, spec.head, poem.text, spec.chars_per_line, spec.position, poem.model_version,
            poem.checks, poem.params, spec.script, spec.theme,
        )  # fmt: skip
        if down_id is None:
            try:
                row_id = await self.store(
                    queries.save_poem, ctx.user_id, ctx.chat_id, parent and parent.id,
                    raw_text, spec.asdict(), poem, written.latency_ms,
                )  # fmt: skip
                view = replace(view, poem_id=row_id)
            except StoreDown:
                down_id = error_id()
                log.error("database down, poem not stored error_id=%s", down_id)
            except IntegrityError:
                if await self.store(queries.user_exists, ctx.user_id):
                    raise
                # /forgetme came while the poem was being written: it is dropped, quietly,
                # and nothing of what the user asked is logged
                log.info("a poem was dropped: its user asked to be forgotten while it was written")
                return Reply(messages.FORGOTTEN_MEANWHILE)
        note = messages.DB_DOWN_NOTE.format(error_id=down_id) if down_id else ""
        return render_poem(view, note=note)

    async def generate(
        self,
        actor: Actor,
        raw_text: str,
        spec_for: Callable[[Context], PoemSpec],
        limited: bool = True,
    ) -> Written | Reply:
        """Limits → the chat's context → the current model → the queue: the poem the spec for
        this chat describes, or the (stored) reply that says why there is none."""
        started = time.perf_counter()
        try:
            if limited:  # the daily posts are not limited
                self.limiter.check(actor.user_key, actor.chat_key)
        except RateLimited as e:
            await self.record_failure(actor, raw_text, f"limit_{e.scope}", RequestStatus.LIMITED)
            return rate_limited(e.scope, e.retry_after)
        down_id = None
        try:
            ctx = await self.context(actor)
        except StoreDown:
            down_id = error_id()
            log.error("database down, poem not stored error_id=%s", down_id)
            ctx = DEFAULT_CONTEXT
        if self.poets.changed():  # a promotion or rollback moved CURRENT: follow it
            await asyncio.to_thread(self.poets.refresh)
        spec = spec_for(ctx)
        try:
            poem = await self.generator.write(spec)
        except Busy:
            await self.record_failure(actor, raw_text, "busy", RequestStatus.LIMITED, ctx)
            return Reply(messages.BUSY)
        except HeadError as e:  # what only the model can tell: a keyword it cannot write
            await self.record_failure(actor, raw_text, "bad_option", RequestStatus.REJECTED, ctx)
            return self._refusal(actor, messages.BAD_HEAD.format(reason=str(e)))
        except Exception:
            eid = error_id()
            log.exception("generation failed error_id=%s head=%r", eid, spec.head)
            await self.record_failure(
                actor, raw_text, "generation", RequestStatus.FAILED, ctx, eid
            )
            return Reply(messages.FAILED.format(error_id=eid), error_id=eid)
        latency = (time.perf_counter() - started) * 1000
        self.metrics.latency.observe(latency / 1000)
        self.metrics.requests.labels("ok").inc()
        return Written(spec, poem, ctx, round(latency, 2), down_id)

    def _refusal(self, actor: Actor, text: str) -> Reply:
        """A bad request's answer. Past the user's stored refusals a minute (a flood of bad
        heads) it is marked like a rate limit: chat adapters say it once a window."""
        wait = self.refusals.wait_time(actor.user_key)
        return Reply(text, limited=("refusals", wait) if wait > 0 else None)

    def _spec(self, spec: PoemSpec, options: PoemOptions, ctx: Context, parent) -> PoemSpec:
        """Everything that decides the poem, the chat's defaults filled in: stored with it, so
        `/poem <id>` can reproduce it. 🔄 and /again sample; a first poem uses the search."""
        mode = "sample" if parent is not None else self.settings.decoding
        fields: dict[str, Any] = {
            "chars_per_line": options.chars_per_line or ctx.chars_per_line,
            "script": options.script or ctx.script,
            "rhyme": ctx.rhyme,
            "mode": mode,
            "recent": ctx.recent,
            "theme": spec.theme or ctx.theme,  # the request's, else the chat's default
        }
        if parent is not None:  # 🔄 draws another outline too
            fields["plan_seed"] = secrets.randbits(31) | 1
        if mode == "sample":
            fields.update(temperature=ctx.temperature, top_p=TOP_P, seed=secrets.randbits(31))
        elif mode == "beam":
            fields["beam_size"] = self.settings.beam_size
        else:
            fields["search"] = DEFAULT_SEARCH
        return replace(spec, **fields)

    async def record_failure(
        self, actor, raw_text, code, status, ctx: Context | None = None, eid=None
    ) -> None:
        """Log and store a request that got no poem, under an error id that ties the two
        together; a database that is down only costs the record."""
        eid = eid or error_id()

        log.info("request %s code=%s error_id=%s user=%s", status.value, code, eid, actor.user_key)
        self.metrics.requests.labels(status.value).inc()
        if self.forgotten_meanwhile(actor):  # it came before /forgetme: nothing of it is kept
            return
        try:
            flood = self.refusals.wait_time(actor.user_key) > 0
            if flood and await self.store(queries.count_refusal, actor):
                return  # past the cap: counted on the last stored refusal, not a row of its own
            self.refusals.take(actor.user_key)
            await self.store(queries.record_failure, actor, raw_text, status, code, eid)
        except StoreDown:
            log.error("database down, failed request not stored error_id=%s", eid)
