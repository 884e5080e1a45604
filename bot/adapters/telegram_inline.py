"""Telegram inline mode over bot/chat/inline.py: `@bot 算法进阶` in any chat, the result a user chose,
and the ★ under the poems it posts (those messages have no chat, only an inline message id)."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
    User,
)
from telegram.error import BadRequest
from telegram.ext import Application, ChosenInlineResultHandler, ContextTypes, InlineQueryHandler

from bot.chat.actors import Actor
from bot.chat.dispatch import Dispatcher
from bot.chat.inline import InlinePoems, Offer, inline_actor
from bot.chat.replies import Reply

MAX_TEXT = 4096
# Every answer is personal (Telegram caches it for the asking user only), and a shared one for
# 30 s at most: after /forgetme nobody else is offered the forgotten user's poems from
# Telegram's cache, and the asking user for half a minute at most (issue 31 item 1).
CACHE_TIME_S = 30


def add_inline_handlers(application: Application, core: Dispatcher) -> None:
    """Inline queries and chosen results (BotFather: /setinline, /setinlinefeedback)."""
    application.bot_data["inline"] = InlinePoems(core)
    application.add_handler(InlineQueryHandler(on_inline_query, block=False))
    application.add_handler(ChosenInlineResultHandler(on_chosen_result, block=False))


def actor_of(user: User) -> Actor:
    return inline_actor("telegram", str(user.id), user.full_name or "")


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row]
            for row in reply.buttons]  # fmt: skip
    return InlineKeyboardMarkup(rows) if rows else None


def article(offer: Offer) -> InlineQueryResultArticle:
    """An offer as a result: choosing it posts the poem's text with its ★ buttons."""
    return InlineQueryResultArticle(
        offer.id,
        offer.title,
        InputTextMessageContent(offer.reply.text[:MAX_TEXT]),
        reply_markup=markup(offer.reply),
        description=offer.description or None,
    )


async def on_inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Up to three poems for the query, or one result that says what is wrong with it."""
    inline: InlinePoems = context.bot_data["inline"]
    query = update.inline_query
    answer = await inline.answer(actor_of(query.from_user), query.query)
    await query.answer(
        [article(offer) for offer in answer.offers],
        cache_time=CACHE_TIME_S if answer.shared else 0,
        is_personal=True,
    )


async def on_chosen_result(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A user posted one of the offers: counted by variant, and logged."""
    inline: InlinePoems = context.bot_data["inline"]
    result = update.chosen_inline_result
    inline.chosen(actor_of(result.from_user), result.result_id)


async def on_inline_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """★ under a poem posted inline: always answered; the message shows the new rating."""
    inline: InlinePoems = context.bot_data["inline"]
    query = update.callback_query
    try:
        answer = await inline.callback(actor_of(query.from_user), query.data)
    except BaseException:
        await query.answer()
        raise
    await query.answer(answer.toast[:200], show_alert=answer.alert)
    if answer.edit is not None:  # edited by its inline message id (PTB picks it)
        try:
            await query.edit_message_text(
                answer.edit.text[:MAX_TEXT], reply_markup=markup(answer.edit)
            )
        except BadRequest as e:  # same rating again: "message is not modified"
            if "not modified" not in str(e).lower():
                raise
