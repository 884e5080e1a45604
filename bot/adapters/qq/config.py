"""The plugin's configuration: the host bot's NoneBot config (its .env files) holds the same
CANGTOU_* settings as every other way of running cangtou, nested with __."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.base.settings import Settings

PREFIX = "cangtou_"


class Config(BaseModel):
    """The settings a host bot most often gives (all of bot.base.settings.Settings apply, each
    as CANGTOU_<NAME>, for example CANGTOU_LIMITS__USER_PER_MINUTE=5). What the plugin starts in
    the host, and the setting that turns each off: the database's migrations
    (CANGTOU_AUTO_MIGRATE), the worker processes that write poems (CANGTOU_LIMITS__PROCESSES:
    false writes them in threads of the host's process), the scheduler with the daily posts and
    the nightly retrain (CANGTOU_SCHEDULER; CANGTOU_RETRAIN__ENABLED for the retrain alone)."""

    model_config = ConfigDict(extra="ignore")

    cangtou_database_url: str | None = None
    cangtou_admins: str | list[str] | None = None  # qq:<QQ number>, comma-separated
    cangtou_auto_migrate: bool | None = None
    cangtou_scheduler: bool | None = None
    cangtou_models_dir: str | None = None


def settings_from(config: dict[str, Any]) -> Settings:
    """cangtou's Settings from a NoneBot config's items: NoneBot reads CANGTOU_LIMITS__PROCESSES
    from .env as {'cangtou_limits': {'processes': ...}}, keyword arguments stay flat
    (cangtou_limits__processes); both are taken. What the config leaves out comes from the
    environment (CANGTOU_*), then the defaults."""
    values: dict[str, Any] = {}
    for key, value in config.items():
        key = key.lower()
        if not key.startswith(PREFIX) or value is None:
            continue
        *parents, leaf = key[len(PREFIX) :].split("__")
        node = values
        for parent in parents:
            node = node.setdefault(parent, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return Settings(**values)
