"""A SQLite database made read-only under the running bot (its -shm above all) degrades like a
dead database: poems with the 'database unavailable' note, storing again once it is writable,
and a clean exit — where SQLite's next write through the mapped -shm used to kill the bot with
SIGBUS, silently. And a crash in C code is never silent again (faulthandler).

The tests run as root, for whom chmod makes nothing read-only; `chattr +i` does (as would a
read-only mount), and is what turns the bot's mapped -shm read-only for real. Where it is not
allowed (no CAP_LINUX_IMMUTABLE, or a filesystem without the flag) the tests skip. For any
other user a chmod does not reach a mapping that is already open, so there is nothing to break."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.bot.cli.test_serving import ROOT, run
from tests.bot.store.test_dead_database_at_start import scheduler_jobs
from tests.fakes import FakeBotApi, buttons_of

pytestmark = pytest.mark.integration

DOWN_NOTE = "数据库暂时不可用，这首诗没有保存"


def chattr(flag: str, path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@pytest.fixture
def immutable(tmp_path):
    """`immutable(path)`: make a file read-only even for root, until the test ends (or `.undo`)."""
    probe = tmp_path / "probe"
    probe.touch()
    try:
        chattr("+i", probe)
        chattr("-i", probe)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("chattr +i is not allowed here (it needs CAP_LINUX_IMMUTABLE)")
    made = set()

    def make(path, on=True):
        chattr("+i" if on else "-i", path)
        (made.add if on else made.discard)(path)

    yield make
    for path in made:
        chattr("-i", path)


def bot_env(tmp_path, tiny_model_dir, **extra) -> dict:
    unset = ("CANGTOU_TELEGRAM__TOKEN", "CANGTOU_DISCORD__TOKEN", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({
        "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
        "CANGTOU_MODELS_DIR": str(tmp_path / "models"),
        "CANGTOU_MODEL_DIR": str(tiny_model_dir),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
        **extra,
    })  # fmt: skip
    return env


class Console:
    """`acrostic chat` on pipes: one line in, its reply out (up to the next prompt)."""

    def __init__(self, env: dict, stderr):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "chat"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        self.out = b""
        self._until_prompt("the greeting")

    def say(self, line: str) -> str:
        self.process.stdin.write(f"{line}\n".encode())
        self.process.stdin.flush()
        return self._until_prompt(line)

    def end(self) -> int:
        self.process.stdin.close()
        return self.process.wait(60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            pipe.close()

    def _until_prompt(self, what: str, timeout: float = 60) -> str:
        start = len(self.out)
        deadline = time.monotonic() + timeout
        while "藏头> ".encode() not in self.out[start:]:
            assert time.monotonic() < deadline, f"no answer to {what!r}"
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"chat died on {what!r}: rc {self.process.wait(10)}")
                self.out += chunk
        return self.out[start:].decode()


@pytest.mark.slow
def test_a_read_only_shm_under_chat_refuses_work_instead_of_dying_with_sigbus(
    tmp_path, tiny_model_dir, immutable
):
    shm = tmp_path / "bot.db-shm"
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        console = Console(bot_env(tmp_path, tiny_model_dir), stderr)
        try:
            assert "r:1:5" in console.say("/acrostic 春风")  # stored: it has rating buttons
            immutable(shm)
            reply = console.say("/acrostic 秋月")  # SIGBUS before: the bot was gone, silently
            assert "《秋月》" in reply and DOWN_NOTE in reply and "r:" not in reply
            assert "数据库暂时不可用" in console.say("/top")
            immutable(shm, on=False)
            assert "r:2:5" in console.say("/acrostic 山水")  # writable again: stored again
            immutable(shm)
            assert console.end() == 0  # closing its connections would write to the -shm
        finally:
            console.close()
    log = (tmp_path / "stderr.txt").read_text()
    assert f"the database file {shm} is read-only" in log and "writable again" in log
    assert "Fatal Python error" not in log
    immutable(shm, on=False)
    connection = sqlite3.connect(tmp_path / "bot.db")
    heads = connection.execute("SELECT head FROM poem_requests ORDER BY id").fetchall()
    assert [h for (h,) in heads] == ["春风", "山水"]
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()


@pytest.mark.slow
async def test_a_read_only_shm_under_run_keeps_serving_instead_of_dying_with_sigbus(
    tmp_path, tiny_model_dir, immutable
):
    api = FakeBotApi()
    await api.start()
    env = bot_env(tmp_path, tiny_model_dir, CANGTOU_TELEGRAM__TOKEN=api.token,
                  CANGTOU_TELEGRAM__BASE_URL=api.base_url, CANGTOU_DAILY__SWEEP_SECONDS="1",
                  CANGTOU_LIMITS__PROCESSES="false")  # fmt: skip
    stderr = open(tmp_path / "stderr.txt", "wb")  # noqa: SIM115 (closed in finally)
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=env, stderr=stderr
    )
    try:
        api.command("/acrostic 春风")
        (first,) = await api.wait_for("sendMessage", timeout=60)
        assert buttons_of(first)  # stored
        await scheduler_jobs(f"sqlite:///{tmp_path}/bot.db")
        immutable(tmp_path / "bot.db-shm")
        await asyncio.sleep(2.5)  # the daily sweep runs each second (SIGBUS there before)
        api.command("/acrostic 秋月")
        second = (await api.wait_for("sendMessage", count=2, timeout=30))[1]
        assert DOWN_NOTE in second.params["text"] and not buttons_of(second)
        assert bot.returncode is None
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 30) == 0
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
        stderr.close()
        await api.stop()
    log = (tmp_path / "stderr.txt").read_text()
    assert "bot.db-shm is read-only" in log and "Fatal Python error" not in log


def test_a_crash_in_c_code_prints_where_instead_of_dying_silently():
    # what a SIGBUS in SQLite looks like to every `acrostic` bot command (they read settings)
    code = "import os, signal; from bot.cli.serving import _settings; _settings(); " \
           "os.kill(os.getpid(), signal.SIGBUS)"  # fmt: skip
    res = run(program=(sys.executable, "-c", code))
    assert res.returncode == -signal.SIGBUS
    assert "Fatal Python error: Bus error" in res.stderr and "<string>" in res.stderr
