"""What a probe of the plugin found (issue 32, review round): each break, fixed, and its test."""

from __future__ import annotations

import pytest
from nonebot.adapters.onebot.v11 import Bot, GroupMessageEvent, Message, MessageSegment
from nonebot.adapters.onebot.v11.event import Anonymous
from nonebug import App
from sqlalchemy import select

from bot.base import messages
from bot.store import queries, sent
from bot.store.models import Chat, PoemRequest
from tests.qq.events import SELF_ID, Sent, group_event, private_event, reply_to
from tests.qq.test_plugin import ask, silent

pytestmark = pytest.mark.adapters


async def rating_of(runtime, message_id: str):
    poem_id = await runtime.core.store(sent.poem_of, "qq", SELF_ID, message_id)
    return await runtime.core.store(queries.rating_summary, poem_id)


async def test_the_traditional_trigger_writes_one_poem(app: App, runtime):
    out = await ask(app, group_event("藏頭詩 春风"))
    assert out.text.startswith("《春风》")
    out = await ask(app, private_event("藏頭詩 春风"))  # one reply, not a head as well
    assert out.text.startswith("《春风》")


async def test_in_a_host_bot_another_plugins_command_is_left_alone(app: App, runtime):
    from nonebot_plugin_cangtou.service import SERVICE

    out = await ask(app, private_event("/weather 北京"))  # under acrostic run: help
    assert "/weather" in out.text
    SERVICE.hosted = True
    await silent(app, private_event("/weather 北京"))
    assert (await ask(app, private_event("/help"))).text.startswith(messages.HELP_INTRO[:6])


async def test_a_reply_rates_when_the_quoted_message_could_not_be_fetched(app: App, runtime):
    """get_msg failed (the implementation restarted, its cache is gone): event.reply is None,
    the reply segment still names the message."""
    await ask(app, group_event("/acrostic 春风"), result_id=8601)
    event = group_event("5", user_id=1002)
    event.original_message = Message([MessageSegment.reply(8601), MessageSegment.text("5")])
    event.message = Message(event.original_message)
    out = await ask(app, event)
    assert out.text.startswith("已记下")
    assert (await rating_of(runtime, "8601")).count == 1


async def test_replies_to_members_messages_are_theirs_even_with_the_database_down(app, runtime):
    from bot.store.session import Database

    core, alive = runtime.core, runtime.core.db
    core.db = Database("postgresql://nobody@127.0.0.1:1/cangtou")
    try:
        await silent(app, group_event("5", user_id=1002, reply=reply_to(123, sender_id="1001")))
        event = group_event("5", user_id=1002)  # get_msg failed: whose message is unknown
        event.original_message = Message([MessageSegment.reply(124), MessageSegment.text("5")])
        await silent(app, event)
        out = await ask(app, group_event("5", user_id=1002, reply=reply_to(125)))  # the bot's
        assert out.text.startswith("数据库暂时不可用")
    finally:
        core.db.dispose()
        core.db = alive


async def test_a_flood_of_replies_is_answered_up_to_the_limit_and_loses_no_rating(app, runtime):
    await ask(app, group_event("/acrostic 春风"), result_id=8701)
    answered = []
    for stars in "5454545":  # the test's limits: bursts of 3
        out = Sent()
        async with app.test_matcher() as ctx:
            bot = ctx.create_bot(base=Bot, self_id=SELF_ID)
            event = group_event(stars, user_id=1002, reply=reply_to(8701))
            ctx.receive_event(bot, event)
            if len(answered) < 3:
                ctx.should_call_send(event, out, result={"message_id": 1}, reply_message=True)
        answered.append(out.messages)
    assert sum(bool(m) for m in answered) == 3
    summary = await rating_of(runtime, "8701")
    assert (summary.count, summary.mean) == (1, 5.0)  # the last rating, though unanswered
    await silent(app, group_event("卡片", user_id=1002, reply=reply_to(8701)))  # no more cards


async def test_forgetme_leaves_no_private_chat_after_only_refusals(app, runtime):
    out = await ask(app, private_event("hello", user_id=4242))  # a refusal, no poem
    assert "汉字" in out.text
    await ask(app, private_event("/forgetme 确认", user_id=4242))
    with runtime.core.db.session() as session:
        chats = [c.external_id for c in session.scalars(select(Chat))]
    assert "private:4242" not in chats


def anonymous(text: str, anon_id: int, reply=None) -> GroupMessageEvent:
    data = group_event(text, user_id=80000000, reply=reply).model_dump()
    data.update(sub_type="anonymous", anonymous=Anonymous(id=anon_id, name=f"匿名{anon_id}",
                                                          flag=f"f{anon_id}"))  # fmt: skip
    return GroupMessageEvent(**data)


async def test_anonymous_members_are_told_apart(app, runtime):
    await ask(app, group_event("/acrostic 春风", user_id=1001), result_id=8801)
    assert (await ask(app, anonymous("5", 111, reply_to(8801)))).text.startswith("已记下")
    assert (await ask(app, anonymous("1", 222, reply_to(8801)))).text.startswith("已记下")
    await ask(app, anonymous("/acrostic 秋月", 111), result_id=8802)
    await ask(app, anonymous("/forgetme 确认", 222))
    with runtime.core.db.session() as session:
        heads = [r.head for r in session.scalars(select(PoemRequest))]
    assert "秋月" in heads  # member 222 forgot only themselves


async def test_help_says_how_to_rate_without_buttons(app, runtime):
    assert "回复这首诗" in (await ask(app, group_event("/help"))).text


async def test_a_plugin_that_cannot_start_leaves_the_host_running(app: App, tmp_path):
    from nonebot_plugin_cangtou.service import SERVICE

    SERVICE.hosted, SERVICE.failed, SERVICE.runtime = False, None, None
    await SERVICE.start({"cangtou_database_url": f"sqlite:///{tmp_path}/x.db",
                         "cangtou_model_dir": str(tmp_path / "no-such-model"),
                         "cangtou_limits": {"processes": False}, "cangtou_scheduler": False})  # fmt: skip
    try:
        assert SERVICE.core is None and SERVICE.failed
        assert (await ask(app, group_event("/acrostic 春风"))).text == messages.QQ_FAILED
        await silent(app, group_event("/help"))  # a name the host's plugins may answer
    finally:
        SERVICE.hosted, SERVICE.failed = False, None
