"""cangtou's replies as OneBot v11 messages, and who sent an event (the core's Actor)."""

from __future__ import annotations

from nonebot.adapters.onebot.v11 import (
    Bot,
    GroupMessageEvent,
    Message,
    MessageEvent,
    MessageSegment,
)

from bot.base import messages
from bot.chat.actors import Actor
from bot.chat.parsing import parse_callback
from bot.chat.replies import Reply

MAX_TEXT = 3000  # characters of text in one QQ message
CHAT_ADMIN_ROLES = ("owner", "admin")  # a group's 群主 and 管理员 are its chat admins


def chat_of(event: MessageEvent) -> str:
    """'group:<group id>' or 'private:<user id>': the chat's id in cangtou's tables."""
    if isinstance(event, GroupMessageEvent):
        return f"group:{event.group_id}"
    return f"private:{event.user_id}"


def quoted(event: MessageEvent) -> str | None:
    """The id of the message this one replies to: the reply segment's, as the client sent it
    (kept in original_message even when the adapter could not fetch the quoted message)."""
    for segment in event.original_message:
        if segment.type == "reply" and segment.data.get("id") is not None:
            return str(segment.data["id"])
    return None if event.reply is None else str(event.reply.message_id)


def actor_of(bot: Bot, event: MessageEvent) -> Actor:
    group = isinstance(event, GroupMessageEvent)
    role = event.sender.role
    user_id, name = str(event.user_id), event.sender.card or event.sender.nickname or ""
    anonymous = getattr(event, "anonymous", None)
    if anonymous is not None:  # every anonymous member shares one user_id (80000000)
        user_id, name = f"anonymous:{anonymous.id}", anonymous.name or ""

    async def chat_admin() -> bool:
        return role in CHAT_ADMIN_ROLES

    return Actor(
        "qq",
        user_id,
        chat_of(event),
        user_name=name,
        chat_kind="group" if group else "private",
        chat_admin=chat_admin if group else None,
        via=str(bot.self_id),
    )


def to_message(reply: Reply) -> Message:
    """The card as an image segment, then the text. Every text is a text segment: a CQ code or
    a mention in user text that the reply echoes stays text, never a live segment."""
    text = reply.text
    presses = [parse_callback(b.payload) for row in reply.buttons for b in row]
    if reply.poem_id is not None and reply.buttons:
        text += "\n" + messages.QQ_REPLY_HINT  # no buttons in OneBot v11: replies instead
    elif any(p is not None and p.kind == "forget" for p in presses):
        text += "\n" + messages.QQ_FORGET_HINT
    message = Message()
    if reply.card is not None:
        message.append(MessageSegment.image(reply.card))
    message.append(MessageSegment.text(text[:MAX_TEXT]))
    return message


def sent_id(result) -> str | None:
    """The message id in a send API's result (None when the implementation gave none)."""
    if isinstance(result, dict) and result.get("message_id") is not None:
        return str(result["message_id"])
    return None
