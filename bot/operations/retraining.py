"""The nightly retrain: gather the best-rated poems, train a candidate in a child process, and
promote it only if it measures better — recording every run and every version."""

from __future__ import annotations

import asyncio
import contextlib
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

from bot.operations.retrain_inputs import eval_heads, rated_poems
from bot.serving.registry import Registry, version_of
from bot.store.models import ModelVersion, PoemRequest, RetrainRun, utcnow
from engine.checkpoint import ModelDirError, read_meta
from train.retrain_options import RetrainKnobs, RetrainOptions

log = logging.getLogger(__name__)


@dataclass
class RetrainOutcome:
    run_id: int
    status: str  # promoted / rejected / skipped / failed
    decision: str
    version: str | None = None
    metrics: dict | None = None


class Retrainer:
    """One retrain at a time per process (the scheduler and /retrain share this)."""

    def __init__(self, settings, db, poets, registry: Registry, notify=None, locks=None):
        from bot.operations.locks import JobLocks

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
        if not inputs:  # nothing to learn: no training run, nothing promoted
            return await self._finish(run_id, "skipped", SKIPPED, None, {}, "")
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
        except asyncio.CancelledError:  # the bot is stopping: the run ends, and says why
            await asyncio.shield(self._finish(run_id, "failed", STOPPED, None, {}, ""))
            raise
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
            except asyncio.CancelledError:  # never leave the training process behind
                await asyncio.shield(self._kill(self.process))
                raise
            finally:
                self.process = None
        return code, log_path.read_text("utf-8", errors="replace")[-20_000:]

    @staticmethod
    async def _kill(process) -> None:
        """Kill the training process and reap it, before its work folder is removed."""
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def _decide(self, run_id, version, staged, base_version, inputs, report, log_text):
        if report.get("skipped"):
            return await self._finish(run_id, "skipped", report["reason"], None, {}, log_text)
        keep = ("base", "candidate", "failed_metric", "cliches", "minutes", "budget_minutes",
                "rated_poems_mixed")  # fmt: skip
        metrics = {k: report.get(k) for k in keep}
        if not report["promote"]:
            path = await asyncio.to_thread(self._keep_rejected, staged, version)
            await asyncio.to_thread(self._record_version, version, base_version, path, metrics,
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

    def _keep_rejected(self, staged: Path, version: str) -> str:
        """With retrain.keep_rejected, a rejected candidate that is servable stays on disk (for
        inspection, panels, or a deliberate `models promote`); else it is cleaned up."""
        if not self.settings.retrain.keep_rejected:
            return ""
        try:
            return str(self.registry.adopt(staged, version))
        except (ModelDirError, OSError) as e:
            log.warning("rejected candidate %s not kept: %s", version, e)
            return ""

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
STOPPED = "failed: the bot stopped during the retrain (its training process was killed)"
SKIPPED = "no new rated poems to learn from"


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
