"""Prometheus metrics of the bot (requests, latency, ratings, model version, queue depth), and
the /healthz and /metrics endpoint that serves them when enabled in settings."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import text

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    """One registry per core (tests build many cores in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("cangtou_requests", "Poem requests by outcome", ["status"],
                                registry=self.registry)  # fmt: skip
        self.latency = Histogram("cangtou_poem_latency_seconds", "Time to write a poem",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.ratings = Counter("cangtou_ratings", "Ratings by stars", ["stars"],
                               registry=self.registry)  # fmt: skip
        self.model = Gauge("cangtou_model_info", "The model version being served (value 1)",
                           ["version"], registry=self.registry)  # fmt: skip
        self.queue = Gauge("cangtou_queue_depth", "Poems being written or waiting",
                           registry=self.registry)  # fmt: skip
        self._version: str | None = None

    def serving(self, version: str) -> None:
        if version != self._version:
            if self._version is not None:
                self.model.remove(self._version)
            self.model.labels(version).set(1)
            self._version = version


def health_app(core) -> web.Application:
    """GET /healthz (200 when the database answers and a model is loaded, else 503) and
    GET /metrics (Prometheus text format)."""

    async def healthz(request: web.Request) -> web.Response:
        status = {"model": core.poets.current.model_version}
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping, core.db), 5)
            status["database"] = "ok"
        except Exception as e:
            status["database"] = f"down: {type(e).__name__}"
        ok = status["database"] == "ok"
        status["status"] = "ok" if ok else "degraded"
        return web.json_response(status, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        core.metrics.queue.set(core.generator.pending)
        core.metrics.serving(core.poets.current.model_version)
        body = generate_latest(core.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


def _ping(db) -> None:
    db.check()  # a deleted or read-only SQLite file is down too (and is never touched)
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def start_health_server(core, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(health_app(core), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health and metrics on http://%s:%d/healthz and /metrics", host, port)
    return runner
