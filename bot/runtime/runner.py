"""`acrostic run`: every adapter whose token is configured, sharing one core, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.base.metrics import start_health_server
from bot.base.settings import Settings
from bot.runtime.app import build_runtime
from bot.runtime.scheduler import build_scheduler, keep_trying, try_start
from bot.runtime.scheduler import stop as scheduler_stop

log = logging.getLogger(__name__)


class NoAdapters(Exception):
    """Neither a Telegram nor a Discord token is configured."""


class BadToken(Exception):
    """A platform refused the configured token (the message names the setting, not the token)."""


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Start the configured adapters, run until `stop` is set (or SIGINT/SIGTERM), stop them."""
    if not settings.telegram_on and not settings.discord_on:
        raise NoAdapters(
            "no adapter configured: set CANGTOU_TELEGRAM__TOKEN and/or CANGTOU_DISCORD__TOKEN "
            "(or try `acrostic chat`, which needs no token)"
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runtime = build_runtime(settings)
    core = runtime.core
    scheduler = build_scheduler(settings, core.db)
    scheduling = None
    stoppers = []
    try:
        if settings.observability.enabled:
            health = await start_health_server(
                core, settings.observability.host, settings.observability.port
            )
            stoppers.append(health.cleanup)
        if settings.telegram_on:
            stoppers.append(await _start_telegram(settings, runtime))
        if settings.discord_on:
            stoppers.append(await _start_discord(settings, runtime, stop))
        await core.generator.warm_up()
        if not await try_start(scheduler, runtime, settings):
            # a database that does not answer yet must not keep the bot from serving poems
            scheduling = asyncio.create_task(keep_trying(scheduler, runtime, settings))
        log.info("serving with model %s", core.poets.current.model_version)
        await stop.wait()
    finally:
        if scheduling is not None:
            scheduling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduling
        await scheduler_stop(scheduler)
        for stopper in reversed(stoppers):
            with contextlib.suppress(Exception):
                await stopper()
        await core.close()
        core.db.dispose()


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
