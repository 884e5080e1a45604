"""The model the bot serves right now; swapped atomically when a new version is promoted."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from engine import Poet

log = logging.getLogger(__name__)


class PoetHolder:
    """Holds the current Poet. Readers take `current` once per request, so a swap never changes
    the model under a poem being written; loading happens before the swap, outside any lock."""

    def __init__(self, path: Path | None = None, poet: Poet | None = None):
        self._path = path
        self._poet = poet
        self._load_lock = threading.Lock()

    @property
    def current(self) -> Poet:
        poet = self._poet
        if poet is None:
            with self._load_lock:
                if self._poet is None:
                    self._poet = Poet.load(self._path)
                    log.info("model %s loaded", self._poet.model_version)
                poet = self._poet
        return poet

    def swap(self, poet: Poet) -> Poet | None:
        """Serve `poet` from the next request on; returns the one it replaces."""
        old, self._poet = self._poet, poet
        log.info("model now %s (was %s)", poet.model_version, old and old.model_version)
        return old
