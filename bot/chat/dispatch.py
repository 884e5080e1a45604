"""The dispatcher: chat messages and button presses in, replies out. It knows every handler
(the command table, the callbacks); the services they use sit below it (bot.chat.core.Core)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace

from bot.base import messages
from bot.base.errors import StoreDown, error_id
from bot.base.logs import new_request_id
from bot.chat import commands, handlers
from bot.chat.actors import Actor, cleaned
from bot.chat.core import Core
from bot.chat.parsing import (
    Command,
    PoemOptions,
    again_payload,
    card_payload,
    clean_text,
    marker_in,
    parse_callback,
    parse_command,
    parse_reply_action,
    rate_payload,
)
from bot.chat.replies import CallbackAnswer, Reply
from bot.store import sent
from bot.store.models import RequestStatus

log = logging.getLogger(__name__)


class Dispatcher(Core):
    """The core's services with the entry points the adapters call; never raises into a chat."""

    async def command(self, actor: Actor, text: str) -> Reply:
        """A chat message that starts with '/'. Always returns a reply, never raises."""
        new_request_id()
        actor, text = cleaned(actor), clean_text(text)
        return await self._safely(actor, self._command(actor, text))

    def says(self, actor: Actor, reply: Reply) -> bool:
        """Whether a chat adapter sends this reply: a refusal for being over a limit is said
        once a window per user or chat (bot.chat.limits.Notices), every other reply always."""
        return reply.limited is None or self.notices.first(cleaned(actor), *reply.limited)

    async def text(self, actor: Actor, text: str) -> Reply:
        """A message without a command (a private chat, the console): its text is the head."""
        return await self.command(actor, "/acrostic " + text.strip())

    async def acrostic(self, actor: Actor, options: PoemOptions, raw_text: str = "") -> Reply:
        """A poem request with structured options (Discord's slash command)."""
        new_request_id()
        actor, options = cleaned(actor), replace(options, head=clean_text(options.head))
        if problem := marker_in(options.head):  # a theme typed into the head option
            options = replace(options, problem=problem)
        raw = clean_text(raw_text or f"/acrostic {options.head}")
        return await self._safely(actor, self.write(actor, options, raw))

    async def callback(self, actor: Actor, data: str | None) -> CallbackAnswer:
        """A button press. Forged or stale data gets a polite toast."""
        new_request_id()
        actor, data = cleaned(actor), clean_text(data or "")
        try:
            callback = parse_callback(data)
            if callback is None:
                log.info(
                    "stale or forged callback error_id=%s data=%r user=%s",
                    error_id(), (data or "")[:80], actor.user_key,
                )  # fmt: skip
                return CallbackAnswer(messages.STALE_BUTTON, alert=True)
            return await handlers.on_callback(self, actor, callback)
        except StoreDown:
            eid = error_id()
            log.error("database down during callback error_id=%s", eid)
            return CallbackAnswer(messages.DB_DOWN.format(error_id=eid), alert=True)
        except Exception:
            eid = error_id()
            log.exception("callback failed error_id=%s data=%r", eid, (data or "")[:80])
            return CallbackAnswer(messages.FAILED.format(error_id=eid), alert=True)

    async def reply_to(
        self, actor: Actor, message_id: str, text: str, quoted_is_ours: bool | None = None
    ) -> CallbackAnswer | None:
        """A reply to a sent message on a platform without buttons (QQ): '5', '★5' or '评分 5'
        rates the poem the message holds, '再来' writes another, '卡片' draws its card, as the
        buttons would. None when the text is not one of those or the message holds no poem
        (conversation, another bot's message): the adapter leaves it to others. With the
        database down it says so only when the quoted message is known to be the bot's."""
        action = parse_reply_action(clean_text(text))
        if action is None:
            return None
        try:
            poem_id = await self.store(sent.poem_of, actor.platform, actor.via, message_id)
        except StoreDown:
            eid = error_id()
            log.error("database down during a reply error_id=%s", eid)
            if not quoted_is_ours:  # perhaps a member's message: not ours to answer
                return None
            return CallbackAnswer(messages.DB_DOWN.format(error_id=eid), alert=True)
        if poem_id is None:
            return None
        kind, _, stars = action.partition(":")
        if stars == "?":  # 0, 6, 3.5 …: a rating, but off the scale
            return CallbackAnswer(messages.RATE_REPLY_HINT)
        data = rate_payload(poem_id, int(stars)) if stars else {
            "again": again_payload, "card": card_payload}[kind](poem_id)  # fmt: skip
        return await self.callback(actor, data)

    async def holds_poem(self, actor: Actor, message_id: str) -> bool | None:
        """Whether the message `actor.via` sent as `message_id` holds a poem (of any chat);
        None when the database does not answer."""
        try:
            poem_id = await self.store(sent.poem_of, actor.platform, actor.via, str(message_id))
        except StoreDown:
            return None
        return poem_id is not None

    async def remember_sent(self, actor: Actor, message_id: str, poem_id: int) -> None:
        """Record that the message the bot just sent (through `actor.via`) holds this poem.
        A database that does not answer costs the message its replies, never the message."""
        try:
            await self.store(sent.remember, actor.platform, actor.via, str(message_id), poem_id)
        except Exception:
            log.warning("could not record message %s of poem #%s", message_id, poem_id,
                        exc_info=True)  # fmt: skip

    async def _command(self, actor: Actor, text: str) -> Reply:
        if len(text) > self.settings.limits.max_message_chars:
            command = parse_command(text[:64]) or Command("acrostic", "")
            if command.name == "acrostic":
                await self.record_failure(actor, text, "too_long", RequestStatus.REJECTED)
                return Reply(messages.TOO_LONG.format(length=len(text)))
            return Reply(messages.TOO_LONG_COMMAND.format(length=len(text), name=command.name))
        command = parse_command(text)
        if command is None:
            return Reply(commands.HELP)
        return await commands.on_command(self, actor, command, text)

    async def _safely(self, actor: Actor, work: Awaitable[Reply]) -> Reply:
        try:
            return await work
        except StoreDown:
            eid = error_id()
            log.error("database down error_id=%s user=%s", eid, actor.user_key)
            return Reply(messages.DB_DOWN.format(error_id=eid), error_id=eid)
        except Exception:
            eid = error_id()
            log.exception("command failed error_id=%s user=%s", eid, actor.user_key)
            return Reply(messages.FAILED.format(error_id=eid), error_id=eid)
