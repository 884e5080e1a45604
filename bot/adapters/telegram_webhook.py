"""Telegram webhook mode on our own aiohttp endpoint: the secret header is checked in constant
time (PTB's built-in server compares it with `!=`), then the update joins PTB's queue."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.base.settings import Settings

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_app(application: Application, path: str, secret: str) -> web.Application:
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        """One update from Telegram, or 403 for anyone without the secret."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook request without the right secret from %s", request.remote)
            return web.Response(status=403)
        try:  # well-formed JSON that is not an update (a list, a string, {}) is a bad request
            payload = await request.json()
            if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
                return web.Response(status=400)
            update = Update.de_json(payload, application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400)
        await application.update_queue.put(update)
        return web.Response()

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/" + path.strip("/"), receive)
    return app


async def start_webhook(application: Application, settings: Settings) -> web.AppRunner:
    """Listen for updates, then tell Telegram where to send them (with the secret)."""
    telegram = settings.telegram
    secret = telegram.webhook_secret.get_secret_value()
    runner = web.AppRunner(
        webhook_app(application, telegram.webhook_path, secret), access_log=None
    )
    await runner.setup()
    await web.TCPSite(runner, telegram.webhook_listen, telegram.webhook_port).start()
    await application.bot.set_webhook(
        telegram.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES
    )
    return runner
