"""The OpenAPI description served at /openapi.json (a test checks it lists every route)."""

from __future__ import annotations

from typing import Any, Final

_ERROR: Final = {"$ref": "#/components/schemas/Error"}


def _op(
    summary: str,
    params: list[str],
    *,
    body: str | None = None,
    auth: str = "token",
    ok: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}} for p in params],
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": ok or {"type": "object"}}},
            },
            "400": {
                "description": "Bad request",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "401": {
                "description": "Not authenticated",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
        "security": [{"bearer": []}] if auth == "token" else [{"intakeKey": []}, {"bearer": []}],
    }
    if body:
        op["requestBody"] = {"content": {body: {"schema": {}}}}
        op["responses"]["413"] = {
            "description": "Too large",
            "content": {"application/json": {"schema": _ERROR}},
        }
        op["responses"]["503"] = {"description": "Overloaded: retry after Retry-After seconds"}
    return op


_INTAKE_IDS: Final = {"type": "object", "properties": {"event_ids": {"type": "array"}}}
_RANGE: Final = ["q", "from", "to"]
_ALERT_ID: Final = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}

OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.0.3",
    "info": {"title": "kubetrail", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "intakeKey": {"type": "apiKey", "in": "header", "name": "X-SEKOIAIO-INTAKE-KEY"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "integer"},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    }
                },
            },
        },
    },
    "paths": {
        "/plain": {
            "post": _op(
                "One raw event",
                [],
                body="text/plain",
                auth="intake",
                ok={"type": "object", "properties": {"event_id": {"type": "string"}}},
            )
        },
        "/plain/batch": {
            "post": _op(
                "Raw events, one per line", [], body="text/plain", auth="intake", ok=_INTAKE_IDS
            )
        },
        "/jsons": {
            "post": _op(
                "A JSON array of events", [], body="application/json", auth="intake", ok=_INTAKE_IDS
            )
        },
        "/batch": {
            "post": _op(
                "{intake_key, jsons}", [], body="application/json", auth="intake", ok=_INTAKE_IDS
            )
        },
        "/array": {
            "post": _op(
                "[{intake_key, json, timestamp}]",
                [],
                body="application/json",
                auth="intake",
                ok=_INTAKE_IDS,
            )
        },
        "/": {
            "post": _op(
                "{intake_key, json, @timestamp}", [], body="application/json", auth="intake"
            )
        },
        "/webhook": {
            "post": _op(
                "kube-apiserver audit webhook (EventList)",
                [],
                body="application/json",
                auth="intake",
                ok=_INTAKE_IDS,
            )
        },
        "/api/v1/events": {"get": _op("Search events", [*_RANGE, "limit", "cursor"])},
        "/api/v1/events/{event_id}": {
            "get": {
                **_op("One event", []),
                "parameters": [
                    {
                        "name": "event_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
            }
        },
        "/api/v1/facets": {"get": _op("Top values of a field", [*_RANGE, "field", "size"])},
        "/api/v1/histogram": {"get": _op("Events per time bucket", [*_RANGE, "interval"])},
        "/api/v1/alerts": {
            "get": _op("Alerts, most recently seen first", ["status", "level", "limit"])
        },
        "/api/v1/alerts/{alert_id}": {
            "get": {
                **_op("One alert", []),
                "parameters": [
                    {
                        "name": "alert_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
            },
            "patch": {
                **_op("Change an alert's status (analyst)", [], body="application/json"),
                "parameters": [
                    {
                        "name": "alert_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
            },
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
        "/metrics": {
            "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OK"}}}
        },
    },
}
