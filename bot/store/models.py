"""The database schema as SQLAlchemy 2 typed models (changed only through Alembic migrations)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class RequestStatus(enum.StrEnum):
    OK = "ok"
    REJECTED = "rejected"  # bad input: the error code says which
    LIMITED = "limited"  # rate limit or full queue
    FAILED = "failed"  # our fault: the error id is in the log


def _str_enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="platform_user"),
        {"sqlite_autoincrement": True},  # a forgotten user's id is never handed out again
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Chat(Base):
    __tablename__ = "chats"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="platform_chat"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="private")
    title: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # whose chat a private one is (a DM, the inline pseudo-chat): deleting the user deletes it
    # and its subscriptions. A Discord DM channel's id is not its user's id, so it is recorded.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    settings: Mapped[ChatSettings | None] = relationship(
        back_populates="chat", cascade="all, delete-orphan", uselist=False
    )


class PoemRequest(Base):
    """Every /acrostic (and 🔄) that reached the core, answered or not."""

    __tablename__ = "poem_requests"
    __table_args__ = ({"sqlite_autoincrement": True},)  # nor a deleted poem's (card, id)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("poem_requests.id", ondelete="SET NULL")
    )  # the poem a 🔄 asked another one of
    raw_text: Mapped[str] = mapped_column(String(512))  # the message, cut to 512 characters
    head: Mapped[str | None] = mapped_column(String(16))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # form, position, script, …
    poem: Mapped[str | None] = mapped_column(Text)  # as shown (traditional when asked for)
    model_version: Mapped[str | None] = mapped_column(String(64), index=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any] | None] = mapped_column()  # the engine's decoding parameters
    checks: Mapped[dict[str, Any] | None] = mapped_column()
    score: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[RequestStatus] = mapped_column(_str_enum(RequestStatus))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_id: Mapped[str | None] = mapped_column(String(16))
    # refusals of the same user folded into this one past the per-minute cap (a flood of bad
    # requests is counted, not stored row by row)
    repeats: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    used_in_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("retrain_runs.id", ondelete="SET NULL")
    )  # the retrain whose promoted model learned from this poem


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("request_id", "user_id", name="one_per_user"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_1_to_5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("poem_requests.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatSettings(Base):
    __tablename__ = "chat_settings"
    __table_args__ = (
        CheckConstraint("chars_per_line IN (5, 7)", name="form_5_or_7"),
        CheckConstraint("script IN ('simplified', 'traditional')", name="script_known"),
        CheckConstraint("temperature > 0 AND temperature <= 2", name="temperature_range"),
    )

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    chars_per_line: Mapped[int] = mapped_column(Integer, default=7)
    rhyme: Mapped[bool] = mapped_column(default=True)
    script: Mapped[str] = mapped_column(String(16), default="simplified")
    temperature: Mapped[float] = mapped_column(Float, default=0.8)  # creativity of 🔄
    theme: Mapped[str | None] = mapped_column(String(16))  # default theme; None: the head
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    chat: Mapped[Chat] = relationship(back_populates="settings")


class Subscription(Base):
    """A chat that gets a poem every day at `post_time` in `timezone`."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("chat_id", name="one_per_chat"),
        CheckConstraint("chars_per_line IN (5, 7)", name="form_5_or_7"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    post_time: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    chars_per_line: Mapped[int] = mapped_column(Integer, default=7)
    active: Mapped[bool] = mapped_column(default=True)
    last_posted_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    via: Mapped[str | None] = mapped_column(String(64))  # the account that posts it (QQ)


class SentMessage(Base):
    """Which sent message holds which poem, on platforms without buttons (QQ): a reply to the
    message rates or rewrites its poem, after a restart too. Deleted with its poem."""

    __tablename__ = "sent_messages"
    __table_args__ = (UniqueConstraint("platform", "account", "message_id", name="one_message"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64), default="")  # the bot account that sent it
    message_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[int] = mapped_column(
        ForeignKey("poem_requests.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    parent: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[dt.datetime | None] = mapped_column()


class RetrainRun(Base):
    __tablename__ = "retrain_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    trigger: Mapped[str] = mapped_column(String(32), default="schedule")
    base_version: Mapped[str | None] = mapped_column(String(64))
    candidate_version: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()


class DailyPost(Base):
    """One day's poem for one subscription. The row is claimed before sending, so a restart or a
    second replica never posts the same day twice."""

    __tablename__ = "daily_posts"
    __table_args__ = (UniqueConstraint("subscription_id", "post_date", name="once_a_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    post_date: Mapped[dt.date] = mapped_column(Date)
    head: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="sending")  # sent / failed
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("poem_requests.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
