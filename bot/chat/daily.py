"""Daily poems: /subscribe and /unsubscribe rows, and the sweep that posts each due one once."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.base import messages
from bot.base.errors import StoreDown
from bot.cards.render import CardError, FontNotFound
from bot.chat.actors import Actor
from bot.chat.parsing import FORMS, PoemOptions
from bot.chat.poem_commands import view_of
from bot.chat.replies import Reply
from bot.operations.almanac import head_of_the_day, theme_of
from bot.store import queries
from bot.store.models import Chat, DailyPost, Subscription
from engine.text import normalize_width

log = logging.getLogger(__name__)
TIME = re.compile(r"^([01]?[0-9]|2[0-3])[:：]([0-5][0-9])$", re.ASCII)  # ASCII digits only
# (chat id on the platform, reply, via=the account that received /subscribe or "") → sent
Sender = Callable[..., Awaitable[None]]


def parse_subscribe(args: str, default_time: str) -> tuple[str, int | None] | None:
    """'[HH:MM] [五言|七言]' → ('08:00', 7), the form None when not given (the chat's own);
    None if it cannot be read."""
    post_time, cpl = default_time, None
    for token in normalize_width(args).split():  # full-width digits fold; ٩ and ௫ do not
        if match := TIME.match(token):
            post_time = f"{int(match.group(1)):02d}:{match.group(2)}"
        elif token in FORMS:
            cpl = FORMS[token]
        else:
            return None
    return post_time, cpl


async def subscribe(core, actor: Actor, args: str, text: str) -> Reply:
    """/subscribe [HH:MM] [五言|七言] (chat admins only)"""
    if actor.chat_admin is not None and not await actor.chat_admin():
        return Reply(messages.SUBSCRIBE_CHAT_ADMIN_ONLY)
    daily = core.settings.daily
    parsed = parse_subscribe(args, daily.default_time)
    if parsed is None:
        return Reply(messages.SUBSCRIBE_USAGE)
    post_time, cpl = parsed
    ctx = await core.context(actor)
    cpl = cpl or ctx.chars_per_line  # the chat's /settings form unless one is named

    def save(session):
        row = session.scalar(select(Subscription).where(Subscription.chat_id == ctx.chat_id))
        if row is None:
            row = Subscription(chat_id=ctx.chat_id, created_by=ctx.user_id)
            session.add(row)
        row.post_time, row.chars_per_line, row.timezone = post_time, cpl, daily.timezone
        row.active, row.via = True, actor.via or None

    await core.store(save)
    form = "五言" if cpl == 5 else "七言"
    return Reply(messages.SUBSCRIBED.format(time=post_time, timezone=daily.timezone, form=form))


async def unsubscribe(core, actor: Actor, args: str, text: str) -> Reply:
    """/unsubscribe (chat admins only)"""
    if actor.chat_admin is not None and not await actor.chat_admin():
        return Reply(messages.SUBSCRIBE_CHAT_ADMIN_ONLY)
    ctx = await core.context(actor)

    def save(session) -> bool:
        row = session.scalar(select(Subscription).where(Subscription.chat_id == ctx.chat_id))
        if row is None or not row.active:
            return False
        row.active = False
        return True

    done = await core.store(save)
    return Reply(messages.UNSUBSCRIBED if done else messages.NOT_SUBSCRIBED)


@dataclass(frozen=True)
class Due:
    subscription_id: int
    platform: str
    chat_id: str
    chars_per_line: int
    day: dt.date
    via: str = ""  # the account that posts it (QQ); "" for platforms with one


def due_subscriptions(session, now: dt.datetime) -> list[Due]:
    """Active subscriptions whose local time has come today and that have no post for today."""
    out = []
    rows = session.execute(
        select(Subscription, Chat.platform, Chat.external_id)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Subscription.active.is_(True))
        .order_by(Subscription.id)
    ).all()
    for sub, platform, chat_id in rows:
        try:
            local = now.astimezone(ZoneInfo(sub.timezone))
        except (ZoneInfoNotFoundError, ValueError):  # one bad row never stops the others
            log.error("subscription %d has an unknown timezone %r: skipped", sub.id, sub.timezone)
            continue
        if local.strftime("%H:%M") < sub.post_time or sub.last_posted_on == local.date():
            continue
        out.append(Due(sub.id, platform, chat_id, sub.chars_per_line, local.date(), sub.via or ""))
    return out


@dataclass(frozen=True)
class PostResult:
    subscription_id: int
    status: str  # sent / failed / skipped (already claimed)
    error: str | None = None


async def sweep(core, senders: dict[str, Sender], now: dt.datetime) -> list[PostResult]:
    """Post to every due subscription; each target on its own, so one dead chat stops nothing."""
    due = await core.store(due_subscriptions, now)
    results = []
    for item in due:
        try:
            results.append(await post_one(core, senders, item))
        except Exception as e:  # one target's failure is recorded, not raised
            log.exception("daily post to %s:%s failed", item.platform, item.chat_id)
            results.append(PostResult(item.subscription_id, "failed", str(e)[:500]))
    return results


async def daily_card(core, poem_id: int) -> bytes | None:
    """The card a daily post shows above its text; without one (no font here, a font file that
    is not one, any failure to draw) the text alone: the post is never lost for its card."""
    try:
        row = await core.store(queries.poem_request, poem_id)
        return await core.cards.png(view_of(row))  # a daily post is not limited
    except StoreDown:
        raise
    except (CardError, FontNotFound):
        log.warning("daily post of #%s goes without its card", poem_id, exc_info=True)
    except Exception:
        log.exception("daily post of #%s goes without its card", poem_id)
    return None


async def post_one(core, senders: dict[str, Sender], item: Due) -> PostResult:
    head, why = head_of_the_day(item.day)

    def claim(session) -> int | None:
        post = DailyPost(subscription_id=item.subscription_id, post_date=item.day, head=head)
        session.add(post)
        session.flush()  # the UNIQUE (subscription, day) constraint decides who posts
        return post.id

    try:
        post_id = await core.store(claim)
    except IntegrityError:
        post_id = None
    if post_id is None:  # another run (or replica) took today's post for this chat
        return PostResult(item.subscription_id, "skipped")
    error = None
    try:
        sender = senders.get(item.platform)
        if sender is None:
            raise RuntimeError(f"no adapter running for {item.platform}")
        actor = Actor(item.platform, "daily", item.chat_id, "每日一诗", "channel", via=item.via)
        options = PoemOptions(head, item.chars_per_line, theme=theme_of(head))
        reply = await core.write(actor, options, f"/daily {head}", limited=False)
        if reply.poem_id is None:
            raise RuntimeError(reply.text.splitlines()[0][:200])
        title = messages.DAILY_TITLE.format(date=item.day.isoformat(), why=why)
        card = await daily_card(core, reply.poem_id)
        text = f"{title}\n{reply.text}"
        await sender(
            item.chat_id, Reply(text, reply.buttons, reply.poem_id, card=card), via=item.via
        )
    except Exception as e:
        error = f"{type(e).__name__}: {e}"[:500]
        log.warning("daily post to %s:%s failed: %s", item.platform, item.chat_id, error)

    def finish(session):
        post = session.get(DailyPost, post_id)
        post.status, post.error = ("failed", error) if error else ("sent", None)
        post.request_id = None if error else reply.poem_id
        sub = session.get(Subscription, item.subscription_id)
        sub.last_posted_on = item.day  # once a day, sent or not: never twice

    await core.store(finish)
    return PostResult(item.subscription_id, "failed" if error else "sent", error)
