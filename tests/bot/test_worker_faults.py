"""Generation workers that die: the queue survives one worker's death, and a killed bot leaves
no worker processes behind — worker processes and step-scheduler processes alike."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.chat.core import Actor
from bot.runtime.app import build_core
from bot.serving.poets import PoetHolder
from bot.store.models import PoemRequest
from tests import REPO_ROOT
from tests.conftest import bot_settings

pytestmark = pytest.mark.integration

ROOT = REPO_ROOT


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def worker_pids(generator) -> list[int]:
    if generator.batching:
        return [slot.process.pid for slot in generator._schedulers.slots]
    return list(generator._process_pool._processes)


@pytest.mark.slow
@pytest.mark.parametrize("batching", [True, False])
async def test_one_dead_worker_fails_none_of_the_queued_poems(
    sqlite_url, tiny_model_dir, batching
):
    limits = {"workers": 2, "queue_size": 64, "user_burst": 100, "chat_burst": 100}
    settings = bot_settings(sqlite_url, limits={**limits, "batching": batching})
    core = build_core(settings, PoetHolder(tiny_model_dir), processes=True)
    try:
        await core.generator.warm_up()
        victim = worker_pids(core.generator)[0]
        tasks = [
            asyncio.create_task(core.command(Actor("telegram", str(n), "-1"), "/acrostic 春风"))
            for n in range(40)
        ]
        await asyncio.sleep(0.05)  # the first poems are being written, the rest queued
        os.kill(victim, signal.SIGKILL)
        replies = await asyncio.gather(*tasks)
        assert [r for r in replies if "《春风》" not in r.text] == []
        with core.db.session() as session:
            statuses = session.scalars(select(PoemRequest.status)).all()
        assert len(statuses) == 40 and set(statuses) == {"ok"}
    finally:
        await core.close()
        core.db.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("batching", [True, False])
def test_a_killed_bot_leaves_no_worker_processes(tiny_model_dir, batching):
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from bot.serving.generation import Generator
        from bot.serving.poets import PoetHolder
        from tests.bot.test_worker_faults import worker_pids

        async def main():
            generator = Generator(PoetHolder({str(tiny_model_dir)!r}), 2, 4, processes=True,
                                  batching={batching!r})
            await generator.warm_up()
            print(*worker_pids(generator), flush=True)
            time.sleep(60)

        asyncio.run(main())
    """)
    bot = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                           text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    workers: list[int] = []
    try:
        workers = [int(pid) for pid in bot.stdout.readline().split()]
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)
        deadline = time.monotonic() + 30  # a worker still importing torch checks after it
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if alive(pid)]
    finally:
        bot.kill()
        bot.stdout.close()
        for pid in workers:  # orphans of a failed run are not left to the next test
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
