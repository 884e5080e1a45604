"""Platforms without buttons (QQ): a reply to the message that holds a poem rates it, rewrites
it or draws its card, through the same handlers as the buttons; the record of which message
holds which poem survives a restart and goes with the poem (/forgetme)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.base import messages
from bot.chat.actors import Actor
from bot.chat.parsing import parse_reply_action
from bot.store import sent
from bot.store.models import SentMessage

pytestmark = pytest.mark.integration

GROUP = Actor("qq", "1001", "group:2001", "小明", "group", via="10001")
FRIEND = Actor("qq", "1002", "group:2001", "小红", "group", via="10001")
ELSEWHERE = Actor("qq", "1003", "group:3001", "小刚", "group", via="10001")


@pytest.mark.parametrize(
    ("text", "action"),
    [("5", "rate:5"), ("★4", "rate:4"), ("⭐ 3", "rate:3"), ("评分 2", "rate:2"),
     ("打分1", "rate:1"), ("５", "rate:5"), ("5星", "rate:5"), ("再来", "again"),
     ("再来一首", "again"), ("卡片", "card"), (" 诗笺 ", "card"), ("好诗", None), ("", None),
     ("评分", None), ("★★★", "rate:3"), ("⭐⭐", "rate:2"), ("五星", "rate:5"),
     ("两颗星", "rate:2"), ("⑤", "rate:5"), ("6", "rate:?"), ("0", "rate:?"), ("55", "rate:?"),
     ("3.5", "rate:?"), ("★★★★★★", "rate:?"), ("666", None), ("五星好评", None)],
)  # fmt: skip
def test_what_a_reply_to_a_poem_may_say(text, action):
    assert parse_reply_action(text) == action


async def poem_in_a_message(core, actor=GROUP, message_id="m1") -> int:
    reply = await core.command(actor, "/acrostic 春风")
    assert reply.poem_id is not None
    await core.remember_sent(actor, message_id, reply.poem_id)
    return reply.poem_id


async def test_a_reply_rates_rewrites_and_draws_the_card(core):
    poem_id = await poem_in_a_message(core)
    answer = await core.reply_to(FRIEND, "m1", "★5")
    assert answer.toast.startswith("已记下") and answer.reply is None
    answer = await core.reply_to(FRIEND, "m1", "评分 3")
    assert answer.toast.startswith("已改为")
    again = await core.reply_to(FRIEND, "m1", "再来")
    assert again.reply.poem_id not in (None, poem_id) and "春" in again.reply.text
    card = await core.reply_to(FRIEND, "m1", "卡片")
    assert card.reply.card[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_rating_off_the_scale_is_told_how_to_rate(core):
    """Probe 2026-12-07: 0, 6 or 3.5 in reply to a poem got no answer at all."""
    await poem_in_a_message(core)
    assert (await core.reply_to(FRIEND, "m1", "6")).toast == messages.RATE_REPLY_HINT
    assert await core.reply_to(FRIEND, "m2", "6") is None  # not a poem's message: conversation


async def test_conversation_and_other_messages_are_not_ours(core):
    await poem_in_a_message(core)
    assert await core.reply_to(FRIEND, "m1", "写得真好") is None  # not an action
    assert await core.reply_to(FRIEND, "m2", "5") is None  # a message that holds no poem
    assert await core.reply_to(FRIEND, "x" * 500, "5") is None  # a forged, huge id
    other_account = Actor("qq", "1002", "group:2001", via="10002")
    assert await core.reply_to(other_account, "m1", "5") is None  # ids are per account


async def test_another_chats_poem_is_not_rated_by_a_forged_reply(core):
    await poem_in_a_message(core)
    answer = await core.reply_to(ELSEWHERE, "m1", "5")
    assert answer.toast == messages.NO_SUCH_POEM and answer.alert


async def test_the_record_goes_with_the_poem_on_forgetme(core):
    await poem_in_a_message(core)
    ask = await core.command(GROUP, "/forgetme 确认")
    assert ask.text.startswith(messages.FORGOTTEN.split("{")[0])
    with core.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SentMessage)) == 0
    assert await core.reply_to(FRIEND, "m1", "5") is None


async def test_a_message_is_remembered_once_and_only_for_a_poem_that_exists(core):
    poem_id = await poem_in_a_message(core)
    with core.db.session() as session:
        assert sent.remember(session, "qq", "10001", "m1", poem_id)  # again: one row
        assert not sent.remember(session, "qq", "10001", "m9", 10**6)  # no such poem
        assert sent.poem_of(session, "qq", "10001", "m1") == poem_id
        assert session.scalar(select(func.count()).select_from(SentMessage)) == 1
