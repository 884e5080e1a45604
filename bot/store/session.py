"""Database engines and sessions: SQLite by default (foreign keys and WAL on), PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.store.sqlite_file import DatabaseUnavailable, FileGuard

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# what a database that does not answer (or cannot be written) raises
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, DatabaseUnavailable)


SQLITE_BUSY_S = 15  # how long a unit of work waits for a locked SQLite file


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
            # no directory (yet) is a database that does not answer: connecting says so
            with contextlib.suppress(OSError):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_S},
            hide_parameters=True,
        )  # a database error's message (and so a logged traceback) never holds user text  # fmt: skip
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,  # a restarted server costs one failed ping, not a failed request
        pool_size=5,
        max_overflow=5,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An engine plus a session factory; `with db.session() as s:` commits or rolls back.

    A database that does not answer at start-up is migrated later (see migrate_or_defer): each
    unit of work runs the pending migration first, and fails like any unit of work on a dead
    database until it succeeds."""

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
        self.guard = FileGuard(Path(parsed.database).resolve()) if is_file else None
        if self.guard:
            self.guard.watch(self.engine)
        self.migration_pending = False
        self._migrating = threading.Lock()

    def check(self) -> None:
        """Before each unit of work: a SQLite file still the one opened, and writable."""
        if self.guard:
            self.guard.check()

    def migrate_or_defer(self) -> bool:
        """At start-up: migrate now if the database answers; if it does not (refused, timed out,
        read-only, no directory for the file), log it and leave the migration pending. A
        migration that fails once connected is a real error and is raised."""
        try:
            self.check()
            with self.engine.connect():
                pass
        except UNAVAILABLE as e:
            log.error("database unavailable at start-up (%s): poems are written but not "
                      "stored until it answers; the schema is migrated then",
                      unavailable_reason(e))  # fmt: skip
            self.migration_pending = True
            return False
        upgrade(self.url)
        return True

    def ready(self) -> None:
        """Raise while the database cannot take work; run a pending migration once it can."""
        self.check()
        self._migrate_if_pending()
        with self.engine.connect():
            pass

    def _migrate_if_pending(self) -> None:
        if not self.migration_pending:
            return
        with self._migrating:  # one thread migrates, the others wait for it
            if self.migration_pending:
                upgrade(self.url)  # raises while the database does not answer
                self.migration_pending = False
                log.warning("the database answers: schema migrated, storing again")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        self.check()
        self._migrate_if_pending()
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        if self.guard is None or self.guard.safe_to_close():
            self.engine.dispose()


def unavailable_reason(error: BaseException) -> str:
    """The first line of what the driver (or the file check) said."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]


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
