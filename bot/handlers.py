"""The command table of the core: one small async function per command or button."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import messages
from bot.commands import (
    FORGET_PAYLOAD,
    FORMS,
    SCRIPTS,
    Callback,
    Command,
    PoemOptions,
    from_base36,
    parse_poem_args,
    to_base36,
)
from bot.errors import error_id
from bot.generation import Busy
from bot.limits import RateLimited
from bot.replies import Button, CallbackAnswer, PoemView, Reply, render_poem
from bot.store import queries
from bot.store.models import PoemRequest, RequestStatus, User

if TYPE_CHECKING:
    from bot.core import Actor, Core

log = logging.getLogger(__name__)


async def on_command(core: Core, actor: Actor, command: Command, text: str) -> Reply:
    handler = COMMANDS.get(command.name)
    if handler is None:
        return Reply(messages.UNKNOWN_COMMAND.format(name="/" + command.name[:32]))
    return await handler(core, actor, command.args, text)


async def acrostic(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/acrostic <head> [五言|七言] [藏头|藏尾] [繁|简]"""
    return await core.write(actor, parse_poem_args(args), text)


async def help_(core: Core, actor: Actor, args: str, text: str) -> Reply:
    return Reply(messages.HELP)


async def start(core: Core, actor: Actor, args: str, text: str) -> Reply:
    return Reply(messages.START)


def view_of(row: PoemRequest) -> PoemView:
    options = row.options or {}
    return PoemView(
        row.id,
        row.head or "",
        row.poem or "",
        options.get("chars_per_line", 7),
        options.get("position", "head"),
        row.model_version or "",
        row.checks or {},
        row.params or {},
        options.get("script", "simplified"),
    )


async def find_poem(core: Core, actor: Actor, ident: str | None) -> PoemRequest | None:
    """A poem by short id, or this user's latest in this chat when no id is given."""
    if ident is None:
        ctx = await core.context(actor)
        return await core.store(queries.last_poem, ctx.user_id, ctx.chat_id)
    poem_id = from_base36(ident)
    row = None if poem_id is None else await core.store(queries.poem_request, poem_id)
    return row if row is not None and row.status == RequestStatus.OK else None


async def rate(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/rate [id] <1-5>"""
    parts = args.split()
    if not 1 <= len(parts) <= 2 or parts[-1] not in {"1", "2", "3", "4", "5"}:
        return Reply(messages.RATE_USAGE)
    row = await find_poem(core, actor, parts[0] if len(parts) == 2 else None)
    if row is None:
        return Reply(messages.NO_SUCH_POEM)
    answer = await store_rating(core, actor, row, int(parts[-1]))
    return Reply(answer.toast, poem_id=row.id)


async def store_rating(core: Core, actor: Actor, row: PoemRequest, stars: int) -> CallbackAnswer:
    def save(session):
        user = queries.user(session, actor.platform, actor.user_id, actor.user_name)
        changed = queries.rate(session, row.id, user.id, stars)
        return changed, queries.rating_summary(session, row.id)

    changed, summary = await core.store(save)
    core.metrics.ratings.labels(str(stars)).inc()
    template = messages.RERATED if changed else messages.RATED
    toast = template.format(stars="★" * stars, mean=summary.mean, count=summary.count)
    edit = render_poem(view_of(row), rating=(summary.mean, summary.count))
    return CallbackAnswer(toast, edit=edit)


async def again(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/again [id]: the same head and form, sampled with a new seed."""
    row = await find_poem(core, actor, args or None)
    if row is None:
        return Reply(messages.NO_SUCH_POEM)
    return await write_again(core, actor, row, text)


async def write_again(core: Core, actor: Actor, row: PoemRequest, text: str) -> Reply:
    options = row.options or {}
    poem_options = PoemOptions(
        row.head or "", options.get("chars_per_line"), options.get("position", "head"),
        options.get("script"),
    )  # fmt: skip
    return await core.write(actor, poem_options, text, parent=row)


async def poem(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/poem <id>: write the stored poem again from its stored parameters."""
    if not args or from_base36(args) is None:
        return Reply(messages.POEM_USAGE)
    row = await find_poem(core, actor, args)
    if row is None:
        return Reply(messages.NO_SUCH_POEM)
    options = dict(row.options or {})
    job = {**options, "head": row.head, "seed": row.seed, "parent_id": row.id}
    try:  # rewriting costs a poem's worth of CPU: the same limits and queue as /acrostic
        core.limiter.check(actor.user_key, actor.chat_key)
        fresh = await core.generator.write(job)
    except RateLimited as e:
        template = messages.RATE_LIMITED_USER if e.scope == "user" else messages.RATE_LIMITED_CHAT
        return Reply(template.format(seconds=int(e.retry_after)))
    except Busy:
        return Reply(messages.BUSY)
    current = core.poets.current.model_version
    shown = render_poem(view_of(row))
    if fresh.model_version != row.model_version:
        note = messages.REPRODUCED_OTHER.format(
            poem_id=to_base36(row.id), old=row.model_version, new=current
        )
    else:
        from engine.text import to_traditional

        text_now = (
            to_traditional(fresh.text) if options.get("script") == "traditional" else fresh.text
        )
        same = "是" if text_now == row.poem else "否"
        note = messages.REPRODUCED_SAME.format(
            poem_id=to_base36(row.id), version=current, same=same
        )
    return Reply(shown.text + "\n" + note, shown.buttons, row.id, model_version=current)


async def top(core: Core, actor: Actor, args: str, text: str) -> Reply:
    ctx = await core.context(actor)
    best = await core.store(queries.top_poems, ctx.chat_id, 5)
    if not best:
        return Reply(messages.TOP_EMPTY)
    items = [
        messages.TOP_ITEM.format(
            rank=n, head=p.head, mean=p.mean, count=p.count, poem_id=to_base36(p.request_id),
            poem=p.poem,
        )
        for n, p in enumerate(best, 1)
    ]  # fmt: skip
    return Reply("\n".join([messages.TOP_HEADER, *items]))


async def stats(core: Core, actor: Actor, args: str, text: str) -> Reply:
    ctx = await core.context(actor)
    s = await core.store(queries.chat_stats, ctx.chat_id)
    return Reply(
        messages.STATS.format(
            poems=s.poems, failed=s.failed, users=s.users, ratings=s.ratings, mean=s.mean_stars,
            top_head=s.top_head or "—", version=core.poets.current.model_version,
        )
    )  # fmt: skip


async def settings(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/settings, /settings 五言|七言, 押韵 开|关, 繁|简, 创意 0.3–1.5"""
    ctx = await core.context(actor)
    if args:
        if actor.chat_admin is not None and not await actor.chat_admin():
            return Reply(messages.SETTINGS_CHAT_ADMIN_ONLY)
        change = parse_setting(args)
        if isinstance(change, str):
            return Reply(messages.BAD_OPTION.format(detail=change[:40], usage=settings_usage()))

        def save(session):
            row = queries.chat_settings(session, ctx.chat_id)
            for key, value in change.items():
                setattr(row, key, value)

        await core.store(save)
        ctx = await core.context(actor)
    shown = messages.SETTINGS.format(
        form="五言" if ctx.chars_per_line == 5 else "七言",
        rhyme=messages.ON if ctx.rhyme else messages.OFF,
        script=messages.SCRIPTS[ctx.script],
        temperature=ctx.temperature,
    )
    return Reply((messages.SETTINGS_SAVED + "\n" if args else "") + shown)


def settings_usage() -> str:
    return messages.SETTINGS.split("\n\n")[-1]


def parse_setting(args: str) -> dict | str:
    """The columns a /settings argument changes, or the part that could not be read."""
    parts = args.split()
    if len(parts) == 1 and parts[0] in FORMS:
        return {"chars_per_line": FORMS[parts[0]]}
    if len(parts) == 1 and parts[0] in SCRIPTS:
        return {"script": SCRIPTS[parts[0]]}
    if len(parts) == 2 and parts[0] in ("押韵", "rhyme"):
        value = {"开": True, "on": True, "关": False, "off": False}.get(parts[1].lower())
        return args if value is None else {"rhyme": value}
    if len(parts) == 2 and parts[0] in ("创意", "temperature"):
        try:
            value = float(parts[1])
        except ValueError:
            return args
        return {"temperature": value} if 0.3 <= value <= 1.5 else args
    return args


async def forgetme(core: Core, actor: Actor, args: str, text: str) -> Reply:
    if args.strip().lower() in ("确认", "confirm", "yes"):
        return Reply((await forget(core, actor)).toast)
    return Reply(messages.FORGET_CONFIRM, ((Button(messages.FORGET_BUTTON, FORGET_PAYLOAD),),))


async def forget(core: Core, actor: Actor) -> CallbackAnswer:
    def delete(session):
        user = session.query(User).filter_by(platform=actor.platform, external_id=actor.user_id)
        row = user.one_or_none()
        return (0, 0) if row is None else queries.forget_user(session, row.id)

    requests, ratings = await core.store(delete)
    log.info("user %s forgotten: %d requests, %d ratings", actor.user_key, requests, ratings)
    text = messages.FORGOTTEN.format(requests=requests, ratings=ratings)
    return CallbackAnswer(text, edit=Reply(text))


def admin_only(fn):
    async def guarded(core: Core, actor: Actor, args: str, text: str) -> Reply:
        if not core.settings.is_admin(actor.platform, actor.user_id):
            log.warning("admin command refused for %s: %s", actor.user_key, text[:40])
            return Reply(messages.NOT_ADMIN)
        return await fn(core, actor, args, text)

    guarded.__doc__ = fn.__doc__
    return guarded


@admin_only
async def model(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/model: the version being served and its numbers."""
    if core.admin is not None:
        return Reply(await core.admin.model_info(actor))
    loaded = core.poets.current.loaded
    metrics = loaded.meta.get("metrics", {})
    test = metrics.get("test_nats_per_char")
    return Reply(
        messages.MODEL_INFO.format(
            version=loaded.version,
            created=loaded.meta.get("created_at", "—"),
            test_nats="—" if test is None else f"{test:.4f}",
            params=f"{sum(p.numel() for p in loaded.model.parameters()):,}",
        )
    )


@admin_only
async def retrain(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/retrain [status]"""
    if core.admin is None:
        return Reply(messages.ADMIN_NOT_WIRED)
    return Reply(await core.admin.retrain(actor, args))


@admin_only
async def rollback(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/rollback"""
    if core.admin is None:
        return Reply(messages.ADMIN_NOT_WIRED)
    return Reply(await core.admin.rollback(actor))


COMMANDS = {
    "acrostic": acrostic,
    "start": start,
    "help": help_,
    "rate": rate,
    "again": again,
    "poem": poem,
    "top": top,
    "stats": stats,
    "settings": settings,
    "forgetme": forgetme,
    "model": model,
    "retrain": retrain,
    "rollback": rollback,
    "subscribe": lambda *a: _daily().subscribe(*a),
    "unsubscribe": lambda *a: _daily().unsubscribe(*a),
}


def _daily():
    from bot import daily  # imports the core: loaded on first use

    return daily


async def on_callback(core: Core, actor: Actor, callback: Callback) -> CallbackAnswer:
    if callback.kind == "forget":
        return await forget(core, actor)
    row = await core.store(queries.poem_request, callback.poem_id)
    if row is None or row.status != RequestStatus.OK:
        log.info(
            "button for a missing poem error_id=%s poem=#%s user=%s",
            error_id(), to_base36(callback.poem_id), actor.user_key,
        )  # fmt: skip
        return CallbackAnswer(messages.NO_SUCH_POEM, alert=True)
    if callback.kind == "rate":
        return await store_rating(core, actor, row, callback.stars)
    reply = await write_again(core, actor, row, f"🔄 #{to_base36(row.id)}")
    return CallbackAnswer(messages.AGAIN_TOAST, reply=reply)
