"""/healthz, Prometheus /metrics and request ids in JSON logs."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
import pytest

from bot.base.logs import JsonFormatter, RequestIdFilter
from bot.base.metrics import start_health_server
from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from bot.runtime.app import build_core
from bot.serving.poets import PoetHolder
from tests.conftest import bot_settings

pytestmark = pytest.mark.unit

ALICE = Actor("telegram", "1", "1", "Alice")


async def get(port, path):
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


async def test_healthz_and_metrics(core, unused_tcp_port):
    runner = await start_health_server(core, "127.0.0.1", unused_tcp_port)
    try:
        status, body = await get(unused_tcp_port, "/healthz")
        assert status == 200 and json.loads(body) == {
            "model": "tiny", "database": "ok", "status": "ok"}  # fmt: skip
        reply = await core.command(ALICE, "/acrostic 春风")
        await core.command(ALICE, "/acrostic 🙂")
        await core.callback(ALICE, f"r:{to_base36(reply.poem_id)}:5")
        status, body = await get(unused_tcp_port, "/metrics")
        assert status == 200
        assert 'cangtou_requests_total{status="ok"} 1.0' in body
        assert 'cangtou_requests_total{status="rejected"} 1.0' in body
        assert 'cangtou_ratings_total{stars="5"} 1.0' in body
        assert 'cangtou_model_info{version="tiny"} 1.0' in body
        assert "cangtou_queue_depth 0.0" in body
        assert "cangtou_poem_latency_seconds_bucket" in body
    finally:
        await runner.cleanup()


async def test_healthz_says_503_when_the_database_is_down(poet, unused_tcp_port):
    settings = bot_settings("postgresql://nobody@127.0.0.1:1/x", auto_migrate=False)
    core = build_core(settings, PoetHolder(poet=poet))
    runner = await start_health_server(core, "127.0.0.1", unused_tcp_port)
    try:
        status, body = await get(unused_tcp_port, "/healthz")
        assert status == 503 and json.loads(body)["database"].startswith("down")
    finally:
        await runner.cleanup()
        await core.close()


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


async def test_each_request_logs_with_its_own_request_id(core, json_log):
    await core.command(ALICE, "/acrostic 😀")
    await core.command(ALICE, "/acrostic abc")
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    refused = [r for r in records if r["msg"].startswith("request rejected")]
    assert len(refused) == 2 and all(r["level"] == "INFO" for r in refused)
    ids = {r["request_id"] for r in refused}
    assert len(ids) == 2 and all(len(i) == 12 for i in ids)


@pytest.fixture
def text_log():
    """The bot's own logging set-up (bot.base.logs.setup_logging) writing to a buffer."""
    from bot.base.logs import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()

    def setup(level="INFO", secrets=()):
        setup_logging(level, "text", secrets=secrets, stream=stream)
        return stream

    yield setup
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


async def test_a_newline_in_a_refused_command_cannot_forge_a_log_line(core, text_log):
    stream = text_log()
    forged = "2026-11-22 03:00:00,000 WARNING bot.operations.admin [-]: rollback by telegram:99"
    reply = await core.command(ALICE, f"/retrain \x1b[2K\n{forged}")
    assert reply.text.startswith("抱歉")  # refused: Alice is not a bot admin
    lines = stream.getvalue().splitlines()
    refused = [line for line in lines if "admin command refused" in line]
    assert len(refused) == 1 and "/retrain \\x1b[2K\\n2026-11" in refused[0]
    assert not [line for line in lines if line.startswith("2026-11-22 03:00:00")]


async def test_tokens_never_reach_the_log_even_from_the_libraries(core, text_log):
    from telegram.ext import ApplicationBuilder

    token = "123456:AAHsecretsecretsecret"
    stream = text_log("DEBUG", secrets=[token])
    ApplicationBuilder().token(token).build()  # PTB logs "Set Bot API URL: …/bot<token>"
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{token}/getMe failed")
    except RuntimeError:
        logging.getLogger("telegram.ext").exception("rejected")
    text = stream.getvalue()
    assert "Set Bot API URL" in text and "«redacted»" in text and "Traceback" in text
    assert token not in text and "AAHsecret" not in text
