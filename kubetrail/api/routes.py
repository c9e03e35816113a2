"""The search API: events, one event, facets, histogram. Every route needs a bearer token.

    GET /api/v1/events?q=&from=&to=&limit=&cursor=   {"events", "next_cursor", "took_ms", "query"}
    GET /api/v1/events/{id}                          the event
    GET /api/v1/facets?field=&q=&from=&to=&size=     {"field", "values": [{"value", "count"}]}
    GET /api/v1/histogram?q=&from=&to=&interval=     {"interval", "buckets": [{"start", "count"}]}

Reads run in a worker thread (the store's calls block); each is time-limited by the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from kubetrail.api.auth import TokenAuth
from kubetrail.api.errors import ApiError
from kubetrail.api.responses import JSONResponse
from kubetrail.auth import Role
from kubetrail.parse import describe
from kubetrail.query import Compiled, QueryError, QuerySyntaxError, compile_query, parse_time
from kubetrail.store.base import EventStore, QueryTimeout, StoreError
from kubetrail.store.sqlite.events import iso_us

MAX_LIMIT: Final = 10_000  # as Elasticsearch's max_result_window: a page of at most ~25 MB
DEFAULT_RANGE: Final = "now-24h"
_INTERVAL: Final = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_US: Final = {
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
# a histogram has at most this many buckets; `auto` picks a round interval below it
MAX_BUCKETS: Final = 2000
_ROUND_US: Final = [
    n * _UNIT_US[u]
    for n, u in (
        (1, "s"),
        (5, "s"),
        (10, "s"),
        (30, "s"),
        (1, "m"),
        (5, "m"),
        (10, "m"),
        (30, "m"),
        (1, "h"),
        (3, "h"),
        (6, "h"),
        (12, "h"),
        (1, "d"),
        (7, "d"),
    )
]


@dataclass(frozen=True)
class Search:
    compiled: Compiled
    start_us: int
    end_us: int


def search_params(store: EventStore, params: dict[str, str]) -> Search:
    """The query and time range of a request, validated: a 400 names what is wrong."""
    text = params.get("q", "")
    now = datetime.now(UTC)
    try:
        compiled = compile_query(text, store.dialect, now)
    except QuerySyntaxError as exc:
        raise ApiError(
            400, "bad_query", str(exc), position=exc.position, caret=exc.caret()
        ) from None
    except QueryError as exc:
        raise ApiError(400, "bad_query", str(exc)) from None
    start = _time(params.get("from") or DEFAULT_RANGE, now, "from")
    end = _time(params.get("to") or "now", now, "to")
    if end <= start:
        raise ApiError(400, "bad_range", "`to` must be after `from`")
    return Search(compiled, start, end)


def _time(text: str, now: datetime, name: str) -> int:
    try:
        return parse_time(text, now)
    except ValueError as exc:
        raise ApiError(400, "bad_time", f"{name}: {exc}") from None


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def interval_us(text: str, start: int, end: int) -> int:
    if text in ("", "auto"):
        span = end - start
        return next((r for r in _ROUND_US if span / r <= MAX_BUCKETS), _ROUND_US[-1])
    match = _INTERVAL.fullmatch(text)
    if not match:
        raise ApiError(400, "bad_interval", "interval must look like 30s, 5m, 1h, 1d or auto")
    value = int(match.group(1)) * _UNIT_US[match.group(2)]
    if value <= 0 or (end - start) / value > MAX_BUCKETS:
        raise ApiError(
            400,
            "bad_interval",
            f"interval {text} gives more than {MAX_BUCKETS} "
            "buckets over this range: choose a larger one",
        )
    return value


def with_description(event: dict[str, Any]) -> dict[str, Any]:
    own = event.get("kubetrail", {})
    return {**event, "kubetrail": {**own, "description": describe(event)}}


class SearchApi:
    def __init__(self, store: EventStore, auth: TokenAuth) -> None:
        self.store = store
        self.auth = auth

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/events", self.events, methods=["GET"]),
            Route("/api/v1/events/{event_id}", self.event, methods=["GET"]),
            Route("/api/v1/facets", self.facets, methods=["GET"]),
            Route("/api/v1/histogram", self.histogram, methods=["GET"]),
        ]

    async def _read(self, fn: Any, *args: Any) -> Any:
        try:
            return await run_in_threadpool(fn, *args)
        except QueryTimeout as exc:
            raise ApiError(
                503,
                "query_timeout",
                f"{exc}: narrow the time range or the query",
                {"Retry-After": "1"},
            ) from None
        except StoreError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None

    async def events(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.VIEWER)
        params = dict(request.query_params)
        search = search_params(self.store, params)
        limit = _int(params, "limit", 100, 1, MAX_LIMIT)
        page = await self._read(
            self.store.search,
            search.compiled,
            search.start_us,
            search.end_us,
            limit,
            params.get("cursor") or None,
        )
        return JSONResponse(
            {
                "events": [with_description(e) for e in page.events],
                "next_cursor": page.next_cursor,
                "took_ms": round(page.took_ms, 2),
                "query": {
                    "description": search.compiled.description,
                    "from": iso_us(search.start_us),
                    "to": iso_us(search.end_us),
                },
            }
        )

    async def event(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.VIEWER)
        event = await self._read(self.store.get, request.path_params["event_id"])
        if event is None:
            raise ApiError(404, "not_found", "no event with this id")
        return JSONResponse(with_description(event))

    async def facets(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.VIEWER)
        params = dict(request.query_params)
        field = params.get("field", "")
        if not field:
            raise ApiError(400, "bad_parameter", "field is required, e.g. field=user.name")
        search = search_params(self.store, params)
        size = _int(params, "size", 10, 1, 100)
        facet = await self._read(
            self.store.facet, field, search.compiled, search.start_us, search.end_us, size
        )
        return JSONResponse(
            {
                "field": facet.field,
                "values": [{"value": v, "count": n} for v, n in facet.values],
                "timed_out": facet.timed_out,
            }
        )

    async def histogram(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.VIEWER)
        params = dict(request.query_params)
        search = search_params(self.store, params)
        step = interval_us(params.get("interval", "auto"), search.start_us, search.end_us)
        buckets = await self._read(
            self.store.histogram, search.compiled, search.start_us, search.end_us, step
        )
        return JSONResponse(
            {
                "interval_ms": step // 1000,
                "buckets": [{"start": iso_us(t), "count": n} for t, n in buckets],
            }
        )
