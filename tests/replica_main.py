"""One bot replica for tests/bot/test_locks.py (not a test): the real scheduler, job
store, advisory locks and daily sweep against a shared PostgreSQL; a stand-in retrainer that
records its run and then trains for `--hold` seconds (sleeps) while holding the retrain lock.

    python -m tests.replica_main URL MODEL_DIR NAME --hold S --linger S
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import time

from bot.base.settings import Settings
from bot.runtime import scheduler as schedules
from bot.runtime.app import build_core, build_runtime
from bot.serving.poets import PoetHolder
from bot.store.models import RetrainRun, utcnow


class SlowRetrainer:
    """Real locking and claiming (Retrainer.run's); the training is a sleep."""

    def __init__(self, real, name: str, hold: float):
        self.real, self.name, self.hold = real, name, hold
        self.training = False  # between "training run" and "finished run"

    async def run(self, trigger="schedule", once_per_night=False):
        from bot.operations.retraining import claim_tonight

        async with self.real.locks.hold("retrain") as mine:
            if not mine:
                print(f"{self.name}: lock held elsewhere", flush=True)
                return None
            if once_per_night and not await asyncio.to_thread(claim_tonight, self.real.db):
                print(f"{self.name}: already done tonight", flush=True)
                return None
            with self.real.db.session() as session:
                run = RetrainRun(status="running", trigger=trigger, decision=None,
                                 inputs={"replica": self.name})  # fmt: skip
                session.add(run)
                session.flush()
                run_id = run.id
            print(f"{self.name}: training run {run_id}", flush=True)
            self.training = True
            await asyncio.sleep(self.hold)
            with self.real.db.session() as session:
                row = session.get(RetrainRun, run_id)
                row.status, row.decision, row.finished_at = "rejected", self.name, utcnow()
            self.training = False
            print(f"{self.name}: finished run {run_id}", flush=True)


async def main(args) -> None:
    logging.basicConfig(level=logging.INFO, format=f"{args.name} %(name)s: %(message)s")
    settings = Settings(_env_file=None, database_url=args.url, replica_id=args.name,
                        auto_migrate=False)  # fmt: skip
    core = build_core(settings, PoetHolder(args.model), processes=False)
    runtime = build_runtime(settings, core)
    runtime.retrainer = SlowRetrainer(runtime.retrainer, args.name, args.hold)
    sent = []

    async def send(chat_id, reply, via=""):
        sent.append(chat_id)
        print(f"{args.name}: posted to {chat_id}", flush=True)

    runtime.senders["test"] = send
    scheduler = schedules.build_scheduler(settings)
    schedules.start(scheduler, runtime, settings)
    print(f"{args.name}: ready", flush=True)
    await asyncio.to_thread(input)  # the test says "go" on stdin: both replicas fire together
    now = dt.datetime.now(dt.UTC)
    for job_id in (schedules.RETRAIN_JOB, schedules.SWEEP_JOB):
        scheduler.get_job(job_id).modify(next_run_time=now)
    await asyncio.sleep(args.linger)
    deadline = time.monotonic() + 60  # a loaded machine: let a run that began finish first
    while runtime.retrainer.training and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await schedules.stop(scheduler)
    await core.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("model")
    parser.add_argument("name")
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--linger", type=float, default=4.0)
    asyncio.run(main(parser.parse_args()))
