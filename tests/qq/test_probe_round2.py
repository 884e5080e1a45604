"""What the second probe of the plugin found (2026-12-07): each break, fixed, and its test."""

from __future__ import annotations

import time

import pytest
from nonebot.adapters.onebot.v11 import Message, MessageEvent, MessageSegment
from nonebot.adapters.onebot.v11.event import Sender
from nonebug import App

from bot.store import sent
from tests.qq.events import SELF_ID, group_event, private_event, reply_to
from tests.qq.test_plugin import ask, silent

pytestmark = pytest.mark.adapters


async def test_an_event_delivered_twice_is_answered_once(app: App, runtime):
    event = group_event("/acrostic 春风")
    await ask(app, event)
    await silent(app, event.model_copy())  # the same message id from the same account


async def test_a_group_message_two_accounts_receive_is_answered_once(app: App, runtime):
    first = group_event("/acrostic 明月")
    await ask(app, first)
    other = group_event("/acrostic 明月", self_id="10002")  # its own message id there
    other.time = first.time
    await silent(app, other)
    again = group_event("/acrostic 明月")  # the same user again, through the same account
    again.time = first.time
    assert (await ask(app, again)).text.startswith("《明月》")


async def test_the_bots_own_messages_reported_back_are_ignored(app: App, runtime):
    """Some implementations report the bot's own private messages: each refusal was read as
    a head and refused again, 262 messages in 15 s."""
    await silent(app, private_event("春风", user_id=int(SELF_ID)))
    await silent(app, group_event("/acrostic 春风", user_id=int(SELF_ID)))


async def test_a_channel_message_is_not_taken_for_a_private_chat(app: App, runtime):
    """A QQ channel (guild) message is a plain MessageEvent: it was answered as
    'private:<tiny id>', and its /subscribe sent daily poems to a QQ number."""
    message = Message(MessageSegment.text("/subscribe 08:00"))
    event = MessageEvent(
        time=int(time.time()), self_id=int(SELF_ID), post_type="message", sub_type="channel",
        user_id=144115218677563300, message_type="guild", message_id=77, message=message,
        original_message=message, raw_message="/subscribe 08:00", font=0,
        sender=Sender(user_id=144115218677563300), to_me=False,
    )  # fmt: skip
    await silent(app, event)


async def test_a_reply_action_to_the_bots_message_is_never_a_head(app: App, runtime):
    """In a private chat '5' or 再来 quoting the bot's help (or a forgotten poem) fell through
    to the plain-text matcher: 「藏头只能是汉字」, or a poem titled 《再来》."""
    for text in ("5", "再来", "卡片"):
        event = private_event(text)
        event.reply = reply_to(4242)
        event.original_message = Message([MessageSegment.reply(4242), MessageSegment.text(text)])
        await silent(app, event)


async def test_in_a_host_bot_private_text_is_the_hosts_conversation(app: App, runtime):
    from nonebot_plugin_cangtou.service import SERVICE

    SERVICE.hosted = True
    await silent(app, private_event("你好"))
    assert (await ask(app, private_event("/acrostic 春风"))).text.startswith("《春风》")


async def test_a_message_id_handed_out_again_names_the_new_poem(app: App, runtime):
    await ask(app, group_event("/acrostic 秋月"), result_id=7301)
    first = await runtime.core.store(sent.poem_of, "qq", SELF_ID, "7301")
    await ask(app, group_event("/acrostic 春花"), result_id=7301)  # the implementation reset
    second = await runtime.core.store(sent.poem_of, "qq", SELF_ID, "7301")
    assert second != first
    out = await ask(app, group_event("再来", user_id=1002, reply=reply_to(7301)))
    assert out.text.startswith("《春花》")


async def test_replies_to_a_message_without_a_poem_spend_no_answers(app: App, runtime):
    """Probe 2026-12-07: 再来 quoting the bot's /help used up the chat's answers to replies,
    and a real rating after that was stored without its confirmation."""
    await ask(app, group_event("/acrostic 春风"), result_id=7401)
    for user in range(1011, 1017):  # 12 replies: past the chat's 10 answers (users have 3)
        for _ in range(2):
            await silent(app, group_event("再来", user_id=user, reply=reply_to(4242)))
    out = await ask(app, group_event("5", user_id=1020, reply=reply_to(7401)))
    assert out.text.startswith("已记下")


async def test_a_reply_action_is_never_a_head_even_when_get_msg_failed(app: App, runtime):
    """Re-probe: in a private chat, with the quoted message unfetchable (event.reply None),
    再来 past the reply limit became a poem titled 《再来》."""
    from nonebot_plugin_cangtou.service import SERVICE

    await ask(app, private_event("/acrostic 春风"), result_id=7501)
    for _ in range(6):  # the user's answers to replies are spent
        SERVICE.replies.users.take("qq:1001")
    event = private_event("再来")
    event.original_message = Message([MessageSegment.reply(7501), MessageSegment.text("再来")])
    await silent(app, event)
