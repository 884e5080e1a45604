"""Small query functions over a session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.store.models import Chat, ChatSettings, PoemRequest, Rating, RequestStatus, User
from engine.text import to_simplified


def user(session: Session, platform: str, external_id: str, name: str = "") -> User:
    """The user row for (platform, id), created on first sight."""
    row = session.scalar(
        select(User).where(User.platform == platform, User.external_id == external_id)
    )
    if row is None:
        row = User(platform=platform, external_id=external_id, name=name[:128])
        session.add(row)
        session.flush()
    elif name and row.name != name[:128]:
        row.name = name[:128]
    return row


PERSONAL = ("private", "inline")  # chats that belong to one user


def chat(
    session: Session,
    platform: str,
    external_id: str,
    kind: str = "",
    title: str = "",
    owner_id: int | None = None,
) -> Chat:
    """The chat row for (platform, id), created on first sight; a private chat records its
    user (`owner_id`) the first time one is known."""
    row = session.scalar(
        select(Chat).where(Chat.platform == platform, Chat.external_id == external_id)
    )
    if row is None:
        row = Chat(platform=platform, external_id=external_id, kind=kind or "private")
        row.title = title[:256]
        session.add(row)
    if owner_id is not None and row.owner_id is None and row.kind in PERSONAL:
        row.owner_id = owner_id
    session.flush()
    return row


def chat_settings(session: Session, chat_id: int) -> ChatSettings:
    """This chat's settings; the defaults (七言, rhyme, 简体, creativity 0.8) until changed."""
    row = session.get(ChatSettings, chat_id)
    if row is None:
        row = ChatSettings(chat_id=chat_id, chars_per_line=7, rhyme=True, script="simplified")
        row.temperature = 0.8
        session.add(row)
        session.flush()
    return row


MAX_ID = 2**31 - 1  # INTEGER primary keys are 32-bit on PostgreSQL


def save_poem(
    session: Session, user_id, chat_id, parent_id, raw_text: str, options: dict, poem, latency_ms
) -> int:
    """Store a written poem (`options`: the asdict of its PoemSpec); returns its id."""
    row = PoemRequest(
        user_id=user_id,
        chat_id=chat_id,
        parent_id=parent_id,
        raw_text=raw_text[:512],
        head=options["head"],
        options=options,
        poem=poem.text,
        model_version=poem.model_version,
        seed=options.get("seed"),
        params=poem.params,
        checks=poem.checks,
        score=poem.score,
        latency_ms=latency_ms,
        status=RequestStatus.OK,
    )
    session.add(row)
    session.flush()
    return row.id


def record_failure(session: Session, actor, raw_text: str, status, code: str, eid: str) -> None:
    """Store a request that got no poem, under the error id its log line names."""
    owner = user(session, actor.platform, actor.user_id, actor.user_name)
    where = chat(session, actor.platform, actor.chat_id, actor.chat_kind, actor.chat_title,
                 owner_id=owner.id)  # fmt: skip
    session.add(
        PoemRequest(
            user_id=owner.id,
            chat_id=where.id,
            raw_text=raw_text[:512],
            options={},
            status=status,
            error_code=code,
            error_id=eid,
        )
    )


def count_refusal(session: Session, actor) -> bool:
    """Fold one more refusal into this user's newest stored refusal; False if there is none."""
    owner = session.scalar(
        select(User).where(User.platform == actor.platform, User.external_id == actor.user_id)
    )
    if owner is None:
        return False
    last = session.scalar(
        select(PoemRequest)
        .where(PoemRequest.user_id == owner.id, PoemRequest.status != RequestStatus.OK)
        .order_by(PoemRequest.id.desc())
        .limit(1)
    )
    if last is None:
        return False
    last.repeats += 1
    return True


def poem_request(session: Session, request_id: int) -> PoemRequest | None:
    """The request with this id; None for an id no row can have (a forged, huge one too)."""
    if not 1 <= request_id <= MAX_ID:
        return None  # PostgreSQL would refuse the parameter itself (NumericValueOutOfRange)
    return session.get(PoemRequest, request_id)


def last_poem(session: Session, user_id: int, chat_id: int) -> PoemRequest | None:
    """The newest answered request of this user in this chat."""
    return session.scalar(
        select(PoemRequest)
        .where(
            PoemRequest.user_id == user_id,
            PoemRequest.chat_id == chat_id,
            PoemRequest.status == RequestStatus.OK,
        )
        .order_by(PoemRequest.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class RatingSummary:
    mean: float
    count: int


def rate(session: Session, request_id: int, user_id: int, stars: int) -> bool:
    """Record or change a user's stars for a poem; True when it was a change of mind."""
    row = session.scalar(
        select(Rating).where(Rating.request_id == request_id, Rating.user_id == user_id)
    )
    if row is None:
        session.add(Rating(request_id=request_id, user_id=user_id, stars=stars))
        session.flush()
        return False
    row.stars = stars
    session.flush()
    return True


def rating_summary(session: Session, request_id: int) -> RatingSummary:
    mean, count = session.execute(
        select(func.avg(Rating.stars), func.count(Rating.id)).where(
            Rating.request_id == request_id
        )
    ).one()
    return RatingSummary(float(mean or 0.0), int(count))


@dataclass(frozen=True)
class TopPoem:
    request_id: int
    poem: str
    head: str
    mean: float
    count: int


def top_poems(session: Session, chat_id: int, limit: int = 5) -> list[TopPoem]:
    """This chat's best-rated poems: highest mean stars, then most ratings, then newest."""
    mean = func.avg(Rating.stars).label("mean")
    count = func.count(Rating.id).label("count")
    rows = session.execute(
        select(PoemRequest.id, PoemRequest.poem, PoemRequest.head, mean, count)
        .join(Rating, Rating.request_id == PoemRequest.id)
        .where(PoemRequest.chat_id == chat_id, PoemRequest.status == RequestStatus.OK)
        .group_by(PoemRequest.id, PoemRequest.poem, PoemRequest.head)
        .order_by(mean.desc(), count.desc(), PoemRequest.id.desc())
        .limit(limit)
    ).all()
    return [TopPoem(r.id, r.poem or "", r.head or "", float(r.mean), int(r.count)) for r in rows]


@dataclass(frozen=True)
class ChatStats:
    poems: int
    failed: int
    users: int
    ratings: int
    mean_stars: float
    top_head: str | None


def chat_stats(session: Session, chat_id: int) -> ChatStats:
    in_chat = PoemRequest.chat_id == chat_id
    poems = session.scalar(
        select(func.count()).where(in_chat, PoemRequest.status == RequestStatus.OK)
    )
    failed = session.scalar(
        select(func.count()).where(in_chat, PoemRequest.status != RequestStatus.OK)
    )
    users = session.scalar(select(func.count(func.distinct(PoemRequest.user_id))).where(in_chat))
    ratings, mean = session.execute(
        select(func.count(Rating.id), func.avg(Rating.stars))
        .join(PoemRequest, Rating.request_id == PoemRequest.id)
        .where(in_chat)
    ).one()
    top_head = session.scalar(
        select(PoemRequest.head)
        .where(in_chat, PoemRequest.status == RequestStatus.OK)
        .group_by(PoemRequest.head)
        .order_by(func.count().desc(), PoemRequest.head)
        .limit(1)
    )
    return ChatStats(poems or 0, failed or 0, users or 0, ratings, float(mean or 0), top_head)


def user_exists(session: Session, user_id: int) -> bool:
    return session.get(User, user_id) is not None


def existing_poems(session: Session, ids: Iterable[int]) -> set[int]:
    """Which of these poem ids still have their row (a forgotten user's are gone)."""
    wanted = [i for i in set(ids) if 1 <= i <= MAX_ID]
    if not wanted:
        return set()
    return set(session.scalars(select(PoemRequest.id).where(PoemRequest.id.in_(wanted))))


def poem_ids_of(session: Session, user_id: int) -> set[int]:
    return set(session.scalars(select(PoemRequest.id).where(PoemRequest.user_id == user_id)))


def forget_user(session: Session, user_id: int) -> tuple[int, int]:
    """Delete a user, their ratings and their requests (with the ratings others gave those)."""
    own = select(PoemRequest.id).where(PoemRequest.user_id == user_id)
    ratings = session.execute(
        delete(Rating).where((Rating.user_id == user_id) | Rating.request_id.in_(own))
    ).rowcount
    session.execute(
        PoemRequest.__table__.update().where(PoemRequest.parent_id.in_(own)).values(parent_id=None)
    )
    requests = session.execute(delete(PoemRequest).where(PoemRequest.user_id == user_id)).rowcount
    # their private chats (DMs, the inline pseudo-chat) with their settings and subscriptions
    session.execute(delete(Chat).where(Chat.owner_id == user_id))
    session.execute(delete(User).where(User.id == user_id))  # the name goes too
    return requests, ratings


def forget_again(session: Session, platform: str, external_id: str) -> None:
    """A request that came before /forgetme re-created the user's row while it ran (their
    name with it): remove it again, with whatever hangs on it."""
    user = session.scalar(select(User).where(User.platform == platform,
                                             User.external_id == external_id))  # fmt: skip
    if user is not None:
        forget_user(session, user.id)


def recent_phrases(session: Session, chat_id: int, poems: int) -> tuple[str, ...]:
    """The character 3-grams of this chat's last `poems` poems (simplified, line by line)."""
    rows = session.scalars(
        select(PoemRequest.poem)
        .where(PoemRequest.chat_id == chat_id, PoemRequest.status == RequestStatus.OK)
        .order_by(PoemRequest.id.desc())
        .limit(poems)
    )
    grams: set[str] = set()
    for text in rows:
        for line in to_simplified(text or "").replace("。", "，").split("，"):
            grams.update(line[i : i + 3] for i in range(len(line) - 2))
    return tuple(sorted(grams))


def recent_requests(session: Session, limit: int = 10) -> list[PoemRequest]:
    return list(session.scalars(select(PoemRequest).order_by(PoemRequest.id.desc()).limit(limit)))
