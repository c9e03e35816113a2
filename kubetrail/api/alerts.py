"""The alerts API: list, one alert, change its status (analysts and admins).

GET   /api/v1/alerts?status=&level=&limit=   {"alerts": [...]}
GET   /api/v1/alerts/{id}                    the alert
PATCH /api/v1/alerts/{id}  {"status": "acknowledged"}
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from kubetrail.api.auth import TokenAuth
from kubetrail.api.errors import ApiError
from kubetrail.api.responses import JSONResponse
from kubetrail.auth import Role
from kubetrail.detect.alerts import STATUSES, AlertNotFound, AlertStore
from kubetrail.detect.rules import LEVELS


class AlertsApi:
    def __init__(self, alerts: AlertStore, auth: TokenAuth) -> None:
        self.alerts = alerts
        self.auth = auth

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/alerts", self.list, methods=["GET"]),
            Route("/api/v1/alerts/{alert_id}", self.get, methods=["GET"]),
            Route("/api/v1/alerts/{alert_id}", self.patch, methods=["PATCH"]),
        ]

    async def list(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.VIEWER)
        status = request.query_params.get("status") or None
        level = request.query_params.get("level") or None
        if status is not None and status not in STATUSES:
            raise ApiError(400, "bad_parameter", f"status must be one of {', '.join(STATUSES)}")
        if level is not None and level not in LEVELS:
            raise ApiError(400, "bad_parameter", f"level must be one of {', '.join(LEVELS)}")
        limit_text = request.query_params.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            raise ApiError(400, "bad_parameter", "limit must be a whole number from 1 to 1000")
        found = await run_in_threadpool(self.alerts.list, status, level, int(limit_text))
        return JSONResponse({"alerts": [a.to_dict() for a in found]})

    async def get(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.VIEWER)
        try:
            alert = await run_in_threadpool(self.alerts.get, request.path_params["alert_id"])
        except AlertNotFound:
            raise ApiError(404, "not_found", "no alert with this id") from None
        return JSONResponse(alert.to_dict())

    async def patch(self, request: Request) -> JSONResponse:
        self.auth.require(request, Role.ANALYST)
        try:
            body: Any = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_json", 'send JSON: {"status": "acknowledged"}') from None
        status = body.get("status") if isinstance(body, dict) else None
        if status not in STATUSES:
            raise ApiError(400, "bad_status", f"status must be one of {', '.join(STATUSES)}")
        try:
            alert = await run_in_threadpool(
                self.alerts.set_status, request.path_params["alert_id"], status
            )
        except AlertNotFound:
            raise ApiError(404, "not_found", "no alert with this id") from None
        return JSONResponse(alert.to_dict())
