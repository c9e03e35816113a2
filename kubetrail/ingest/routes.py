"""The intake's HTTP routes: authenticate, decode the form, parse, store durably, answer.

A 2xx is sent only after the events are committed. Within a batch, an event over the size
limit is refused alone (its index in `errors`, null in `event_ids`); a single event over the
limit is a 413. An overloaded writer answers 503 with Retry-After, never a 4xx: the apiserver
drops a batch after a few failed tries, and a 4xx would tell shippers not to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from kubetrail.api.errors import ApiError
from kubetrail.api.responses import JSONResponse
from kubetrail.ingest import forms
from kubetrail.ingest.body import check_json_content_type, read_body
from kubetrail.ingest.keys import IntakeResolver, key_from_request
from kubetrail.ingest.parsers import ParsePool
from kubetrail.ingest.pipeline import Incoming, Received, now_micros
from kubetrail.ingest.writer import Writer
from kubetrail.metrics import Metrics
from kubetrail.store.base import Intake, StoreBusy, StoreError, event_id

log = logging.getLogger("kubetrail.intake")


@dataclass
class Intakes:
    resolver: IntakeResolver
    writer: Writer
    metrics: Metrics
    max_event_bytes: int
    max_request_bytes: int
    parsers: ParsePool | None = None  # None: the writer parses
    retry_after_s: int = 1

    def routes(self) -> list[Route]:
        def route(
            path: str, form: Callable[[bytes], list[forms.Submitted]], *, json: bool, single: bool
        ) -> Route:
            async def endpoint(request: Request) -> JSONResponse:
                return await self._handle(request, form, json=json, single=single)

            return Route(path, endpoint, methods=["POST"], name=f"intake{path}")

        return [
            route("/plain", forms.plain, json=False, single=True),
            route("/plain/batch", forms.plain_batch, json=False, single=False),
            route("/jsons", forms.jsons, json=True, single=False),
            route("/batch", forms.batch, json=True, single=False),
            route("/array", forms.array, json=True, single=False),
            route("/webhook", forms.webhook, json=True, single=False),
            route("/", forms.single, json=True, single=True),
        ]

    def _intake(self, key: str | None) -> Intake:
        if not key:
            raise ApiError(
                401,
                "missing_intake_key",
                "no intake key: send it in the "
                "X-SEKOIAIO-INTAKE-KEY header, as a Bearer token or HTTP Basic "
                "password, or as ?intake_key=",
            )
        intake = self.resolver.resolve(key)
        if intake is None:
            raise ApiError(401, "unknown_intake_key", "the intake key is unknown or revoked")
        return intake

    async def _store(self, events: list[Incoming], now_us: int) -> list[bytes]:
        """Parse and store `events` durably; their ids, in order."""
        if self.parsers is not None:
            batch = await self.parsers.encode(events, now_us)
            await self.writer.write(batch)
            return batch.ids
        received = [
            Received(text, event_id(intake_id, text), intake_id, intake, sender_ts, now_us)
            for text, intake_id, intake, sender_ts in events
        ]
        await self.writer.write(received)
        return [r.id for r in received]

    async def _handle(
        self,
        request: Request,
        form: Callable[[bytes], list[forms.Submitted]],
        *,
        json: bool,
        single: bool,
    ) -> JSONResponse:
        header_key = key_from_request(request)
        if header_key is not None:  # authenticate before reading a byte of the body
            default_intake: Intake | None = self._intake(header_key)
        else:
            default_intake = None
        if json:
            check_json_content_type(request)
        body = await read_body(request, self.max_request_bytes)
        submitted = form(body)
        now = now_micros()
        accepted: list[Incoming] = []
        ids: list[str | None] = []  # None where an event was refused
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(submitted):
            intake = self._intake(item.key) if item.key else default_intake
            if intake is None:
                self._intake(None)  # raises the 401 with its explanation
                raise AssertionError("unreachable")
            text = item.text
            # UTF-8 bytes; an ASCII text (the usual one: isascii is a flag) needs no encoding
            size = len(text) if text.isascii() else len(text.encode())
            if size > self.max_event_bytes:
                self.metrics.rejected.labels("too_large").inc()
                message = f"the event is {size} bytes, over the {self.max_event_bytes}-byte limit"
                if single:
                    raise ApiError(
                        413, "event_too_large", message, limit_bytes=self.max_event_bytes
                    )
                errors.append(
                    {"index": index, "status": 413, "code": "event_too_large", "message": message}
                )
                ids.append(None)
                continue
            accepted.append((text, intake.id, intake.name, item.sender_ts))
            ids.append("")
        self.metrics.received.inc(len(accepted))
        try:
            stored = iter(await self._store(accepted, now))
        except StoreBusy as exc:
            self.metrics.rejected.labels("busy").inc(len(accepted))
            raise ApiError(
                503, "overloaded", f"try again: {exc}", {"Retry-After": str(self.retry_after_s)}
            ) from None
        except StoreError as exc:
            log.error("store failed: %s", exc)
            raise ApiError(
                503,
                "store_unavailable",
                "the store failed to commit; try again",
                {"Retry-After": str(self.retry_after_s)},
            ) from None
        ids = [None if slot is None else next(stored).hex() for slot in ids]
        if single:
            return JSONResponse({"event_id": ids[0]}, status_code=200)
        body_out: dict[str, Any] = {"event_ids": ids}
        if errors:
            body_out["errors"] = errors
        return JSONResponse(body_out, status_code=200)
