"""Wiring: settings → database (migrated now, or once it answers) → model registry and holder →
core → retrainer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.base.settings import Settings
from bot.chat.dispatch import Dispatcher
from bot.chat.replies import Reply
from bot.operations.locks import JobLocks
from bot.serving.poets import PoetHolder
from bot.serving.registry import Registry
from bot.store.session import Database

log = logging.getLogger(__name__)


def build_core(
    settings: Settings, poets: PoetHolder | None = None, processes: bool | None = None
) -> Dispatcher:
    """A ready core: the schema migrated (unless turned off; when the database does not answer
    yet, on its first unit of work once it does), the model loaded lazily.
    `processes=False` writes poems in threads (the console: one user, no start-up cost)."""
    if processes is not None:
        limits = settings.limits.model_copy(update={"processes": processes})
        settings = settings.model_copy(update={"limits": limits})
    db = Database(settings.database_url)
    if settings.auto_migrate:
        db.migrate_or_defer()
    registry = Registry(settings.models_dir, settings.model_dir)
    return Dispatcher(settings, db, poets or PoetHolder(registry=registry))


@dataclass
class Runtime:
    """The running bot: what scheduled jobs and admin commands reach for."""

    settings: Settings
    core: Dispatcher
    registry: Registry
    retrainer: object
    senders: dict = field(default_factory=dict)  # platform → async send(chat id, Reply)
    locks: object = None  # JobLocks: which replica runs a scheduled job

    async def notify_admins(self, outcome) -> None:
        from bot.operations.admin import outcome_text

        target = self.settings.admin_chat
        text = outcome_text(outcome)
        log.info("retrain notice: %s", text.replace("\n", " | "))
        if not target:
            return
        platform, _, chat_id = target.partition(":")
        sender = self.senders.get(platform)
        if sender is None:
            log.warning("admin chat %s: no %s adapter is running", target, platform)
            return
        await sender(chat_id, Reply(text))


def build_runtime(settings: Settings, core: Dispatcher | None = None) -> Runtime:
    from bot.operations.admin import AdminHooks
    from bot.operations.retraining import Retrainer

    core = core or build_core(settings)
    registry = core.poets.registry or Registry(settings.models_dir, settings.model_dir)
    runtime = Runtime(settings, core, registry, None, locks=JobLocks(core.db))
    runtime.retrainer = Retrainer(
        settings, core.db, core.poets, registry, notify=runtime.notify_admins, locks=runtime.locks
    )
    core.admin = AdminHooks(core.db, registry, core.poets, runtime.retrainer)
    return runtime
