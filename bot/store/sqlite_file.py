"""What can happen to a SQLite file under a running bot, checked before each unit of work.

Deleted or replaced: the open connections still write to the old inode, so anything written now
would be lost. Read-only (the file, its -wal or its -shm; for root that takes `chattr +i` or a
read-only mount): SQLite has the -shm mapped, and its next write through that mapping — a read
transaction's read mark, or the checkpoint when a connection closes — kills the process with
SIGBUS. So a read-only database is never touched: work is refused like a dead database's, and
its connections are left open at exit rather than closed.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import sqlite3
import weakref
from pathlib import Path

from sqlalchemy import event

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database cannot take a unit of work now: the caller answers 'database unavailable'."""


class DatabaseGone(DatabaseUnavailable):
    """The SQLite file was deleted or replaced under the running bot."""


class DatabaseReadOnly(DatabaseUnavailable):
    """The SQLite file, its -wal or its -shm cannot be written."""


class FileGuard:
    """The checks on one SQLite file, and the connections open on it."""

    def __init__(self, path: Path):
        self.path = path
        self._identity = self._file_identity()
        self._gone = False
        self._read_only: str | None = None  # the read-only file found last time
        self._open: dict[int, object] = {}  # id → the DBAPI connections not closed yet
        # the interpreter's exit closes what is still open: not while read-only
        atexit.register(_safe_exit, weakref.ref(self))

    def check(self) -> None:
        """One stat per file per unit of work: the same file, and writable."""
        self._check_identity()
        self._check_writable()

    def read_only(self) -> str | None:
        """The first of the file, its -wal and its -shm that exists and cannot be written."""
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if path.exists() and not os.access(path, os.W_OK):  # also EPERM (+i) and EROFS
                return str(path)
        return None

    def watch(self, engine) -> None:
        """Refuse new connections while read-only (a new one maps the same -shm), and know the
        open ones (see safe_to_close)."""
        event.listen(engine, "do_connect", self._before_connect)
        event.listen(engine, "connect", self._opened)
        event.listen(engine, "close", self._closed)
        event.listen(engine, "close_detached", lambda c: self._closed(c, None))

    def safe_to_close(self) -> bool:
        """Closing a connection checkpoints through the -shm mapping: while it is read-only, the
        connections are kept open for good (their references leaked, so that not even the
        interpreter's exit closes them); the kernel releases them when the process ends."""
        found = self.read_only()
        if found is None:
            return True
        if self._open:
            log.warning("%s is read-only: leaving %d database connections open (closing one "
                        "would write to it and crash)", found, len(self._open))  # fmt: skip
        for connection in self._open.values():
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(connection))
        self._open.clear()
        return False

    def _before_connect(self, *_args) -> None:
        found = self.read_only()
        if found:
            raise sqlite3.OperationalError(f"{found} is read-only")

    def _opened(self, dbapi_connection, _record) -> None:
        self._open[id(dbapi_connection)] = dbapi_connection

    def _closed(self, dbapi_connection, _record) -> None:
        self._open.pop(id(dbapi_connection), None)

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):  # not created yet
            return None
        return st.st_dev, st.st_ino

    def _check_identity(self) -> None:
        now = self._file_identity()
        if self._identity is None:  # the first connection (or migration) creates the file
            self._identity = now
        elif now != self._identity:
            if not self._gone:  # said once; every refused request has its own error id
                log.error("the database file %s was deleted or replaced: refusing writes "
                          "(restore it or restart the bot)", self.path)  # fmt: skip
                self._gone = True
            raise DatabaseGone(f"{self.path} was deleted or replaced")

    def _check_writable(self) -> None:
        found = self.read_only()
        if found and found != self._read_only:
            log.error("the database file %s is read-only: refusing database work until it is "
                      "writable again", found)  # fmt: skip
        elif self._read_only and not found:
            log.warning("the database file %s is writable again", self._read_only)
        self._read_only = found
        if found:
            raise DatabaseReadOnly(f"{found} is read-only")


def _safe_exit(guard_ref) -> None:
    guard = guard_ref()
    if guard is not None:
        guard.safe_to_close()
