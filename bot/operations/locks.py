"""Jobs that exactly one replica may run at a time. On PostgreSQL: a session-level advisory
lock, held on a connection of its own for as long as the job runs — the server releases it when
the holder dies, so another replica can take over. On SQLite (one machine): an flock beside the
database file, released by the kernel the same way."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock."""
    return int.from_bytes(
        hashlib.sha256(f"cangtou:{name}".encode()).digest()[:8], "big", signed=True
    )


class JobLocks:
    def __init__(self, db):
        self.db = db
        self.postgres = make_url(db.url).get_backend_name() == "postgresql"

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        """`async with locks.hold("nightly-retrain") as mine:` — mine is False when another
        replica holds it (never waits)."""
        if self.postgres:
            async with self._advisory(name) as mine:
                yield mine
        else:
            async with self._flock(name) as mine:
                yield mine

    @contextlib.asynccontextmanager
    async def _advisory(self, name: str) -> AsyncIterator[bool]:
        connection = await asyncio.to_thread(self.db.engine.connect)
        try:
            key = lock_key(name)
            query = text("SELECT pg_try_advisory_lock(:key)")
            mine = bool(
                await asyncio.to_thread(lambda: connection.execute(query, {"key": key}).scalar())
            )
            await asyncio.to_thread(connection.commit)
            log.info("job lock %s: %s", name, "taken" if mine else "held by another replica")
            yield mine
        finally:
            # closing the server session (not returning it to the pool) releases the lock
            await asyncio.to_thread(connection.invalidate)
            await asyncio.to_thread(connection.close)

    @contextlib.asynccontextmanager
    async def _flock(self, name: str) -> AsyncIterator[bool]:
        database = make_url(self.db.url).database or "cangtou"
        path = Path(f"{database}.{name}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                mine = True
            except BlockingIOError:
                mine = False
            try:
                yield mine
            finally:
                if mine:
                    fcntl.flock(handle, fcntl.LOCK_UN)
