"""The kubetrail service as one ASGI app: intake, search API, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubetrail.api import errors
from kubetrail.api.alerts import AlertsApi
from kubetrail.api.auth import TokenAuth
from kubetrail.api.openapi import OPENAPI
from kubetrail.api.responses import JSONResponse
from kubetrail.api.routes import SearchApi
from kubetrail.detect.alerts import AlertStore
from kubetrail.detect.engine import Engine
from kubetrail.detect.notify import WebhookNotifier
from kubetrail.detect.pipeline import Detector
from kubetrail.detect.rules import split_for_fleet
from kubetrail.ingest.keys import IntakeResolver
from kubetrail.ingest.parsers import Examine, ParsePool
from kubetrail.ingest.pipeline import now_micros
from kubetrail.ingest.routes import Intakes
from kubetrail.ingest.writer import Writer
from kubetrail.memory import collect_rarely
from kubetrail.metrics import Metrics
from kubetrail.server.detection import (
    WATERMARK,
    DetectionWorker,
    IntakeLoad,
    configured,
    rewind_past_loss,
    start_process,
)
from kubetrail.server.fleet import FleetDetection
from kubetrail.settings import Config
from kubetrail.store.base import EncodingStore, EventStore, FollowableStore, StateStore
from kubetrail.store.open import open_stores
from kubetrail.store.sqlite.events import SqliteEvents
from kubetrail.web import web_routes

log = logging.getLogger("kubetrail.server")
RETENTION_CHECK_S = 3600
DETECTION_START_S = 30


@dataclass
class Service:
    """What the app's routes share; built at startup, closed at shutdown."""

    config: Config
    events: EventStore
    state: StateStore
    writer: Writer
    metrics: Metrics
    parsers: ParsePool | None = None
    # on shared stores: inline single-event rules, and the fleet's stateful rules (the
    # embedded store runs all rules in a detection process instead, started with the app)
    detection: DetectionWorker | None = None
    fleet: FleetDetection | None = None
    notifiers: list[WebhookNotifier] = field(default_factory=list)
    load: IntakeLoad | None = None  # embedded store: tells the detection process to wait

    @property
    def pending_events(self) -> int:
        """Events received and not yet committed."""
        parsing = self.parsers.pending_events if self.parsers is not None else 0
        return parsing + self.writer.pending_events

    @property
    def follows_store(self) -> bool:
        """True when detection is the process following the embedded store."""
        return self.detection is None

    @property
    def alerts(self) -> AlertStore:
        return self.state.alerts

    def close(self) -> None:
        self.writer.close()  # drains: everything acknowledged is already committed
        if self.parsers is not None:
            self.parsers.close()
        if self.detection is not None:
            self.detection.close()
        if self.fleet is not None:
            self.fleet.close()
        for notifier in self.notifiers:
            notifier.close()
        self.events.close()
        self.state.close()


def build_service(config: Config) -> Service:
    collect_rarely()
    # The writer thread gives up the GIL around every SQLite step and must get it back from
    # the thread parsing requests: with the default 5 ms switch interval it waits in a convoy
    # behind the parser for most of its time.
    sys.setswitchinterval(0.0002)
    events, state = open_stores(config)
    metrics = Metrics()
    if not (config.events_url or config.state_url):
        if isinstance(events, SqliteEvents):  # (before the writer takes any event)
            rewind_past_loss(events, state)
        load = IntakeLoad()
        writer = Writer(
            events, config.max_pending_events, metrics=metrics, on_saturated=load.mark_saturated
        )
        parsers = None
        if config.parse_workers > 0 and isinstance(events, EncodingStore):
            parsers = ParsePool(events.encoder, config.parse_workers, config.max_pending_events)
        return Service(config, events, state, writer, metrics, parsers=parsers, load=load)
    engine, notifiers = configured(config)
    fleet = None
    inline = engine
    if config.state_url:
        # shared state means replicas: stateful rules run once, on the lock holder
        per_replica, fleet_wide = split_for_fleet(engine.ruleset)
        inline = Engine(per_replica)
        fleet = FleetDetection(
            Detector(Engine(fleet_wide), state.alerts, notifiers),
            events,
            config.state_url,
            lag_s=config.detection_lag_ms / 1000,
        )
    detection = DetectionWorker(Detector(inline, state.alerts, notifiers), metrics)
    writer = Writer(
        events,
        config.max_pending_events,
        on_stored=detection.submit,
        metrics=metrics,
        on_matched=detection.submit_matches,
    )
    parsers = None
    if config.state_url and config.parse_workers > 0 and isinstance(events, EncodingStore):
        # a replica: the workers parse, encode and run the single-event rules (`inline`);
        # the stateful ones run once for the fleet. (Without shared state, one service runs
        # every rule inline, stateful ones included: on events the writer parses itself.)
        parsers = ParsePool(
            events.encoder,
            config.parse_workers,
            config.max_pending_events,
            Examine(config.detection_rules_dir),
        )
    return Service(
        config,
        events,
        state,
        writer,
        metrics,
        parsers=parsers,
        detection=detection,
        fleet=fleet,
        notifiers=notifiers,
    )


class _Timing:
    """Request latency per route and status, as plain ASGI middleware.

    (Starlette's BaseHTTPMiddleware relays request bodies through an in-memory stream: on the
    intake's half-megabyte batches that halved throughput.)
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(path, str(status)).observe(time.perf_counter() - started)


async def _retention(service: Service) -> None:
    # the first pass waits a whole period: a service restarted in the middle of importing an
    # old log does not delete it at once
    while True:
        await asyncio.sleep(RETENTION_CHECK_S)
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


async def _start_detection(config: Config, load: IntakeLoad | None) -> BaseProcess:
    """The detection process, once it is ready: its start (a new interpreter importing and
    compiling the rules, ~0.7 s of CPU) then happens before the service takes events, not
    during the first burst they arrive in."""
    ready = multiprocessing.get_context("spawn").Event()
    process = start_process(config, load, ready)
    if not await asyncio.to_thread(ready.wait, DETECTION_START_S):
        log.warning(
            "the detection process is not ready after %d s; serving anyway", DETECTION_START_S
        )
    return process


async def _detection(config: Config, load: IntakeLoad | None, process: BaseProcess) -> None:
    """Keep the detection process running; it resumes from its watermark after a crash."""
    try:
        while True:
            await asyncio.sleep(1)
            if not process.is_alive():
                log.error("the detection process exited (code %s); restarting it", process.exitcode)
                process = start_process(config, load)
    finally:
        process.terminate()
        await asyncio.to_thread(process.join, 10)


def create_app(
    config: Config, service: Service | None = None, *, detection: bool = True
) -> Starlette:
    service = service or build_service(config)
    auth = TokenAuth(service.state)
    intakes = Intakes(
        IntakeResolver(service.state),
        service.writer,
        service.metrics,
        config.max_event_bytes,
        config.max_request_bytes,
        service.parsers,
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "pending_events": service.pending_events})

    async def metrics(request: Request) -> Response:
        service.metrics.pending.set(service.pending_events)
        if service.follows_store and isinstance(service.events, FollowableStore):
            mark = await asyncio.to_thread(service.state.get_setting, WATERMARK)
            lag = await asyncio.to_thread(service.events.behind, mark)
            service.metrics.detection_lag.set(lag)
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_retention(service))]
        if detection and service.follows_store:
            process = await _start_detection(service.config, service.load)
            tasks.append(asyncio.create_task(_detection(service.config, service.load, process)))
        if service.parsers is not None:
            await service.parsers.start()  # likewise: workers ready before the first request
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(service.close)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *SearchApi(service.events, auth).routes(),
        *AlertsApi(service.alerts, auth).routes(),
        *intakes.routes(),
        *web_routes(service, auth),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(_Timing, metrics=service.metrics)]
    )
    errors.install(app)
    app.state.service = service
    return app
