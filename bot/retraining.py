"""The nightly retrain: gather the best-rated poems, train a candidate in a child process, and
promote it only if it measures better — recording every run and every version."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bot.registry import Registry, version_of
from bot.store.models import ModelVersion, PoemRequest, Rating, RequestStatus, RetrainRun, utcnow
from engine.checkpoint import ModelDirError, read_meta
from engine.poet import SHIPPED_MODEL
from engine.text import PERIOD, is_han, to_simplified
from train.evaluate import read_heads
from train.retrain_options import RetrainKnobs, RetrainOptions

log = logging.getLogger(__name__)
HEADS_FILE = SHIPPED_MODEL / "heads.txt"  # the public heads, package data of the engine


def rated_poems(session, min_mean: float, min_raters: int) -> list[tuple[int, str]]:
    """(request id, simplified text) of poems rated ≥ min_mean by ≥ min_raters distinct users,
    answered, passing the acrostic and form checks, not yet learned from; duplicates dropped."""
    rows = session.execute(
        select(PoemRequest.id, PoemRequest.poem, PoemRequest.checks)
        .join(Rating, Rating.request_id == PoemRequest.id)
        .where(PoemRequest.status == RequestStatus.OK, PoemRequest.used_in_run_id.is_(None))
        .group_by(PoemRequest.id, PoemRequest.poem, PoemRequest.checks)
        .having(func.avg(Rating.stars) >= min_mean)
        .having(func.count(func.distinct(Rating.user_id)) >= min_raters)
        .order_by(PoemRequest.id)
    ).all()
    seen, out = set(), []
    for request_id, poem, checks in rows:
        text = to_simplified(poem or "")
        checks = checks or {}
        well_formed = checks.get("acrostic") and checks.get("form") and text.endswith(PERIOD)
        if well_formed and all(is_han(ch) or ch in "，。" for ch in text) and text not in seen:
            seen.add(text)
            out.append((request_id, text))
    return out


def eval_heads(count: int, path: Path = HEADS_FILE) -> list[str]:
    """The first `count` public heads. A missing or empty file is an error, never a silent
    fallback to a handful of built-in heads: the gate would judge far fewer poems than it says."""
    heads = read_heads(path)
    if not heads:
        raise ValueError(f"no heads in {path}")
    return heads[:count]


@dataclass
class RetrainOutcome:
    run_id: int
    status: str  # promoted / rejected / failed
    decision: str
    version: str | None = None
    metrics: dict | None = None


class Retrainer:
    """One retrain at a time per process (the scheduler and /retrain share this)."""

    def __init__(self, settings, db, poets, registry: Registry, notify=None, locks=None):
        from bot.locks import JobLocks

        self.locks = locks or JobLocks(db)  # one retrain across all replicas
        self.settings = settings
        self.db = db
        self.poets = poets
        self.registry = registry
        self.notify = notify  # async callable(text) telling the admins
        self.lock = asyncio.Lock()
        self.process: asyncio.subprocess.Process | None = None
        self.running_run: int | None = None

    async def run(self, trigger: str = "schedule", once_per_night: bool = False):
        """Retrain now; None if one is already running here or on another replica (or, for the
        nightly run, if one already finished tonight)."""
        if self.lock.locked():
            return None
        async with self.lock, self.locks.hold("retrain") as mine:
            if not mine:
                log.info("retrain (%s): another replica is running one", trigger)
                return None
            fresh = await asyncio.to_thread(claim_tonight, self.db)
            if once_per_night and not fresh:
                log.info("nightly retrain: already done tonight by another replica")
                return None
            outcome = await self._run(trigger)
        if self.notify is not None:
            try:
                await self.notify(outcome)
            except Exception:
                log.exception("could not tell the admins about retrain run %d", outcome.run_id)
        return outcome

    async def _run(self, trigger: str) -> RetrainOutcome:
        cfg = self.settings.retrain
        base_path = self.poets.path or self.registry.current_path()  # what is being served
        base_version = version_of(base_path)
        run_id, inputs = await asyncio.to_thread(self._start_run, trigger, base_version)
        self.running_run = run_id
        version = f"cangtou-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-r{run_id}"
        work = Path(tempfile.mkdtemp(prefix="cangtou-retrain-"))
        staged = self.registry.staging_dir(version)
        try:
            heads = eval_heads(cfg.eval_heads)
            code, log_text = await self._train(base_path, staged, work, inputs, heads)
            report_path = work / "report.json"
            if code != 0 or not report_path.exists():
                decision = f"failed: the training process exited with {code}"
                return await self._finish(run_id, "failed", decision, None, {}, log_text)
            report = json.loads(report_path.read_text("utf-8"))
            return await self._decide(
                run_id, version, staged, base_version, inputs, report, log_text
            )
        except Exception as e:
            log.exception("retrain run %d failed", run_id)
            return await self._finish(run_id, "failed", f"failed: {e}", None, {}, "")
        finally:
            self.running_run = None
            shutil.rmtree(work, ignore_errors=True)
            # the candidate (promoted ones were moved out already), its training state, and any
            # temporary directory of a save the kill interrupted; one retrain at a time (locked)
            self.registry.clean_staging()

    def _start_run(self, trigger: str, base_version: str) -> tuple[int, list]:
        cfg = self.settings.retrain
        self.registry.clean_staging()  # leftovers of a run that was killed
        with self.db.session() as session:
            inputs = rated_poems(session, cfg.min_mean, cfg.min_raters)
            run = RetrainRun(
                status="running", trigger=trigger, base_version=base_version,
                inputs={"request_ids": [i for i, _ in inputs], "poems": len(inputs),
                        "min_mean": cfg.min_mean, "min_raters": cfg.min_raters,
                        "corpus": str(cfg.corpus_dir)},
            )  # fmt: skip
            session.add(run)
            session.flush()
            return run.id, inputs

    async def _train(self, base: Path, out: Path, work: Path, inputs, heads):
        cfg = self.settings.retrain
        options = RetrainOptions(
            **cfg.model_dump(include=set(RetrainKnobs.model_fields)),
            base=base, corpus=cfg.corpus_dir, out=out, report=work / "report.json",
            extra_texts=[text for _, text in inputs], heads=heads,
        )  # fmt: skip
        (work / "options.json").write_text(options.model_dump_json(), "utf-8")
        args = [sys.executable, "-m", "train.retrain", "--options", str(work / "options.json")]
        log_path = work / "train.log"
        with open(log_path, "wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *args, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            try:
                code = await self.process.wait()
            finally:
                self.process = None
        return code, log_path.read_text("utf-8", errors="replace")[-20_000:]

    async def _decide(self, run_id, version, staged, base_version, inputs, report, log_text):
        metrics = {"base": report["base"], "candidate": report["candidate"],
                   "minutes": report.get("minutes"), "rated_poems_mixed": report.get("rated_poems_mixed")}  # fmt: skip
        if not report["promote"]:
            await asyncio.to_thread(self._record_version, version, base_version, "", metrics,
                                    "rejected", report["reason"])  # fmt: skip
            return await self._finish(
                run_id, "rejected", report["reason"], version, metrics, log_text
            )
        try:
            path = await asyncio.to_thread(self.registry.adopt, staged, version)
            await asyncio.to_thread(self.registry.set_current, version)
        except (ModelDirError, OSError) as e:
            return await self._finish(run_id, "failed", f"failed: {e}", version, metrics, log_text)
        await asyncio.to_thread(self._record_version, version, base_version, str(path), metrics,
                                "current", report["reason"], [i for i, _ in inputs], run_id)  # fmt: skip
        await asyncio.to_thread(self.poets.refresh)
        return await self._finish(run_id, "promoted", report["reason"], version, metrics, log_text)

    def _record_version(
        self, version, parent, path, metrics, status, reason, used=(), run_id=None
    ):
        with self.db.session() as session:
            if status == "current":
                record_current(
                    session, self.registry, version, reason, parent, path, metrics, parent
                )
                if used:
                    session.execute(
                        PoemRequest.__table__.update()
                        .where(PoemRequest.id.in_(list(used)))
                        .values(used_in_run_id=run_id)
                    )
            else:
                session.add(ModelVersion(version=version, parent=parent, path=path,
                                         metrics=metrics, status=status, reason=reason))  # fmt: skip

    async def _finish(
        self, run_id, status, decision, version, metrics, log_text
    ) -> RetrainOutcome:
        def save(session):
            run = session.get(RetrainRun, run_id)
            run.status, run.decision, run.candidate_version = status, decision, version
            run.metrics, run.log, run.finished_at = metrics, log_text, utcnow()

        await asyncio.to_thread(self._in_session, save)
        log.info("retrain run %d %s: %s", run_id, status, decision)
        return RetrainOutcome(run_id, status, decision, version, metrics)

    def _in_session(self, fn):
        with self.db.session() as session:
            return fn(session)


ABANDONED = "abandoned: the process running it stopped"


def claim_tonight(db, hours: float = 12) -> bool:
    """Called while holding the retrain lock. Runs left 'running' belong to a process that died
    (it would hold the lock otherwise): they are marked abandoned. Returns False if a scheduled
    run came to a decision in the last `hours`."""
    since = utcnow() - dt.timedelta(hours=hours)
    with db.session() as session:
        for run in session.scalars(select(RetrainRun).where(RetrainRun.status == "running")):
            run.status, run.decision, run.finished_at = "failed", ABANDONED, utcnow()
        session.flush()
        decided = session.scalar(
            select(func.count()).where(
                RetrainRun.trigger == "schedule",
                RetrainRun.started_at >= since,
                RetrainRun.decision != ABANDONED,
            )
        )
    return decided == 0


def record_current(
    session, registry: Registry, version, reason, parent=None, path="", metrics=None, previous=None
):
    """Mark `version` current in the database and the one before it (`previous`, created if it
    was never recorded — the shipped model, say) retired, so a rollback can find it."""
    now = utcnow()
    for row in session.scalars(select(ModelVersion).where(ModelVersion.status == "current")):
        if row.version != version:
            row.status = "retired"
    if previous and previous != version:
        before = _version_row(session, registry, previous)
        before.status = "retired"
        before.promoted_at = before.promoted_at or now - dt.timedelta(microseconds=1)
    row = _version_row(session, registry, version, parent, path, metrics)
    row.status, row.reason, row.promoted_at = "current", reason, now
    session.flush()
    return row


def _version_row(session, registry, version, parent=None, path="", metrics=None) -> ModelVersion:
    row = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if row is None:
        meta = _meta(registry.path_of(version))
        row = ModelVersion(version=version, parent=parent or meta.get("parent"),
                           path=path or str(registry.path_of(version)),
                           metrics=metrics or meta.get("metrics", {}), reason="",
                           status="retired")  # fmt: skip
        session.add(row)
        session.flush()
    return row


def _meta(path: Path) -> dict:
    try:
        meta = read_meta(path)
    except ModelDirError:
        return {}
    metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "curve"}
    return {"parent": meta.get("parent"), "metrics": metrics}
