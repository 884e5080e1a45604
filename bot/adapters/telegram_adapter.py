"""The Telegram adapter (python-telegram-bot 22): commands and ★/🔄/🖼 buttons over the core."""

from __future__ import annotations

import logging

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.adapters.telegram_inline import add_inline_handlers, on_inline_button
from bot.base import messages
from bot.base.errors import error_id
from bot.base.settings import Settings
from bot.chat.actors import Actor
from bot.chat.commands import NAMES, telegram_menu
from bot.chat.dispatch import Dispatcher
from bot.chat.replies import Reply

log = logging.getLogger(__name__)
MAX_TEXT = 4096
MAX_CAPTION = 1024  # a photo's caption
MENU = [BotCommand(name, description) for name, description in telegram_menu()]


def build_application(settings: Settings, core: Dispatcher | None = None) -> Application:
    """A PTB Application wired to the core; run it with polling or a webhook (see `run`)."""
    if settings.telegram.token is None:
        raise ValueError("CANGTOU_TELEGRAM__TOKEN is not set")
    if core is None:
        from bot.runtime.app import build_core

        core = build_core(settings)
    base = settings.telegram.base_url.rstrip("/")
    application = (
        ApplicationBuilder()
        .token(settings.telegram.token.get_secret_value())
        .base_url(base)
        .base_file_url(base.removesuffix("/bot") + "/file/bot")
        .concurrent_updates(True)
        .post_init(_post_init)
        .build()
    )
    application.bot_data["core"] = core
    # new messages only: an edited /acrostic does not write a second poem
    application.add_handler(
        CommandHandler(NAMES, on_command, filters.UpdateType.MESSAGE, block=False)
    )
    # channels (daily-poem subscriptions): CommandHandler does not see channel posts
    channel = filters.UpdateType.CHANNEL_POST & filters.COMMAND
    application.add_handler(MessageHandler(channel, on_command, block=False))
    # Unknown commands get help in private chats; in groups they may be for another bot.
    unknown = filters.COMMAND & filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(unknown, on_command, block=False))
    # Plain text in a private chat is a head, as in the console; in groups it is conversation.
    plain = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(plain, on_text, block=False))
    application.add_handler(CallbackQueryHandler(on_button, block=False))
    add_inline_handlers(application, core)  # @bot 算法进阶 in any chat
    application.add_error_handler(on_error)
    return application


async def _post_init(application: Application) -> None:
    await application.bot.set_my_commands(MENU)


def actor_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Actor:
    user, chat = update.effective_user, update.effective_chat
    if user is None:  # a channel post: the channel speaks, and only its admins can post
        return Actor("telegram", f"chat{chat.id}", str(chat.id), chat.title or "", chat.type,
                     chat.title or "")  # fmt: skip
    is_private = chat.type == ChatType.PRIVATE

    async def chat_admin() -> bool:
        member = await context.bot.get_chat_member(chat.id, user.id)
        return member.status in ("administrator", "creator")

    return Actor(
        "telegram",
        str(user.id),
        str(chat.id),
        user_name=user.full_name or "",
        chat_kind=chat.type,
        chat_title=chat.title or "",
        chat_admin=None if is_private else chat_admin,
    )


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.payload) for b in row]
            for row in reply.buttons
        ]
    )


async def send(message: Message, reply: Reply) -> Message:
    """The reply in the message's chat: a photo captioned with its text when it has a card."""
    if reply.card is not None:
        caption = reply.text[:MAX_CAPTION]
        return await message.reply_photo(reply.card, caption, reply_markup=keyboard(reply))
    return await message.reply_text(reply.text[:MAX_TEXT], reply_markup=keyboard(reply))


def sender(application: Application):
    """Posts a reply to a chat by id (daily poems, admin notices)."""

    async def send(chat_id: str, reply: Reply, via: str = "") -> None:
        bot, markup = application.bot, keyboard(reply)
        if reply.card is not None:
            caption = reply.text[:MAX_CAPTION]
            await bot.send_photo(int(chat_id), reply.card, caption, reply_markup=markup)
        else:
            await bot.send_message(int(chat_id), reply.text[:MAX_TEXT], reply_markup=markup)

    return send


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every command goes to the core as text; its reply comes back with buttons."""
    core: Dispatcher = context.bot_data["core"]
    message, actor = update.effective_message, actor_of(update, context)
    reply = await core.command(actor, message.text or "")
    if core.says(actor, reply):  # 'over the limit' once a window, not once a message
        await send(message, reply)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A private message without a command: the core takes its text as a head."""
    core: Dispatcher = context.bot_data["core"]
    message, actor = update.effective_message, actor_of(update, context)
    reply = await core.text(actor, message.text or "")
    if core.says(actor, reply):
        await send(message, reply)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """★, 🔄 and 🖼 presses: always answered; the poem message shows the new rating."""
    query = update.callback_query
    if query.inline_message_id is not None:  # under a poem posted inline: no chat to see
        await on_inline_button(update, context)
        return
    core: Dispatcher = context.bot_data["core"]
    try:
        answer = await core.callback(actor_of(update, context), query.data)
    except BaseException:
        await query.answer()
        raise
    await query.answer(answer.toast[:200], show_alert=answer.alert)
    if answer.edit is not None and query.message is not None:
        try:
            await edit(query, answer.edit)
        except BadRequest as e:  # same rating again: "message is not modified"
            if "not modified" not in str(e).lower():
                raise
    if answer.reply is not None and query.message is not None:
        await send(query.message, answer.reply)


async def edit(query, reply: Reply) -> None:
    """New text for the message that holds the button: a card's caption, or the message's text."""
    if query.message.photo:  # a daily post's card: its text is the caption
        await query.edit_message_caption(reply.text[:MAX_CAPTION], reply_markup=keyboard(reply))
    else:
        await query.edit_message_text(reply.text[:MAX_TEXT], reply_markup=keyboard(reply))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log first, with an error id; then a short apology in the chat, if there is one."""
    eid = error_id()
    log.error("telegram handler failed error_id=%s", eid, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id, messages.FAILED.format(error_id=eid)
            )
        except Exception:
            log.warning("could not send the apology for error_id=%s", eid)


async def start(application: Application, settings: Settings) -> None:
    """Initialise and start the application with polling or a webhook, per settings."""
    telegram = settings.telegram
    await application.initialize()
    await _post_init(application)
    if telegram.mode == "webhook":
        from bot.adapters.telegram_webhook import start_webhook

        application.bot_data["webhook"] = await start_webhook(application, settings)
    else:
        await application.updater.start_polling(drop_pending_updates=False)
    await application.start()


async def stop(application: Application) -> None:
    webhook = application.bot_data.pop("webhook", None)
    if webhook is not None:
        await webhook.cleanup()
    if application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
