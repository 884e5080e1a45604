"""OneBot v11 events as a QQ client's implementation (NapCat, Lagrange) would send them, and a
stand-in for 'any message' that keeps what the plugin sent (nonebug compares with ==)."""

from __future__ import annotations

import itertools
import time

from nonebot.adapters.onebot.v11 import (
    GroupMessageEvent,
    Message,
    MessageSegment,
    PrivateMessageEvent,
)
from nonebot.adapters.onebot.v11.event import Reply, Sender

SELF_ID = "10001"
_ids = itertools.count(500)


def group_event(text: str, *, user_id: int = 1001, group_id: int = 2001, role: str = "member",
                reply: Reply | None = None, self_id: str = SELF_ID) -> GroupMessageEvent:  # fmt: skip
    message = Message(MessageSegment.text(text))
    return GroupMessageEvent(
        time=int(time.time()), self_id=int(self_id), post_type="message", sub_type="normal",
        user_id=user_id, message_type="group", message_id=next(_ids), message=message,
        original_message=message, raw_message=text, font=0,
        sender=Sender(user_id=user_id, nickname="小明", card="", role=role),
        to_me=False, group_id=group_id, reply=reply,
    )  # fmt: skip


def private_event(
    text: str, *, user_id: int = 1001, self_id: str = SELF_ID
) -> PrivateMessageEvent:
    message = Message(MessageSegment.text(text))
    return PrivateMessageEvent(
        time=int(time.time()), self_id=int(self_id), post_type="message", sub_type="friend",
        user_id=user_id, message_type="private", message_id=next(_ids), message=message,
        original_message=message, raw_message=text, font=0,
        sender=Sender(user_id=user_id, nickname="小明"), to_me=True,
    )  # fmt: skip


def reply_to(message_id: int, sender_id: str = SELF_ID) -> Reply:
    """What the adapter puts in event.reply for a reply to `message_id` (from get_msg)."""
    return Reply(time=int(time.time()), message_type="group", message_id=message_id,
                 real_id=message_id, sender=Sender(user_id=int(sender_id)),
                 message=Message("…"))  # fmt: skip


class Sent:
    """Equal to any message, and keeps each it was compared with: nonebug's should_call_send
    checks `expected != sent`, so the plugin's real message lands here."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __eq__(self, other) -> bool:
        self.messages.append(other)
        return True

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = None

    @property
    def text(self) -> str:
        return self.messages[-1].extract_plain_text()

    @property
    def types(self) -> list[str]:
        return [segment.type for segment in self.messages[-1]]
