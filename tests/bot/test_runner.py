"""`acrostic run`: both adapters at once over one core, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import time

import discord
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.runtime.runner import NoAdapters, serve
from bot.serving.poets import PoetHolder
from tests.conftest import bot_settings
from tests.fake_discord import FakeDiscord
from tests.fakes import FakeBotApi

pytestmark = pytest.mark.adapters


async def test_serve_runs_telegram_and_discord_together(sqlite_url, poet, monkeypatch):
    api, gateway = FakeBotApi(), FakeDiscord()
    await api.start()
    await gateway.start()
    # serve() points discord.py at the configured servers; monkeypatch restores the defaults
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    monkeypatch.setattr("bot.runtime.app.PoetHolder", lambda **_: PoetHolder(poet=poet))
    settings = bot_settings(
        sqlite_url,
        telegram={"token": api.token, "base_url": api.base_url},
        discord={"token": "t", "api_base": gateway.api_base, "gateway_url": gateway.gateway_url},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        await asyncio.wait_for(gateway.identified.wait(), 10)  # discord connected
        api.command("/acrostic 天地")
        token = await gateway.slash("acrostic", {"head": "日月"})
        (telegram_reply,) = await api.wait_for("sendMessage")
        (discord_reply,) = await gateway.wait_for("POST", f"/webhooks/7000/{token}")
        assert "《天地》" in telegram_reply.params["text"]
        assert "《日月》" in discord_reply.body["content"]
        engine = create_engine(sqlite_url)  # the scheduler starts after the workers' warm-up
        jobs, deadline = [], time.monotonic() + 60
        while jobs != ["daily-posts", "nightly-retrain"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            with contextlib.suppress(OperationalError), engine.connect() as connection:
                rows = connection.execute(text("SELECT id FROM apscheduler_jobs ORDER BY id"))
                jobs = [row[0] for row in rows]
        engine.dispose()
        assert jobs == ["daily-posts", "nightly-retrain"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await api.stop()
        await gateway.stop()


async def test_serve_without_tokens_is_a_clear_error(sqlite_url):
    with pytest.raises(NoAdapters, match="CANGTOU_TELEGRAM__TOKEN"):
        await serve(bot_settings(sqlite_url))
