"""The model the bot serves right now, and the switch to a newly promoted one (hot swap)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from bot.registry import Registry
from engine import Poet
from engine.checkpoint import ModelDirError
from engine.poet import SHIPPED_MODEL

log = logging.getLogger(__name__)


class PoetHolder:
    """The current model directory (what worker processes load) and, loaded lazily in this
    process, its Poet. A request reads the current model once, so a swap never changes the model
    under a poem being written. With a registry, `refresh()` follows its CURRENT file."""

    def __init__(
        self, path: Path | None = None, poet: Poet | None = None, registry: Registry | None = None
    ):
        self.registry = registry
        if poet is not None:
            self.path = None  # held in memory only: written by threads of this process
        elif registry is not None:
            self.path = registry.current_path()
        else:
            self.path = Path(path or SHIPPED_MODEL)
        self._poet = poet
        self._lock = threading.Lock()
        self._stamp = self._pointer_stamp()

    @property
    def current(self) -> Poet:
        poet = self._poet
        if poet is None:
            with self._lock:
                if self._poet is None:
                    self._poet = Poet.load(self.path)
                    log.info("model %s loaded", self._poet.model_version)
                poet = self._poet
        return poet

    def swap(self, poet: Poet, path: Path | None = None) -> Poet | None:
        """Serve `poet` (loaded from `path`) from the next request on; returns the old one."""
        old = self._poet
        self._poet, self.path = poet, path
        log.info("model now %s (was %s)", poet.model_version, old and old.model_version)
        return old

    def _pointer_stamp(self) -> tuple | None:
        if self.registry is None:
            return None
        try:
            st = os.stat(self.registry.pointer)
        except FileNotFoundError:
            return ()
        return st.st_ino, st.st_mtime_ns, st.st_size

    def changed(self) -> bool:
        """Cheap (one stat): has CURRENT moved since we last followed it?"""
        return self.registry is not None and self._pointer_stamp() != self._stamp

    def refresh(self) -> bool:
        """Follow CURRENT if it moved: load and validate that version, then swap. A version that
        fails validation is refused with a logged reason and the old one keeps serving."""
        with self._lock:
            stamp = self._pointer_stamp()
            if self.registry is None or stamp == self._stamp:
                return False
            path = self.registry.current_path()
            if path == self.path:
                self._stamp = stamp
                return False
            try:
                poet = Poet.load(path)
            except (ModelDirError, OSError, ValueError, RuntimeError) as e:
                log.error("refusing model %s: %s; still serving %s", path, e, self.path)
                self._stamp = stamp  # do not retry a broken version on every request
                return False
            old = self._poet
            # requests that saw the move wait on the lock above, so none reads the old path now
            self._poet, self.path, self._stamp = poet, path, stamp
            log.info("model now %s (was %s)", poet.model_version, old and old.model_version)
            return True
