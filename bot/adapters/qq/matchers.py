"""The plugin's matchers: commands (`/acrostic …`, `/藏头 …`, `藏头诗 …`), replies to a poem
(`5`, `★5`, `评分 5`, `再来`, `卡片`) and, at the lowest priority and never blocking, plain text
in a private chat as a head. Each hands the text to the core and sends back what it answers."""

from __future__ import annotations

import logging
import re

from nonebot import on_message
from nonebot.adapters.onebot.v11 import Bot, GroupMessageEvent, MessageEvent, PrivateMessageEvent
from nonebot.adapters.onebot.v11.exception import ActionFailed, ApiNotAvailable, NetworkError
from nonebot.matcher import Matcher
from nonebot.typing import T_State

from bot.chat.commands import COMMANDS
from bot.chat.limits import RateLimited
from bot.chat.parsing import parse_command, parse_reply_action
from bot.chat.replies import Reply

from .replies import actor_of, chat_of, quoted, sent_id, to_message
from .service import SERVICE

log = logging.getLogger(__name__)
# `藏头诗 算法进阶` with no command start: the host's COMMAND_START is its own, not ours
BARE = re.compile(r"^(藏头诗|藏頭詩)(?=\s|$)")
STARTS = ("/", "／", "!", "！")
POEM_COMMANDS = {"acrostic"}  # answered here and nowhere else (the others may be shared names)
COMMAND_PRIORITY, REPLY_PRIORITY, HEAD_PRIORITY = 10, 10, 99


def served(event: MessageEvent) -> bool:
    """A group or private message from someone else, seen for the first time. A QQ channel
    (guild) message, an event without its group, the bot's own message reported back (a
    private chat would loop), and one event delivered twice (or a group message that two of
    the bot's accounts both receive) are not."""
    if not isinstance(event, GroupMessageEvent | PrivateMessageEvent):
        return False
    if str(event.user_id) == str(event.self_id):
        return False
    return SERVICE.first_time(event)


def command_rule(event: MessageEvent, state: T_State) -> bool:
    """A cangtou command; under `acrostic run` (no other plugins) any '/…' in a private chat
    too, so that an unknown one gets help."""
    if not served(event):
        return False
    text = event.get_plaintext().strip()
    if BARE.match(text):
        text = "/" + text
    command = parse_command(text)
    if command is None:
        return False
    ours = command.name in COMMANDS
    if not ours and (event.message_type != "private" or SERVICE.hosted):
        return False  # another bot's or plugin's command
    state["cangtou"] = (text, command.name)
    return True


def reply_rule(event: MessageEvent, state: T_State) -> bool:
    """A reply action quoting one of the bot's messages (or one whose sender the OneBot
    implementation could not say: get_msg failed, and the quoted id is all there is)."""
    message_id = quoted(event)
    if message_id is None or parse_reply_action(event.get_plaintext()) is None:
        return False
    if not served(event):
        return False
    sender = None if event.reply is None else event.reply.sender.user_id
    if sender is not None and str(sender) != str(event.self_id):
        return False  # a reply to a member's message: their conversation
    state["cangtou_quoted"] = message_id
    return True


def head_rule(event: MessageEvent) -> bool:
    """Plain text in a private chat, under `acrostic run` only: in a host bot a private
    message is the host's conversation (its other plugins answer it)."""
    if SERVICE.hosted or not served(event):
        return False
    text = event.get_plaintext().strip()
    return (
        event.message_type == "private"
        and bool(text)
        and not text.startswith(STARTS)
        and not BARE.match(text)
    )


commands = on_message(rule=command_rule, priority=COMMAND_PRIORITY, block=False)
replies = on_message(rule=reply_rule, priority=REPLY_PRIORITY, block=False)
heads = on_message(rule=head_rule, priority=HEAD_PRIORITY, block=False)


async def deliver(bot: Bot, event: MessageEvent, reply: Reply) -> None:
    if SERVICE.core is not None and not SERVICE.core.says(actor_of(bot, event), reply):
        log.info("over the %s limit again: not said again (message %s)", reply.limited[0],
                 event.message_id)  # fmt: skip
        return
    await send(bot, event, reply)


async def send(bot: Bot, event: MessageEvent, reply: Reply) -> None:
    """The reply quoting the request; a poem's message is remembered for replies to it. A
    message QQ refuses (a muted bot, risk control) is logged in one line; the poem is stored."""
    async with SERVICE.recording.sending(chat_of(event)):
        try:
            result = await bot.send(event, to_message(reply), reply_message=True)
        except (ActionFailed, NetworkError, ApiNotAvailable) as e:
            log.warning("QQ did not take the reply to message %s: %s", event.message_id, e)
            return
        if reply.poem_id is not None and (message_id := sent_id(result)):
            await SERVICE.core.remember_sent(actor_of(bot, event), message_id, reply.poem_id)


async def not_ready(bot: Bot, event: MessageEvent, name: str = "acrostic") -> bool:
    """True (and, for a poem, says so) while there is no core. In a host bot a command whose
    name other plugins may share (/help, /stats) is then left to them."""
    if SERVICE.core is not None:
        return False
    if name in POEM_COMMANDS or not SERVICE.hosted:
        await deliver(bot, event, Reply(SERVICE.unavailable()))
    return True


@commands.handle()
async def on_command(bot: Bot, event: MessageEvent, matcher: Matcher, state: T_State) -> None:
    text, name = state["cangtou"]
    if name in POEM_COMMANDS or event.message_type == "private":
        matcher.stop_propagation()  # a private `/…` of ours is no head for the catch-all
    if await not_ready(bot, event, name):
        return
    await deliver(bot, event, await SERVICE.core.command(actor_of(bot, event), text))


@replies.handle()
async def on_reply(bot: Bot, event: MessageEvent, matcher: Matcher, state: T_State) -> None:
    if SERVICE.core is None:
        return
    actor, text = actor_of(bot, event), event.get_plaintext()
    ours = True if event.reply is not None and event.reply.sender.user_id is not None else None
    await SERVICE.recording.settled(chat_of(event))  # its message may be being recorded now
    holds = await SERVICE.core.holds_poem(actor, state["cangtou_quoted"])
    if ours or holds:  # a reply action to the bot's message is never a head or another's command
        matcher.stop_propagation()  # (holds: even where get_msg failed and the sender is unknown)
    if holds is False:
        return  # the bot's help, a member's message: conversation, and no answer spent on it
    try:  # every answer to a reply is a group message: a flood of them is not
        SERVICE.replies.check(actor.user_key, actor.chat_key)
        loud = True
    except RateLimited:
        loud = False
    if not loud and not parse_reply_action(text).startswith("rate"):
        return  # 再来 and 卡片 past the limit: nothing sent
    answer = await SERVICE.core.reply_to(actor, state["cangtou_quoted"], text, ours)
    if answer is None:  # not a message of ours that holds a poem: conversation
        return
    matcher.stop_propagation()
    if not loud:  # the rating is stored; its confirmation would flood the group
        return
    if answer.reply is not None:  # 再来: the new poem; 卡片: the card
        await deliver(bot, event, answer.reply)
    else:  # the rating's confirmation, or why not
        await deliver(bot, event, Reply(answer.toast))


@heads.handle()
async def on_head(bot: Bot, event: MessageEvent) -> None:
    if await not_ready(bot, event):
        return
    await deliver(bot, event, await SERVICE.core.text(actor_of(bot, event), event.get_plaintext()))
