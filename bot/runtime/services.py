"""What runs beside the chat adapters, in `acrostic run` and inside a host NoneBot2 bot alike:
the health server, the model's warm-up, and the scheduler (daily posts, the nightly retrain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.base.metrics import start_health_server
from bot.base.settings import Settings
from bot.runtime.scheduler import build_scheduler, keep_trying, try_start
from bot.runtime.scheduler import stop as scheduler_stop

log = logging.getLogger(__name__)


class Services:
    """Started once the adapters are up, stopped before them; each part has its setting:
    CANGTOU_OBSERVABILITY__ENABLED, CANGTOU_SCHEDULER (and CANGTOU_RETRAIN__ENABLED for the
    nightly job). The database's migrations run when the core is built (CANGTOU_AUTO_MIGRATE)."""

    def __init__(self, settings: Settings, runtime):
        self.settings, self.runtime = settings, runtime
        self.scheduler = build_scheduler(settings, runtime.core.db) if settings.scheduler else None
        self._health = None
        self._scheduling: asyncio.Task | None = None

    async def start_health(self) -> None:
        observability = self.settings.observability
        if observability.enabled:
            self._health = await start_health_server(
                self.runtime.core, observability.host, observability.port
            )

    async def start(self) -> None:
        """Warm the workers up, then start the scheduler (if the database does not answer yet,
        it keeps trying in the background: poems are served meanwhile)."""
        await self.runtime.core.generator.warm_up()
        if self.scheduler is None:
            log.info("scheduler off (CANGTOU_SCHEDULER=false): no daily posts, no retrain here")
        elif not await try_start(self.scheduler, self.runtime, self.settings):
            self._scheduling = asyncio.create_task(
                keep_trying(self.scheduler, self.runtime, self.settings)
            )

    async def stop(self) -> None:
        """Stop everything this started, the core last; safe to call more than once."""
        if self._scheduling is not None:
            self._scheduling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduling
            self._scheduling = None
        if self.scheduler is not None:
            await scheduler_stop(self.scheduler)
        if self._health is not None:
            with contextlib.suppress(Exception):
                await self._health.cleanup()
            self._health = None

    async def close_core(self) -> None:
        core = self.runtime.core
        await core.close()
        core.db.dispose()
