"""The kubetrail service as one ASGI app: intake, search API, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kubetrail.api import errors
from kubetrail.api.alerts import AlertsApi
from kubetrail.api.auth import TokenAuth
from kubetrail.api.openapi import OPENAPI
from kubetrail.api.routes import SearchApi
from kubetrail.detect.alerts import AlertStore
from kubetrail.detect.engine import Engine
from kubetrail.detect.notify import WebhookNotifier
from kubetrail.detect.pipeline import Detector
from kubetrail.ingest.keys import IntakeResolver
from kubetrail.ingest.pipeline import now_micros
from kubetrail.ingest.routes import Intakes
from kubetrail.ingest.writer import Writer
from kubetrail.metrics import Metrics
from kubetrail.server.detection import DetectionWorker
from kubetrail.server.fleet import FleetDetection, split
from kubetrail.settings import Config
from kubetrail.store.base import EventStore, StateStore
from kubetrail.store.open import open_stores

log = logging.getLogger("kubetrail.server")
RETENTION_CHECK_S = 3600


@dataclass
class Service:
    """What the app's routes share; built at startup, closed at shutdown."""

    config: Config
    events: EventStore
    state: StateStore
    writer: Writer
    metrics: Metrics
    detection: DetectionWorker
    engine: Engine
    notifiers: list[WebhookNotifier]
    fleet: FleetDetection | None = None  # the fleet-wide rules, with a shared state store

    @property
    def alerts(self) -> AlertStore:
        return self.state.alerts

    def close(self) -> None:
        self.writer.close()  # drains: everything acknowledged is already committed
        self.detection.close()
        if self.fleet is not None:
            self.fleet.close()
        for notifier in self.notifiers:
            notifier.close()
        self.events.close()
        self.state.close()


def build_service(config: Config) -> Service:
    # Batches of parsed events live a few milliseconds and hold no reference cycles: the
    # cyclic collector would only rescan them. Freeze what startup allocated and collect
    # rarely (measured: ingest throughput doubles).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    events, state = open_stores(config)
    metrics = Metrics()
    engine = Engine.from_paths([config.detection_rules_dir] if config.detection_rules_dir else [])
    for problem in engine.ruleset.problems:
        log.warning("detection rule problem: %s", problem)
    notifiers = (
        [WebhookNotifier(config.alert_webhook_url, config.alert_webhook_min_level)]
        if config.alert_webhook_url
        else []
    )
    fleet = None
    inline = engine
    if config.state_url:
        # shared state means replicas: stateful rules run once, on the lock holder
        per_replica, fleet_wide = split(engine.ruleset)
        inline = Engine(per_replica)
        fleet = FleetDetection(
            Detector(Engine(fleet_wide), state.alerts, notifiers),
            events,
            config.state_url,
            lag_s=config.detection_lag_ms / 1000,
        )
    detection = DetectionWorker(Detector(inline, state.alerts, notifiers), metrics)
    writer = Writer(events, config.max_pending_events, on_stored=detection.submit)
    return Service(config, events, state, writer, metrics, detection, engine, notifiers, fleet)


class _Timing(BaseHTTPMiddleware):
    def __init__(self, app: Any, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        self.metrics.latency.labels(path, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


async def _retention(service: Service) -> None:
    while True:
        cutoff = now_micros() - service.config.retention_days * 86_400_000_000
        try:
            deleted = await asyncio.to_thread(service.events.delete_before, cutoff)
            if deleted:
                log.info(
                    "retention: deleted %d events older than %d days",
                    deleted,
                    service.config.retention_days,
                )
        except Exception:
            log.exception("retention failed; will try again")
        await asyncio.sleep(RETENTION_CHECK_S)


def app_from_environment() -> Starlette:
    """The app of one worker process: `serve` passes the configuration in KUBETRAIL_* variables."""
    from kubetrail.settings import load

    return create_app(load({}))


def create_app(config: Config, service: Service | None = None) -> Starlette:
    service = service or build_service(config)
    auth = TokenAuth(service.state)
    intakes = Intakes(
        IntakeResolver(service.state),
        service.writer,
        service.metrics,
        config.max_event_bytes,
        config.max_request_bytes,
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "pending_events": service.writer.pending_events})

    async def metrics(request: Request) -> Response:
        service.metrics.pending.set(service.writer.pending_events)
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_retention(service))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(service.close)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *SearchApi(service.events, auth).routes(),
        *AlertsApi(service.alerts, auth).routes(),
        *intakes.routes(),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(_Timing, metrics=service.metrics)]
    )
    errors.install(app)
    app.state.service = service
    return app
