"""Commands and buttons on one stored poem: /rate, /again, /poem, ★, 🔄 and 🖼 (who may see which)."""

from __future__ import annotations

import logging

from bot.base import messages
from bot.base.errors import error_id
from bot.base.ids import from_base36, to_base36
from bot.cards.render import CardError, FontNotFound
from bot.chat.actors import Actor
from bot.chat.card_service import CardBusy
from bot.chat.core import Core
from bot.chat.limits import RateLimited
from bot.chat.parsing import PoemOptions
from bot.chat.replies import CallbackAnswer, PoemView, Reply, rate_limited, render_poem
from bot.store import queries
from bot.store.models import PoemRequest, RequestStatus
from engine.spec import PoemSpec
from engine.text import normalize_width

log = logging.getLogger(__name__)


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
        options.get("theme"),
    )


async def find_poem(core: Core, actor: Actor, ident: str | None) -> PoemRequest | None:
    """A poem by short id, or this user's latest in this chat when no id is given; None for
    one this actor may not see (see `visible`)."""
    ctx = await core.context(actor)
    if ident is None:
        return await core.store(queries.last_poem, ctx.user_id, ctx.chat_id)
    poem_id = from_base36(ident)
    row = None if poem_id is None else await core.store(queries.poem_request, poem_id)
    return row if visible(row, ctx) else None


def visible(row: PoemRequest | None, ctx) -> bool:
    """Ids are global and sequential, so anyone can guess one: a poem is shown, rated or
    rewritten only in the chat it was written in, or by its author."""
    if row is None or row.status != RequestStatus.OK:
        return False
    return row.chat_id == ctx.chat_id or row.user_id == ctx.user_id


async def rate(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/rate [id] <1-5> (full-width digits too: ５)"""
    parts = normalize_width(args).split()
    if not 1 <= len(parts) <= 2 or parts[-1] not in {"1", "2", "3", "4", "5"}:
        return Reply(messages.RATE_USAGE)
    row = await find_poem(core, actor, parts[0] if len(parts) == 2 else None)
    if row is None:
        return Reply(messages.NO_SUCH_POEM)
    answer = await store_rating(core, actor, row, int(parts[-1]))
    return Reply(answer.toast, poem_id=row.id)


async def store_rating(core: Core, actor: Actor, row: PoemRequest, stars: int) -> CallbackAnswer:
    def save(session):
        if session.get(PoemRequest, row.id) is None:  # forgotten since it was found
            return None
        user = queries.user(session, actor.platform, actor.user_id, actor.user_name)
        changed = queries.rate(session, row.id, user.id, stars)
        return changed, queries.rating_summary(session, row.id)

    saved = await core.store(save)
    if saved is None:
        return CallbackAnswer(messages.NO_SUCH_POEM, alert=True)
    changed, summary = saved
    core.metrics.ratings.labels(str(stars)).inc()
    template = messages.RERATED if changed else messages.RATED
    toast = template.format(stars="★" * stars, mean=summary.mean, count=summary.count)
    if core.edits.wait_time(actor.user_key) > 0:  # a flood of ★: stored, but no more edits
        return CallbackAnswer(toast)
    core.edits.take(actor.user_key)
    edit = render_poem(view_of(row), rating=(summary.mean, summary.count))
    return CallbackAnswer(toast, edit=edit)


async def send_card(core: Core, actor: Actor, row: PoemRequest) -> CallbackAnswer:
    """🖼: the poem's card as a new message, captioned with the poem's title and id. A card
    already drawn is free; a new one takes a token of the user's limits (bot.chat.card_service)."""
    try:
        png = await core.cards.png(view_of(row), actor)
    except RateLimited as e:
        return CallbackAnswer(rate_limited(e.scope, e.retry_after).text, alert=True)
    except CardBusy:
        return CallbackAnswer(messages.BUSY, alert=True)
    except (CardError, FontNotFound):  # no CJK font on this host, or a glyph it lacks
        eid = error_id()
        log.exception("no card for poem #%s error_id=%s", to_base36(row.id), eid)
        return CallbackAnswer(messages.CARD_UNAVAILABLE.format(error_id=eid), alert=True)
    title = render_poem(view_of(row)).text.splitlines()[0]
    caption = f"{title} #{to_base36(row.id)}"
    return CallbackAnswer(messages.CARD_TOAST, reply=Reply(caption, poem_id=row.id, card=png))


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
        options.get("script"), options.get("theme"), tuple(options.get("keywords") or ()),
    )  # fmt: skip
    return await core.write(actor, poem_options, text, parent=row)


async def poem(core: Core, actor: Actor, args: str, text: str) -> Reply:
    """/poem <id>: write the stored poem again from its stored spec (the limits, queue and
    model refresh of /acrostic) and say whether the same poem came out."""
    if not args or from_base36(args) is None:
        return Reply(messages.POEM_USAGE)
    row = await find_poem(core, actor, args)
    if row is None:
        return Reply(messages.NO_SUCH_POEM)
    # rows stored before the spec hold neither head nor seed in their options
    spec = PoemSpec.from_dict(row.options or {}, head=row.head, seed=row.seed)
    written = await core.generate(actor, text, lambda ctx: spec)
    if isinstance(written, Reply):
        return written
    fresh, current = written.poem, written.poem.model_version
    shown = render_poem(view_of(row))
    if fresh.model_version != row.model_version:
        note = messages.REPRODUCED_OTHER.format(
            poem_id=to_base36(row.id), old=row.model_version, new=current
        )
    else:
        same = "是" if fresh.text == row.poem else "否"
        note = messages.REPRODUCED_SAME.format(
            poem_id=to_base36(row.id), version=current, same=same
        )
    return Reply(shown.text + "\n" + note, shown.buttons, row.id, model_version=current)
