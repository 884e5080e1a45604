"""A job APScheduler stored before bot/ moved into folders (its function named by the old path
'bot.scheduler:nightly_retrain') loads and runs after migration 0004."""

from __future__ import annotations

import pickle

import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import scheduler as schedules
from bot.store.session import current_revision, upgrade

pytestmark = pytest.mark.integration


class Retrainer:
    def __init__(self):
        self.runs = []

    async def run(self, trigger, once_per_night=False):
        self.runs.append((trigger, once_per_night))


async def test_a_job_stored_before_the_move_still_runs(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade(url, "0003")  # the schema as it was before the move
    store = SQLAlchemyJobStore(url=url)
    scheduler = AsyncIOScheduler(jobstores={"default": store})
    scheduler.start(paused=True)
    scheduler.add_job(schedules.nightly_retrain, "interval", hours=24, id="nightly-retrain")
    scheduler.shutdown(wait=False)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the row as the old code stored it
        (blob,) = conn.execute(sa.text("SELECT job_state FROM apscheduler_jobs")).one()
        state = pickle.loads(blob)
        assert state["func"] == "bot.runtime.scheduler:nightly_retrain"
        state["func"] = "bot.scheduler:nightly_retrain"
        conn.execute(sa.text("UPDATE apscheduler_jobs SET job_state = :b"),
                     {"b": pickle.dumps(state)})  # fmt: skip
    with pytest.raises(LookupError):  # before the migration it no longer loads
        SQLAlchemyJobStore(url=url).lookup_job("nightly-retrain")

    upgrade(url)
    assert current_revision(url) >= "0004"
    job = SQLAlchemyJobStore(url=url).lookup_job("nightly-retrain")
    assert job.func is schedules.nightly_retrain
    retrainer = Retrainer()
    monkeypatch.setattr(schedules, "_runtime", type("R", (), {"retrainer": retrainer})())
    await job.func()
    assert retrainer.runs == [("schedule", True)]
    engine.dispose()
