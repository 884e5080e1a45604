"""The model the bot serves right now; swapped atomically when a new version is promoted."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from engine import Poet
from engine.poet import SHIPPED_MODEL

log = logging.getLogger(__name__)


class PoetHolder:
    """The current model directory (what worker processes load) and, loaded lazily in this
    process, its Poet. A request reads the current model once, so a swap never changes the
    model under a poem being written."""

    def __init__(self, path: Path | None = None, poet: Poet | None = None):
        self.path: Path | None = None if poet is not None else Path(path or SHIPPED_MODEL)
        self._poet = poet
        self._load_lock = threading.Lock()

    @property
    def current(self) -> Poet:
        poet = self._poet
        if poet is None:
            with self._load_lock:
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
