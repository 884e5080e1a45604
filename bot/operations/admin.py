"""Model administration shared by chat commands and the CLI: list, promote, roll back, retrain."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from bot.base import messages
from bot.operations.retraining import Retrainer, record_current
from bot.serving.registry import Registry, version_of
from bot.store.models import ModelVersion, RetrainRun
from engine.checkpoint import ModelDirError, read_meta

log = logging.getLogger(__name__)


class AdminError(Exception):
    """An admin action that cannot be done; the message says why."""


def promote(db, registry: Registry, version: str, reason: str) -> str:
    """Validate and serve `version` (atomic CURRENT switch); record it. Returns the old one."""
    old = registry.current_version()
    try:
        registry.set_current(version)
    except Exception as e:
        raise AdminError(f"{version}: {e}") from e
    with db.session() as session:
        record_current(session, registry, version, reason, previous=old)
    return old


def rollback(db, registry: Registry) -> tuple[str, str]:
    """Serve the version that was current before this one; returns (from, to)."""
    current = registry.current_version()
    with db.session() as session:
        rows = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.promoted_at.is_not(None), ModelVersion.version != current)
            .order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc())
        ).all()
        candidates = [r.version for r in rows]
    default = version_of(registry.default)
    if default != current and default not in candidates:
        candidates.append(default)  # the shipped model is always there to fall back on
    for version in candidates:
        if version == default or registry.path_of(version).exists():
            promote(db, registry, version, f"rollback from {current}")
            with db.session() as session:
                row = session.scalar(select(ModelVersion).where(ModelVersion.version == current))
                if row is not None:
                    row.status = "rolled_back"
            return current, version
    raise AdminError(f"nothing to roll back to from {current}")


def versions(db, registry: Registry) -> list[dict]:
    """Every known version: on disk, in the database, or both."""
    with db.session() as session:
        rows = {r.version: r for r in session.scalars(select(ModelVersion))}
    current = registry.current_version()
    names = dict.fromkeys([version_of(registry.default), *registry.versions(), *rows])
    out = []
    for name in names:
        row = rows.get(name)
        test = (row.metrics.get("candidate") or row.metrics) if row else {}
        test = test.get("test_nats_per_char") or _disk_test_nats(registry, name)
        out.append({
            "version": name, "current": name == current, "status": row.status if row else "on disk",
            "parent": row.parent if row else None, "test_nats_per_char": test,
            "promoted_at": row.promoted_at.isoformat(timespec="seconds") if row and row.promoted_at else None,
            "reason": row.reason if row else "",
        })  # fmt: skip
    return out


def _disk_test_nats(registry: Registry, version: str) -> float | None:
    """The test cross-entropy model.json records (a version never promoted through the
    database, the shipped one say, still has its number)."""
    try:
        return read_meta(registry.path_of(version)).get("metrics", {}).get("test_nats_per_char")
    except (ModelDirError, OSError, ValueError):
        return None


class AdminHooks:
    """What the core's /model, /retrain and /rollback call (admins are checked by the core)."""

    def __init__(self, db, registry: Registry, poets, retrainer: Retrainer):
        self.db, self.registry, self.poets, self.retrainer = db, registry, poets, retrainer
        self.background: set[asyncio.Task] = set()

    async def model_info(self, actor) -> str:
        await asyncio.to_thread(self.poets.refresh)
        version = self.registry.current_version()

        def load():
            with self.db.session() as session:
                return session.scalar(select(ModelVersion).where(ModelVersion.version == version))

        row = await asyncio.to_thread(load)
        meta = self.poets.current.loaded.meta
        test = meta.get("metrics", {}).get("test_nats_per_char")
        lines = [messages.MODEL_INFO.format(
            version=version, created=meta.get("created_at", "—"),
            test_nats="—" if test is None else f"{test:.4f}",
            params=f"{sum(p.numel() for p in self.poets.current.model.parameters()):,}",
        )]  # fmt: skip
        if row is not None and row.promoted_at is not None:
            lines.append(messages.MODEL_PROMOTED.format(
                when=row.promoted_at.isoformat(timespec="minutes"), reason=row.reason or "—",
                parent=row.parent or "—"))  # fmt: skip
        return "\n".join(lines)

    async def retrain(self, actor, args: str) -> str:
        if args.strip().lower() in ("status", "状态"):
            return await asyncio.to_thread(self._status)
        if self.retrainer.lock.locked():
            return messages.RETRAIN_BUSY.format(run=self.retrainer.running_run)
        task = asyncio.get_running_loop().create_task(
            self.retrainer.run(trigger=f"admin {actor.user_key}")
        )
        self.background.add(task)  # kept referenced until done (and awaitable by the console)
        task.add_done_callback(self.background.discard)
        return messages.RETRAIN_STARTED

    def _status(self) -> str:
        with self.db.session() as session:
            run = session.scalar(select(RetrainRun).order_by(RetrainRun.id.desc()).limit(1))
            if run is None:
                return messages.RETRAIN_NEVER
            return messages.RETRAIN_STATUS.format(
                run=run.id, status=run.status, started=run.started_at.isoformat(timespec="minutes"),
                poems=run.inputs.get("poems", 0), decision=run.decision or "—",
            )  # fmt: skip

    async def rollback(self, actor) -> str:
        try:
            old, new = await asyncio.to_thread(rollback, self.db, self.registry)
        except AdminError as e:
            return messages.ROLLBACK_FAILED.format(reason=str(e))
        await asyncio.to_thread(self.poets.refresh)
        log.warning("rollback by %s: %s → %s", actor.user_key, old, new)
        return messages.ROLLED_BACK.format(old=old, new=new)


def outcome_text(outcome) -> str:
    """The admins' notice when a retrain ends."""
    m = outcome.metrics or {}
    base, cand = m.get("base", {}), m.get("candidate", {})
    if outcome.status == "failed":
        return messages.RETRAIN_FAILED_NOTE.format(run=outcome.run_id, decision=outcome.decision)
    if outcome.status == "skipped":
        return messages.RETRAIN_SKIPPED_NOTE.format(run=outcome.run_id)
    template = (
        messages.RETRAIN_PROMOTED if outcome.status == "promoted" else messages.RETRAIN_REJECTED
    )
    return template.format(
        run=outcome.run_id, version=outcome.version, decision=outcome.decision,
        base=base.get("test_nats_per_char"), cand=cand.get("test_nats_per_char"),
        base_rhyme=base.get("rhyme_rate"), cand_rhyme=cand.get("rhyme_rate"),
        base_shared=base.get("shared_trigram_rate"), cand_shared=cand.get("shared_trigram_rate"),
        metric=m.get("failed_metric") or "",
    )  # fmt: skip
