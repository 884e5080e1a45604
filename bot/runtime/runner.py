"""`acrostic run`: every adapter whose token is configured, sharing one core, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.base.settings import Settings
from bot.runtime.app import build_runtime
from bot.runtime.services import Services

log = logging.getLogger(__name__)


class NoAdapters(Exception):
    """Neither a Telegram, a Discord nor a QQ (OneBot) token is configured."""


class BadToken(Exception):
    """A platform refused the configured token (the message names the setting, not the token),
    or an adapter could not start (the OneBot port is taken)."""


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Start the configured adapters, run until `stop` is set (or SIGINT/SIGTERM), stop them."""
    if not (settings.telegram_on or settings.discord_on or settings.qq_on):
        raise NoAdapters(
            "no adapter configured: set CANGTOU_TELEGRAM__TOKEN, CANGTOU_DISCORD__TOKEN and/or "
            "CANGTOU_ONEBOT__ACCESS_TOKEN (or try `acrostic chat`, which needs no token)"
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runtime = build_runtime(settings)
    core = runtime.core
    services = Services(settings, runtime)
    stoppers = []
    try:
        await services.start_health()
        if settings.telegram_on:
            stoppers.append(await _start_telegram(settings, runtime))
        if settings.discord_on:
            stoppers.append(await _start_discord(settings, runtime, stop))
        if settings.qq_on:
            stoppers.append(await _start_qq(settings, runtime, stop))
        await services.start()
        log.info("serving with model %s", core.poets.current.model_version)
        await stop.wait()
    finally:
        await services.stop()
        for stopper in reversed(stoppers):
            with contextlib.suppress(Exception):
                await stopper()
        await services.close_core()


async def _start_telegram(settings: Settings, runtime):
    from telegram.error import InvalidToken

    from bot.adapters import telegram_adapter

    application = telegram_adapter.build_application(settings, runtime.core)
    try:
        await telegram_adapter.start(application, settings)
    except InvalidToken:
        raise BadToken("Telegram rejected CANGTOU_TELEGRAM__TOKEN (Unauthorized)") from None
    runtime.senders["telegram"] = telegram_adapter.sender(application)
    log.info("telegram adapter started (%s)", settings.telegram.mode)
    return lambda: telegram_adapter.stop(application)


async def _start_discord(settings: Settings, runtime, stop: asyncio.Event):
    from bot.adapters import discord_adapter

    discord_adapter.point_at(settings)
    client = discord_adapter.build_bot(
        settings, runtime.core, **discord_adapter.sharding(settings)
    )
    runtime.senders["discord"] = discord_adapter.sender(client)
    try:
        await client.login(settings.discord.token.get_secret_value())
    except discord_adapter.discord.LoginFailure:
        await client.close()
        raise BadToken("Discord rejected CANGTOU_DISCORD__TOKEN (improper token)") from None
    task = asyncio.create_task(client.connect())
    task.add_done_callback(lambda t: stop.set() if not t.cancelled() and t.exception() else None)
    log.info("discord adapter started")

    async def stopper():
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)

    return stopper


async def _start_qq(settings: Settings, runtime, stop: asyncio.Event):
    from bot.adapters import onebot_server

    try:
        server = await onebot_server.start(settings, runtime, stop)
    except onebot_server.CannotListen as e:
        raise BadToken(str(e)) from None
    log.info("qq adapter (OneBot v11 reverse WebSocket) started on %s", server.url)
    return server.stop
