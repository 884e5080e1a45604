"""The bot's one AsyncIOScheduler (APScheduler 3.11): the nightly retrain and the daily-post
sweep, in a persistent job store so that a run missed while the bot was down is caught up once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.store.session import SQLITE_BUSY_S, UNAVAILABLE, normalize_url, unavailable_reason

log = logging.getLogger(__name__)
RETRAIN_JOB = "nightly-retrain"
SWEEP_JOB = "daily-posts"
RETRAIN_GRACE_S = 6 * 3600  # a retrain due during a restart still runs within 6 hours
SWEEP_GRACE_S = 3600
RETRY_FIRST_S, RETRY_LONGEST_S = 1.0, 60.0  # starting the scheduler while the database is down
STORE_WAIT_MS = 1000  # the job store waits this long for a locked database (on the event loop)
STORE_RETRY_S = 5.0  # a job store that failed (database locked, gone) is tried again after this
STOP_GRACE_S = 15.0  # at shutdown a daily post under way gets this long to finish and be recorded
_runtime = None  # the running bot: jobs in a persistent store name functions, not objects
_sweeps: set[asyncio.Task] = set()  # daily-post sweeps under way (APScheduler would cancel them)


async def nightly_retrain() -> None:
    """The scheduled retrain: one replica of all, once a night (see Retrainer.run)."""
    if _runtime is None:
        log.warning("nightly retrain fired before the bot was ready")
        return
    await _runtime.retrainer.run(trigger="schedule", once_per_night=True)


async def daily_posts() -> None:
    """Post every due daily poem."""
    if _runtime is None:
        return
    task = asyncio.current_task()
    _sweeps.add(task)
    try:
        await _sweep()
    finally:
        _sweeps.discard(task)


async def _sweep() -> None:
    from bot.chat.daily import sweep

    async with _runtime.locks.hold(SWEEP_JOB) as mine:
        if not mine:
            return  # another replica is sweeping; the UNIQUE claim guards each post anyway
        results = await sweep(_runtime.core, _runtime.senders, dt.datetime.now(dt.UTC))
    if results:
        log.info("daily posts: %s", ", ".join(f"{r.subscription_id}:{r.status}" for r in results))


class _CheckedEngine:
    """The bot's engine as the job store sees it: each transaction first passes the database's
    own checks (a read-only SQLite -shm must never be touched: SIGBUS), and the Database that
    owns the engine is the one to dispose of it."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db.engine, name)

    @contextlib.contextmanager
    def begin(self):
        """A transaction that waits at most STORE_WAIT_MS for a lock: APScheduler runs its
        store on the event loop, where SQLite's 15 s busy wait froze every chat."""
        self._db.check()
        with self._db.engine.begin() as connection:
            if connection.dialect.name != "sqlite":
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {STORE_WAIT_MS}")
                yield connection
                return
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {STORE_WAIT_MS}")
            try:
                yield connection
            finally:  # the pooled connection serves the bot's own units of work next
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_S * 1000}")

    def dispose(self) -> None:
        pass


class ResilientScheduler(AsyncIOScheduler):
    """APScheduler's AsyncIOScheduler, but a job store that fails while due jobs are processed
    (a locked or vanished database) costs one wake-up, not the scheduler. APScheduler 3 lets
    that exception out of its wake-up callback, which then never re-arms its timer: every
    later daily post and retrain was silently gone until a restart."""

    store_retry_s = STORE_RETRY_S

    def _process_jobs(self):
        try:
            return super()._process_jobs()
        except Exception as e:
            log.warning("the scheduler's job store failed (%s: %s); trying again in %.0f s",
                        type(e).__name__, str(e).splitlines()[0][:200], self.store_retry_s)  # fmt: skip
            return self.store_retry_s


def build_scheduler(settings, db=None) -> AsyncIOScheduler:
    """The scheduler, its job store on `db`'s engine (or else an engine of its own)."""
    # APScheduler 3 must not share a job store between processes: each replica has its own
    # table, and the advisory locks make the jobs run once across all of them.
    table = "apscheduler_jobs" + (f"_{settings.replica_id}" if settings.replica_id else "")
    if db is None:
        store = SQLAlchemyJobStore(url=normalize_url(settings.database_url), tablename=table)
    else:
        store = SQLAlchemyJobStore(engine=_CheckedEngine(db), tablename=table)
    return ResilientScheduler(
        jobstores={"default": store},
        timezone=ZoneInfo(settings.retrain.timezone),
        job_defaults={"coalesce": True, "max_instances": 1},
    )


def ensure_jobs(scheduler: AsyncIOScheduler, settings) -> None:
    """Add each fixed job only if it is missing: re-adding it (replace_existing=True) would
    recompute next_run_time and silently drop a run missed while the bot was down. A time
    changed in settings is a deliberate reschedule."""
    hour, minute = (int(x) for x in settings.retrain.time.split(":"))
    nightly = CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(settings.retrain.timezone))
    sweep = IntervalTrigger(seconds=settings.daily.sweep_seconds)
    jobs = [
        (RETRAIN_JOB, nightly_retrain, nightly, RETRAIN_GRACE_S, settings.retrain.enabled),
        (SWEEP_JOB, daily_posts, sweep, SWEEP_GRACE_S, True),
    ]
    for job_id, func, trigger, grace, enabled in jobs:
        job = scheduler.get_job(job_id)
        if not enabled:
            if job is not None:
                job.remove()
            continue
        if job is None:
            scheduler.add_job(
                func, trigger, id=job_id, name=job_id, misfire_grace_time=grace,
                coalesce=True, max_instances=1,
            )  # fmt: skip
        elif str(job.trigger) != str(trigger):
            log.info("rescheduling %s: %s → %s", job_id, job.trigger, trigger)
            job.reschedule(trigger)


def start(scheduler: AsyncIOScheduler, runtime, settings) -> None:
    """Start paused, make sure the jobs exist, then resume: missed runs are processed once.
    If the database fails on the way, calling it again carries on."""
    global _runtime
    _runtime = runtime
    if not scheduler.running:
        scheduler.start(paused=True)
    ensure_jobs(scheduler, settings)
    scheduler.resume()


async def try_start(scheduler, runtime, settings) -> bool:
    """Start the scheduler if the database answers, its pending migration run first."""
    try:
        await asyncio.to_thread(runtime.core.db.ready)
        start(scheduler, runtime, settings)
        return True
    except UNAVAILABLE as e:
        log.warning("the scheduler waits for the database: %s", unavailable_reason(e))
    except Exception:
        log.exception("the scheduler did not start")
    return False


async def keep_trying(scheduler, runtime, settings) -> None:
    """After a failed try_start: try again, waiting twice as long each time (up to a minute),
    so that the jobs run once the database answers."""
    wait = RETRY_FIRST_S
    while True:
        await asyncio.sleep(wait)
        if await try_start(scheduler, runtime, settings):
            log.info("the database answers: scheduler started")
            return
        wait = min(wait * 2, RETRY_LONGEST_S)


async def stop(scheduler: AsyncIOScheduler) -> None:
    """Let a daily post under way finish (a poem sent but not recorded would be a post without
    its row), then shut down: AsyncIOScheduler cancels whatever still runs."""
    global _runtime
    if scheduler.running:
        scheduler.pause()
        if _sweeps:
            await asyncio.wait(set(_sweeps), timeout=STOP_GRACE_S)
        scheduler.shutdown(wait=False)
        for _ in range(3):
            await asyncio.sleep(0)
    _runtime = None
