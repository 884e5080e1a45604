"""The core's commands (bot/chat/commands.py tables them): one small async function each, and the buttons."""

from __future__ import annotations

import logging

from bot.base import messages
from bot.base.errors import error_id
from bot.chat.actors import Actor
from bot.chat.core import Core
from bot.chat.parsing import (
    FORMS,
    SCRIPTS,
    Callback,
    forget_payload,
    marker_in,
    owner_tag,
    parse_poem_args,
    to_base36,
)
from bot.chat.poem_commands import send_card, store_rating, visible, write_again
from bot.chat.replies import Button, CallbackAnswer, Reply
from bot.store import queries
from bot.store.models import User
from engine.heads import ThemeError, normalize_theme
from engine.text import escape_invisible

log = logging.getLogger(__name__)


async def acrostic(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/acrostic <head> [五言|七言] [藏头|藏尾] [繁|简] [主题:…]"""
    return await core.write(actor, parse_poem_args(args), text)


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
    """/settings, /settings 五言|七言, 押韵 开|关, 繁|简, 创意 0.3–1.5, 主题 …|关"""
    ctx = await core.context(actor)
    if args:
        if actor.chat_admin is not None and not await actor.chat_admin():
            return Reply(messages.SETTINGS_CHAT_ADMIN_ONLY)
        change = parse_setting(args)
        if isinstance(change, str):  # what is wrong with it
            return Reply(change)

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
        theme=ctx.theme or messages.NO_THEME,
    )
    return Reply((messages.SETTINGS_SAVED + "\n" if args else "") + shown)


def settings_usage() -> str:
    return messages.SETTINGS.split("\n\n")[-1]


def parse_setting(args: str) -> dict | str:
    """The columns a /settings argument changes, or the reply saying what is wrong with it."""
    unreadable = messages.BAD_OPTION.format(
        detail=escape_invisible(args[:40]), usage=settings_usage()
    )
    parts = args.split()
    if len(parts) == 1 and parts[0] in FORMS:
        return {"chars_per_line": FORMS[parts[0]]}
    if len(parts) == 1 and parts[0] in SCRIPTS:
        return {"script": SCRIPTS[parts[0]]}
    if len(parts) == 2 and parts[0] in ("押韵", "rhyme"):
        value = {"开": True, "on": True, "关": False, "off": False}.get(parts[1].lower())
        return unreadable if value is None else {"rhyme": value}
    if len(parts) == 2 and parts[0] in ("创意", "temperature"):
        try:
            value = float(parts[1])
        except ValueError:
            return unreadable
        if not 0.3 <= value <= 1.5:  # a number out of range: say the range, not "unreadable"
            return messages.BAD_TEMPERATURE.format(value=parts[1][:10])
        return {"temperature": value}
    if len(parts) >= 2 and parts[0] in ("主题", "主題", "theme"):
        return parse_theme("".join(parts[1:]))
    return unreadable


def parse_theme(value: str) -> dict | str:
    """`/settings 主题 祝寿` (normalised like a head), or 关 / 无 / off for none."""
    if value.lower() in ("关", "無", "无", "off", "none"):
        return {"theme": None}
    if problem := marker_in(value):  # /settings 主题 主题:生日
        return messages.BAD_THEME_SETTING.format(reason=problem)
    try:
        return {"theme": normalize_theme(value)}
    except ThemeError as e:
        return messages.BAD_THEME_SETTING.format(reason=str(e))


async def forgetme(core: Core, actor: Actor, args: str, text: str) -> Reply:
    if args.strip().lower() in ("确认", "confirm", "yes"):
        return Reply((await forget(core, actor)).toast)
    button = Button(messages.FORGET_BUTTON, forget_payload(actor.user_key))
    return Reply(messages.FORGET_CONFIRM, ((button,),))


async def forget(core: Core, actor: Actor) -> CallbackAnswer:
    def delete(session):
        user = session.query(User).filter_by(platform=actor.platform, external_id=actor.user_id)
        row = user.one_or_none()
        if row is None:
            return 0, 0, set()
        ids = queries.poem_ids_of(session, row.id)
        return (*queries.forget_user(session, row.id), ids)

    core.forgot(actor.user_key)  # first: a request of theirs still under way stores nothing
    requests, ratings, poem_ids = await core.store(delete)
    for forget_poems in core.forget_listeners:  # caches (inline answers) drop them too
        forget_poems(poem_ids)
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


async def on_callback(core: Core, actor: Actor, callback: Callback) -> CallbackAnswer:
    if callback.kind == "forget":
        if callback.owner != owner_tag(actor.user_key):  # someone else's confirmation
            log.info("forgetme button pressed by another user error_id=%s user=%s",
                     error_id(), actor.user_key)  # fmt: skip
            return CallbackAnswer(messages.NOT_YOUR_BUTTON, alert=True)
        return await forget(core, actor)
    row = await core.store(queries.poem_request, callback.poem_id)
    if not visible(row, await core.context(actor)):
        log.info(
            "button for a missing or another chat's poem error_id=%s poem=#%s user=%s",
            error_id(), to_base36(callback.poem_id), actor.user_key,
        )  # fmt: skip
        return CallbackAnswer(messages.NO_SUCH_POEM, alert=True)
    if callback.kind == "rate":
        return await store_rating(core, actor, row, callback.stars)
    if callback.kind == "card":
        return await send_card(core, actor, row)
    reply = await write_again(core, actor, row, f"🔄 #{to_base36(row.id)}")
    return CallbackAnswer(messages.AGAIN_TOAST, reply=reply)
