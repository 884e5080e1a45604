"""Who sent a command and from where (the core's view of a user and chat), and their settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.chat.parsing import clean_text


@dataclass(frozen=True)
class Actor:
    """Who sent a command, and where: ids as the platform gives them, as strings."""

    platform: str
    user_id: str
    chat_id: str
    user_name: str = ""
    chat_kind: str = "private"
    chat_title: str = ""
    chat_admin: Callable[[], Awaitable[bool]] | None = None  # None: a private chat
    via: str = ""  # the bot account that received it (QQ: one process may serve several)

    @property
    def user_key(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def chat_key(self) -> str:
        return f"{self.platform}:{self.chat_id}"


@dataclass(frozen=True)
class Context:
    user_id: int
    chat_id: int
    chars_per_line: int
    rhyme: bool
    script: str
    temperature: float
    recent: tuple[str, ...] = ()  # 3-grams of the chat's last poems, which the search avoids
    theme: str | None = None  # the chat's default theme (/settings 主题); None: the head


DEFAULT_CONTEXT = Context(0, 0, 7, True, "simplified", 0.8)


def cleaned(actor: Actor) -> Actor:
    """The actor with names every database can store (a NUL in a Telegram name, say)."""
    return replace(actor, user_name=clean_text(actor.user_name),
                   chat_title=clean_text(actor.chat_title))  # fmt: skip
