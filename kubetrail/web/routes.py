"""The web pages' routes: thin handlers that read the stores and render a template.

    GET  /                       -> /events
    GET  /login, POST /login     sign in with an API token; POST /logout
    GET  /events                 search: ?q=&from=&to=&col=&limit=&cursor=&open=
    GET  /events/histogram       HTML fragment: bars of the same search (loaded by app.js)
    GET  /events/facets          HTML fragment: top values of the key fields
    GET  /events/export.csv|.json   the current search, at most EXPORT_MAX events
    GET  /alerts, /alerts/{id}   POST /alerts/{id}/status (analyst)
    GET  /rules
    GET  /intakes                POST /intakes, /intakes/{name}/revoke (admin)

Roles are those of the API tokens. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, quote

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from kubetrail.api.auth import TokenAuth
from kubetrail.api.errors import ApiError
from kubetrail.api.routes import Search, search_params, with_description
from kubetrail.auth import Role, new_secret, secret_hash
from kubetrail.detect import STATUSES, AlertNotFound, DetectError
from kubetrail.detect.rules import LEVELS
from kubetrail.store.base import QueryTimeout, StoreError, Token
from kubetrail.store.sqlite.events import iso_us
from kubetrail.web import events as ev
from kubetrail.web.intakes import intake_rows
from kubetrail.web.render import SECURITY_HEADERS, STATIC_DIR, html
from kubetrail.web.rules import RuleCatalog
from kubetrail.web.session import COOKIE, LIFETIME_S, Session, SessionError, Signer, load_secret

if TYPE_CHECKING:
    from kubetrail.server.app import Service

LOGIN_COOKIE: Final = "kubetrail_login"  # double-submit CSRF of the sign-in form
MAX_FORM_BYTES: Final = 64 * 1024
ALERT_WINDOW_US: Final = 3_600_000_000  # events around an alert: an hour either side


@dataclass(frozen=True)
class Viewer:
    """Who is looking: their token and session, and the CSRF token of their forms."""

    token: Token
    session: Session
    csrf: str

    def can(self, role: str) -> bool:
        return self.token.role.allows(Role(role))


class _Denied(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


Handler = Callable[[Request, Viewer], Awaitable[Response]]


async def _form(request: Request) -> dict[str, str]:
    # urlencoded forms only: kubetrail's forms are small and multipart is not needed
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise _Denied(html("error.html", _error_context(413, "form too large"), 413))
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _error_context(status: int, message: str, viewer: Viewer | None = None) -> dict[str, Any]:
    return {"status": status, "message": message, "viewer": viewer, "section": ""}


def _local_path(target: str | None) -> str:
    """A redirect target that stays on this site: a path, never `//host` or a scheme."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/events"


class WebUI:
    def __init__(self, service: Service, auth: TokenAuth) -> None:
        self.store = service.events
        self.state = service.state
        self.alerts = service.alerts
        self.auth = auth
        self.signer = Signer(load_secret(service.config.data_path))
        self.catalog = RuleCatalog(service.config.detection_rules_dir)

    def routes(self) -> list[BaseRoute]:
        page = self._page
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", page(Role.VIEWER, self.logout, post=True), methods=["POST"]),
            Route("/events", page(Role.VIEWER, self.events), methods=["GET"]),
            Route("/events/histogram", page(Role.VIEWER, self.histogram), methods=["GET"]),
            Route("/events/facets", page(Role.VIEWER, self.facets), methods=["GET"]),
            Route("/events/export.{fmt:str}", page(Role.VIEWER, self.export), methods=["GET"]),
            Route("/alerts", page(Role.VIEWER, self.alert_list), methods=["GET"]),
            Route("/alerts/{alert_id}", page(Role.VIEWER, self.alert), methods=["GET"]),
            Route(
                "/alerts/{alert_id}/status",
                page(Role.ANALYST, self.alert_status, post=True),
                methods=["POST"],
            ),
            Route("/rules", page(Role.VIEWER, self.rules), methods=["GET"]),
            Route("/intakes", page(Role.VIEWER, self.intakes), methods=["GET"]),
            Route("/intakes", page(Role.ADMIN, self.intake_create, post=True), methods=["POST"]),
            Route(
                "/intakes/{name}/revoke",
                page(Role.ADMIN, self.intake_revoke, post=True),
                methods=["POST"],
            ),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ]

    # --- sessions ---------------------------------------------------------------------------

    def _viewer(self, request: Request) -> Viewer:
        try:
            session = self.signer.read(request.cookies.get(COOKIE))
        except SessionError:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            login = RedirectResponse(f"/login?next={_quote_url(target)}", 303)
            raise _Denied(login) from None
        token = self.state.token_by_hash(session.token_hash)
        if token is None:  # revoked since sign-in
            raise _Denied(RedirectResponse("/login", 303))
        return Viewer(token, session, self.signer.csrf(session))

    def _page(self, role: Role, handler: Handler, post: bool = False) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                viewer = self._viewer(request)
                if not viewer.token.role.allows(role):
                    message = f"this needs the {role.value} role; yours is {viewer.token.role}"
                    return html("error.html", _error_context(403, message, viewer), 403)
                if post:
                    form = await _form(request)
                    try:
                        self.signer.check_csrf(viewer.session, form.get("csrf"))
                    except SessionError as exc:
                        return html("error.html", _error_context(403, str(exc), viewer), 403)
                    request.state.form = form
                return await handler(request, viewer)
            except _Denied as denied:
                return denied.response

        return endpoint

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/events", 303)

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request.query_params.get("next"), None, 200)

    def _login_page(self, target: str | None, error: str | None, status: int) -> Response:
        nonce = secrets.token_urlsafe(16)
        response = html(
            "login.html",
            {
                "viewer": None,
                "section": "",
                "error": error,
                "nonce": nonce,
                "next": _local_path(target),
            },
            status,
        )
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=600, httponly=True, samesite="strict", path="/login"
        )
        return response

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(expected, form.get("nonce", "")):
            return self._login_page(form.get("next"), "The sign-in form expired: try again.", 403)
        secret = form.get("token", "").strip()
        token = await run_in_threadpool(self.auth.token, secret) if secret else None
        if token is None:
            return self._login_page(form.get("next"), "Unknown or revoked token.", 401)
        response = RedirectResponse(_local_path(form.get("next")), 303)
        response.set_cookie(
            COOKIE,
            self.signer.issue(secret_hash(secret)),
            max_age=LIFETIME_S,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: Request, viewer: Viewer) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # --- events -----------------------------------------------------------------------------

    def _search(self, request: Request) -> tuple[Search | None, dict[str, Any] | None]:
        try:
            return search_params(self.store, dict(request.query_params)), None
        except ApiError as exc:
            return None, {"message": exc.message, **exc.details}

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    def _state(self, request: Request) -> dict[str, Any]:
        """The search as it is in the URL, for links that change one part of it."""
        params = request.query_params
        return {
            "q": params.get("q", ""),
            "from": params.get("from", "") or "now-24h",
            "to": params.get("to", "") or "now",
            "col": params.getlist("col"),
            "limit": params.get("limit", ""),
        }

    async def events(self, request: Request, viewer: Viewer) -> Response:
        state = self._state(request)
        cols = ev.columns(state["col"])
        limit_text = state["limit"]
        limit = int(limit_text) if limit_text.isdigit() and int(limit_text) in ev.PAGE_SIZES else 50
        search, error = self._search(request)
        page = None
        status = 200
        if search is not None:
            try:
                page = await self._read(
                    self.store.search,
                    search.compiled,
                    search.start_us,
                    search.end_us,
                    limit,
                    request.query_params.get("cursor") or None,
                )
            except QueryTimeout as exc:
                error, status = {"message": f"{exc}: narrow the time range or the query"}, 503
            except StoreError as exc:
                error, status = {"message": str(exc)}, 400
        else:
            status = 400
        opened = None
        open_id = request.query_params.get("open", "")
        if open_id:
            found = await self._read(self.store.get, open_id)
            opened = ev.drawer(found) if found else {"missing": open_id}
        rows = []
        if page is not None:
            for stored in page.events:
                event = with_description(stored)
                rows.append(
                    {
                        "id": event["kubetrail"]["event_id"],
                        "cells": [ev.cell(event, c) for c in cols],
                        "outcome": ev.cell(event, "outcome"),
                    }
                )
        context = {
            "viewer": viewer,
            "section": "events",
            "state": state,
            "cols": cols,
            "all_columns": ev.COLUMNS,
            "presets": ev.PRESETS,
            "page_sizes": ev.PAGE_SIZES,
            "limit": limit,
            "error": error,
            "search": search,
            "range": _range_text(search),
            "page": page,
            "rows": rows,
            "cursor": request.query_params.get("cursor", ""),
            "opened": opened,
            "refine": ev.refine,
            "hot_value": ev.hot_value,
            "export_max": ev.EXPORT_MAX,
        }
        return html("events.html", context, status)

    async def histogram(self, request: Request, viewer: Viewer) -> Response:
        search, error = self._search(request)
        if search is None:
            return html("fragment_error.html", {"message": error and error["message"]}, 400)
        step = ev.step_us(search.start_us, search.end_us)
        try:
            buckets = await self._read(
                self.store.histogram, search.compiled, search.start_us, search.end_us, step
            )
        except StoreError as exc:
            return html("fragment_error.html", {"message": f"histogram: {exc}"}, 503)
        context = {
            "bars": ev.bars(buckets, search.start_us, search.end_us, step),
            "total": sum(n for _, n in buckets),
            "start": iso_us(search.start_us)[:19] + "Z",
            "end": iso_us(search.end_us)[:19] + "Z",
            "start_us": search.start_us,
            "end_us": search.end_us,
            "step_s": step // 1_000_000,
            "state": self._state(request),
        }
        return html("histogram.html", context)

    async def facets(self, request: Request, viewer: Viewer) -> Response:
        search, error = self._search(request)
        if search is None:
            return html("fragment_error.html", {"message": error and error["message"]}, 400)

        try:
            sample = await self._read(
                self.store.search,
                search.compiled,
                search.start_us,
                search.end_us,
                ev.FACET_SAMPLE,
                None,
            )
        except StoreError as exc:
            return html("fragment_error.html", {"message": f"facets: {exc}"}, 503)
        context = {
            "facets": [(f, ev.top_values(sample.events, f)) for f in ev.FACET_FIELDS],
            "sampled": len(sample.events) if sample.next_cursor else None,
            "state": self._state(request),
            "refine": ev.refine,
        }
        return html("facets.html", context)

    async def export(self, request: Request, viewer: Viewer) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "json"):
            return html("error.html", _error_context(404, "export as .csv or .json", viewer), 404)
        search, error = self._search(request)
        if search is None:
            message = error["message"] if error else "bad search"
            return html("error.html", _error_context(400, message, viewer), 400)
        events = self._export_events(search)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="kubetrail-{stamp}.{fmt}"',
        }
        if fmt == "csv":
            body: AsyncIterator[Any] = iterate_in_threadpool(
                ev.csv_rows(events, ev.columns(request.query_params.getlist("col")))
            )
            return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
        body = iterate_in_threadpool(ev.json_lines(events))
        return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)

    def _export_events(self, search: Search) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        sent = 0
        while sent < ev.EXPORT_MAX:
            page = self.store.search(
                search.compiled,
                search.start_us,
                search.end_us,
                min(1000, ev.EXPORT_MAX - sent),
                cursor,
            )
            yield from page.events
            sent += len(page.events)
            cursor = page.next_cursor
            if cursor is None:
                return

    # --- alerts -----------------------------------------------------------------------------

    async def alert_list(self, request: Request, viewer: Viewer) -> Response:
        status = request.query_params.get("status", "")
        level = request.query_params.get("level", "")
        found = await self._read(
            self.alerts.list,
            status if status in STATUSES else None,
            level if level in LEVELS else None,
            500,
        )
        context = {
            "viewer": viewer,
            "section": "alerts",
            "alerts": [a.to_dict() for a in found],
            "status": status,
            "level": level,
            "statuses": STATUSES,
            "levels": LEVELS,
        }
        return html("alerts.html", context)

    async def alert(self, request: Request, viewer: Viewer) -> Response:
        try:
            alert = await self._read(self.alerts.get, request.path_params["alert_id"])
        except AlertNotFound:
            return html("error.html", _error_context(404, "no such alert", viewer), 404)
        data = alert.to_dict()
        ids = list(alert.event_ids)
        found = await self._read(lambda: [self.store.get(i) for i in ids])
        events = [with_description(e) for e in found if e is not None]
        entity = alert.entity
        hunt = " AND ".join(
            f"{field}:{ev.quote(value)}"
            for field, value in (
                ("user.name", entity.user),
                ("source.ip", entity.source_ip),
                ("kubernetes.namespace", entity.namespace),
            )
            if value
        )
        window = {
            "from": iso_us(int(alert.first_seen * 1e6) - ALERT_WINDOW_US),
            "to": iso_us(int(alert.last_seen * 1e6) + ALERT_WINDOW_US),
        }
        context = {
            "viewer": viewer,
            "section": "alerts",
            "alert": data,
            "events": [
                {
                    "id": e["kubetrail"]["event_id"],
                    "time": ev.cell(e, "time"),
                    "description": e["kubetrail"]["description"],
                }
                for e in events
            ],
            "missing": len(alert.event_ids) - len(events),
            "hunt": hunt or "*",
            "window": window,
            "statuses": STATUSES,
        }
        return html("alert.html", context)

    async def alert_status(self, request: Request, viewer: Viewer) -> Response:
        alert_id = request.path_params["alert_id"]
        status = request.state.form.get("status", "")
        try:
            await self._read(self.alerts.set_status, alert_id, status)
        except AlertNotFound:
            return html("error.html", _error_context(404, "no such alert", viewer), 404)
        except DetectError as exc:
            return html("error.html", _error_context(400, str(exc), viewer), 400)
        return RedirectResponse(f"/alerts/{_quote_url(alert_id)}", 303)

    # --- rules and intakes ------------------------------------------------------------------

    async def rules(self, request: Request, viewer: Viewer) -> Response:
        rows = await self._read(self.catalog.rows)  # the first view loads the pack
        context = {
            "viewer": viewer,
            "section": "rules",
            "rules": rows,
            "problems": self.catalog.ruleset().problems,
            "matrix": self.catalog.matrix(),
        }
        return html("rules.html", context)

    async def intakes(
        self,
        request: Request,
        viewer: Viewer,
        created: tuple[str, str] | None = None,
        error: str | None = None,
    ) -> Response:
        listed = await self._read(self.state.list_intakes)
        rows = await self._read(intake_rows, self.store, [i for i in listed if not i.revoked_at])
        context = {
            "viewer": viewer,
            "section": "intakes",
            "rows": rows,
            "revoked": [i for i in listed if i.revoked_at],
            "created": created,
            "error": error,
        }
        return html("intakes.html", context, 400 if error else 200)

    async def intake_create(self, request: Request, viewer: Viewer) -> Response:
        name = request.state.form.get("name", "").strip()
        if not name or len(name) > 100:
            return await self.intakes(request, viewer, error="An intake needs a name (1-100).")
        key = new_secret("kti")
        try:
            await self._read(self.state.create_intake, name, secret_hash(key))
        except StoreError as exc:
            return await self.intakes(request, viewer, error=str(exc))
        # the key is shown once, in this response: never in a URL
        return await self.intakes(request, viewer, created=(name, key))

    async def intake_revoke(self, request: Request, viewer: Viewer) -> Response:
        name = request.path_params["name"]
        if not await self._read(self.state.revoke_intake, name):
            return await self.intakes(request, viewer, error=f"No live intake named {name!r}.")
        return RedirectResponse("/intakes", 303)


def _quote_url(text: str) -> str:
    return quote(text, safe="/")


def _range_text(search: Search | None) -> str:
    if search is None:
        return ""
    return f"{iso_us(search.start_us)[:19]}Z → {iso_us(search.end_us)[:19]}Z"


def web_routes(service: Service, auth: TokenAuth) -> list[BaseRoute]:
    """The pages of `kubetrail serve`, for its route list."""
    return WebUI(service, auth).routes()
