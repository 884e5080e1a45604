"""Which sent message holds which poem (platforms without buttons: a reply names a message)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import PoemRequest, SentMessage

MAX_MESSAGE_ID = 64  # characters of a platform's message id that are kept


def remember(session: Session, platform: str, account: str, message_id: str, poem_id: int) -> bool:
    """Record that `message_id` (sent by `account`) holds poem `poem_id`; False when the poem is
    gone (forgotten while it was being sent). An id the implementation hands out again (its
    database reset, ids wrapped) now names the new message: what the user sees and replies to."""
    message_id = str(message_id)[:MAX_MESSAGE_ID]
    if session.get(PoemRequest, poem_id) is None:
        return False
    key = (SentMessage.platform == platform, SentMessage.account == account,
           SentMessage.message_id == message_id)  # fmt: skip
    earlier = session.scalar(select(SentMessage).where(*key))
    if earlier is not None:
        earlier.request_id = poem_id
        return True
    session.add(SentMessage(platform=platform, account=account, message_id=message_id,
                            request_id=poem_id))  # fmt: skip
    return True


def poem_of(session: Session, platform: str, account: str, message_id: str) -> int | None:
    """The poem a sent message holds; None for any other message."""
    message_id = str(message_id)
    if len(message_id) > MAX_MESSAGE_ID:
        return None
    return session.scalar(
        select(SentMessage.request_id).where(
            SentMessage.platform == platform,
            SentMessage.account == account,
            SentMessage.message_id == message_id,
        )
    )
