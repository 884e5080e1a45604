"""A database that does not answer when the bot starts: `acrostic run` and `acrostic chat` start
anyway and write poems with the 'database unavailable' note; once it answers, the schema is
migrated, requests are stored and the scheduler runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import make_url

from bot.chat.core import Actor
from bot.runtime import scheduler as schedules
from bot.runtime.app import build_core
from bot.runtime.runner import serve
from bot.serving.poets import PoetHolder
from bot.store.models import PoemRequest
from bot.store.session import Database, current_revision, normalize_url
from tests.bot.cli.test_serving import run
from tests.conftest import POSTGRES_ENV, _fresh_postgres_database, bot_settings
from tests.fakes import FakeBotApi, buttons_of

pytestmark = pytest.mark.integration

ALICE = Actor("telegram", "1", "1", "Alice")
DOWN = "数据库暂时不可用"


class Gate:
    """A port on 127.0.0.1 that refuses connections (bound, not listening: the kernel answers
    RST, as for a dead server) until opened; then it forwards each connection to `target`."""

    def __init__(self, target: tuple[str, int] | None = None):
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []

    def open(self) -> None:
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in its thread
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dead_database(request, tmp_path):
    """(the bot's URL, the real one, revive): a database that does not answer until revived.
    PostgreSQL behind a gate that refuses connections; SQLite in a directory that cannot be
    created yet (a plain file stands where it goes, as before a volume is mounted)."""
    if request.param == "sqlite":
        volume = tmp_path / "volume"
        volume.write_text("not mounted yet")
        url = f"sqlite:///{volume}/cangtou.db"
        yield url, url, volume.unlink
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set (tests/with_postgres.sh sets it)")
    real = _fresh_postgres_database(server, f"d_{uuid.uuid4().hex[:12]}")
    parsed = make_url(real)
    gate = Gate((parsed.host, parsed.port))
    bot_url = parsed.set(port=gate.port).render_as_string(hide_password=False)
    yield bot_url, real, gate.open
    gate.close()


def stored_heads(url: str) -> list[str]:
    db = Database(url)
    try:
        with db.session() as session:
            return [row.head for row in session.scalars(select(PoemRequest).order_by("id"))]
    finally:
        db.dispose()


async def test_a_database_dead_at_start_up_gets_poems_then_is_migrated_once_it_answers(
    dead_database, poet, caplog
):
    bot_url, real_url, revive = dead_database
    core = build_core(bot_settings(bot_url), PoetHolder(poet=poet))  # raised before
    try:
        assert "database unavailable at start-up" in caplog.text
        reply = await core.command(ALICE, "/acrostic 春风")
        assert "《春风》" in reply.text and DOWN in reply.text and not reply.buttons
        assert (await core.command(ALICE, "/top")).text.startswith(DOWN)
        revive()
        reply = await core.command(ALICE, "/acrostic 秋月")  # the store migrates first
        assert "《秋月》" in reply.text and DOWN not in reply.text and reply.buttons
        assert current_revision(real_url) is not None
        assert stored_heads(real_url) == ["秋月"]
    finally:
        await core.close()
        core.db.dispose()


async def test_run_with_a_dead_database_serves_poems_and_starts_the_scheduler_once_it_answers(
    dead_database, poet, monkeypatch
):
    bot_url, real_url, revive = dead_database
    monkeypatch.setattr("bot.runtime.app.PoetHolder", lambda **_: PoetHolder(poet=poet))
    monkeypatch.setattr(schedules, "RETRY_FIRST_S", 0.05)
    monkeypatch.setattr(schedules, "RETRY_LONGEST_S", 0.2)
    api = FakeBotApi()
    await api.start()
    settings = bot_settings(bot_url, telegram={"token": api.token, "base_url": api.base_url})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))  # exited 1 before
    try:
        api.command("/acrostic 春风")
        (first,) = await api.wait_for("sendMessage", timeout=30)
        assert "《春风》" in first.params["text"] and DOWN in first.params["text"]
        assert not buttons_of(first) and not task.done()
        revive()
        assert await scheduler_jobs(real_url) == ["daily-posts", "nightly-retrain"]
        api.command("/acrostic 秋月")
        second = (await api.wait_for("sendMessage", count=2, timeout=30))[1]
        assert "《秋月》" in second.params["text"] and buttons_of(second)
        assert stored_heads(real_url) == ["秋月"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await api.stop()


async def scheduler_jobs(url: str, timeout: float = 20.0) -> list[str]:
    """The scheduler's jobs in its store, once it has started (the store is its table)."""
    engine = create_engine(normalize_url(url))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            # until then: no directory, no file or no table yet
            with contextlib.suppress(Exception), engine.connect() as connection:
                if inspect(connection).has_table("apscheduler_jobs"):
                    rows = connection.exec_driver_sql("SELECT id FROM apscheduler_jobs")
                    jobs = sorted(row[0] for row in rows)
                    if len(jobs) == 2:
                        return jobs
            await asyncio.sleep(0.1)
        raise AssertionError("the scheduler never started")
    finally:
        engine.dispose()


@pytest.mark.slow
def test_chat_with_a_dead_database_writes_poems_with_the_note(tmp_path, tiny_model_dir):
    gate = Gate()  # never opened: every connection is refused
    try:
        env = {"CANGTOU_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{gate.port}/cangtou",
               "CANGTOU_MODELS_DIR": str(tmp_path / "models"),
               "CANGTOU_MODEL_DIR": str(tiny_model_dir)}  # fmt: skip
        res = run("chat", "-c", "/acrostic 春风", "-c", "/top", env=env)
    finally:
        gate.close()
    assert res.returncode == 0, res.stderr  # 1 before, in the Alembic upgrade
    assert "《春风》" in res.stdout and "数据库暂时不可用，这首诗没有保存" in res.stdout
    assert "database unavailable at start-up" in res.stderr and "Traceback" not in res.stderr
