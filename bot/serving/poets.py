"""The model the bot serves right now, and the switch to a newly promoted one (hot swap)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from bot.serving.registry import Registry
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
            self.path, poet = servable(registry)
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
        except OSError:
            return ()
        return st.st_ino, st.st_mtime_ns, st.st_size

    def changed(self) -> bool:
        """Cheap (one stat): has CURRENT moved since we last followed it? While a refresh is
        loading the new model, yes: the caller then waits for it in `refresh` instead of
        reading the old path (the refresh notes the move before the load). The stamp first:
        read after the lock, a refresh could take the lock and note the move in between."""
        if self.registry is None:
            return False
        return self._pointer_stamp() != self._stamp or self._lock.locked()

    def refresh(self) -> bool:
        """Follow CURRENT if it moved: load and validate that version, then swap. A version that
        fails validation is refused with a logged reason and the old one keeps serving."""
        with self._lock:
            stamp = self._pointer_stamp()
            if self.registry is None or stamp == self._stamp:
                return False
            self._stamp = stamp  # a refused CURRENT is logged once, not on every request
            try:
                path = self.registry.current_path()
                if path == self.path:
                    return False
                poet = Poet.load(path)
            except LOAD_ERRORS as e:
                log.error("refusing the model CURRENT names: %s; still serving %s", e, self.path)
                return False
            old = self._poet
            # requests that saw the move wait on the lock above, so none reads the old path now
            self._poet, self.path = poet, path
            log.info("model now %s (was %s)", poet.model_version, old and old.model_version)
            return True


LOAD_ERRORS = (ModelDirError, OSError, ValueError, RuntimeError)


def servable(registry: Registry) -> tuple[Path, Poet]:
    """The model to start with: the version CURRENT names, else the newest version that loads,
    else the default (shipped) model — saying which and why, rather than not starting."""
    try:
        path = registry.current_path()
        return path, Poet.load(path)
    except LOAD_ERRORS as e:
        log.error("the model CURRENT names cannot be served: %s", e)
    for version in registry.newest_first():
        path = registry.root / version
        try:
            poet = Poet.load(path)
        except LOAD_ERRORS as e:
            log.warning("model version %s cannot be served either: %s", version, e)
            continue
        log.warning("serving %s instead, the newest version that loads", version)
        return path, poet
    log.warning("serving the default model %s instead", registry.default)
    return registry.default, Poet.load(registry.default)
