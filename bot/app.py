"""Wiring: settings → database (migrated) → model holder → command core."""

from __future__ import annotations

import logging

from bot.core import Core
from bot.poets import PoetHolder
from bot.settings import Settings
from bot.store.session import Database, upgrade

log = logging.getLogger(__name__)


def build_core(
    settings: Settings, poets: PoetHolder | None = None, processes: bool | None = None
) -> Core:
    """A ready core: the schema migrated (unless turned off), the model loaded lazily.
    `processes=False` writes poems in threads (the console: one user, no start-up cost)."""
    if processes is not None:
        limits = settings.limits.model_copy(update={"processes": processes})
        settings = settings.model_copy(update={"limits": limits})
    if settings.auto_migrate:
        upgrade(settings.database_url)
    db = Database(settings.database_url)
    return Core(settings, db, poets or PoetHolder(settings.model_dir))
