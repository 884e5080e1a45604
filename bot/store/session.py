"""Database engines and sessions: SQLite by default (foreign keys and WAL on), PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg 3 here (the only driver installed)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,  # a restarted server costs one failed ping, not a failed request
        pool_size=5,
        max_overflow=5,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class DatabaseGone(Exception):
    """The SQLite file was deleted or replaced under the running bot: the open connections still
    write to the old inode, so anything written now would be lost."""


class Database:
    """An engine plus a session factory; `with db.session() as s:` commits or rolls back."""

    def __init__(self, url: str):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        parsed = make_url(self.url)
        is_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (
            None,
            "",
            ":memory:",
        )
        self._file = Path(parsed.database).resolve() if is_file else None
        self._identity = self._file_identity()
        self._gone = False

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._file)
        except (FileNotFoundError, TypeError):  # not created yet, or not a file database
            return None
        return st.st_dev, st.st_ino

    def check_file(self) -> None:
        """One stat per unit of work: is the SQLite file still the one the bot opened?"""
        if self._file is None:
            return
        now = self._file_identity()
        if self._identity is None:  # the first connection creates the file
            self._identity = now
        elif now != self._identity:
            if not self._gone:  # said once; every refused request has its own error id
                log.error("the database file %s was deleted or replaced: refusing writes "
                          "(restore it or restart the bot)", self._file)  # fmt: skip
                self._gone = True
            raise DatabaseGone(str(self._file))

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        self.check_file()
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` (the only way the schema changes)."""
    from alembic import command

    if make_url(normalize_url(url)).get_backend_name() == "sqlite":
        make_engine(url).dispose()  # creates the SQLite file's directory
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
