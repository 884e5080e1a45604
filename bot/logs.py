"""Logging, configured once per process: one line per record, noisy libraries quieted."""

from __future__ import annotations

import logging

QUIET = ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater", "discord.gateway", "alembic")


def setup_logging(level: str | int = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
