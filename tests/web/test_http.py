"""Sessions, CSRF, roles and headers over real HTTP on loopback (no browser needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from kubetrail.web.render import CSP
from tests.web.conftest import Server, kubetrail

PAGES = [
    "/events",
    "/events?q=user.name:(",
    "/events/facets",
    "/events/histogram",
    "/alerts",
    "/rules",
    "/intakes",
    "/login",
]


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def signed_in(server: Server, token: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/login")
    reply = client.post(
        "/login",
        data={"token": token, "nonce": _hidden(form.text, "nonce"), "next": "/events"},
    )
    assert reply.status_code == 303, reply.text
    return client


@pytest.fixture
def analyst(server: Server) -> Iterator[httpx.Client]:
    with closing(signed_in(server, server.tokens["analyst"])) as client:
        yield client


def _an_alert(server: Server) -> dict[str, object]:
    alert: dict[str, object] = server.api("/api/v1/alerts")["alerts"][0]
    return alert


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_content_security_policy(analyst: httpx.Client, path: str) -> None:
    reply = analyst.get(path)
    assert reply.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/events?q=verb:get", "/alerts", "/rules", "/intakes"])
def test_pages_need_a_session(server: Server, path: str) -> None:
    reply = httpx.get(server.url + path)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/login?next=")


def test_the_session_cookie_is_http_only_strict_and_not_the_token(server: Server) -> None:
    with closing(signed_in(server, server.tokens["viewer"])) as client:
        form = client.get("/login")
        reply = client.post(
            "/login",
            data={"token": server.tokens["viewer"], "nonce": _hidden(form.text, "nonce")},
        )
    header = reply.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert server.tokens["viewer"] not in header


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(server: Server, target: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/login")
        reply = client.post(
            "/login",
            data={
                "token": server.tokens["viewer"],
                "nonce": _hidden(form.text, "nonce"),
                "next": target,
            },
        )
    assert reply.headers["location"] == "/events"


def test_sign_in_without_the_forms_nonce_is_refused(server: Server) -> None:
    reply = httpx.post(server.url + "/login", data={"token": server.tokens["admin"]})
    assert reply.status_code == 403
    assert "kubetrail_session" not in reply.headers.get("set-cookie", "")


@pytest.mark.parametrize("csrf", [None, "", "forged-value"])
def test_a_state_change_without_the_csrf_token_is_refused(
    server: Server, analyst: httpx.Client, csrf: str | None
) -> None:
    alert = _an_alert(server)
    target = "closed" if alert["status"] != "closed" else "open"
    data = {"status": target} if csrf is None else {"status": target, "csrf": csrf}
    reply = analyst.post(f"/alerts/{alert['id']}/status", data=data)
    assert reply.status_code == 403
    assert "CSRF" in reply.text
    assert server.api(f"/api/v1/alerts/{alert['id']}")["status"] == alert["status"]


def test_roles_are_those_of_the_api(server: Server) -> None:
    alert = _an_alert(server)
    with closing(signed_in(server, server.tokens["viewer"])) as viewer:
        csrf = _hidden(viewer.get(f"/alerts/{alert['id']}").text, "csrf")
        change = viewer.post(
            f"/alerts/{alert['id']}/status", data={"status": "closed", "csrf": csrf}
        )
        create = viewer.post("/intakes", data={"name": "sneaky", "csrf": csrf})
    assert change.status_code == 403 and "analyst" in change.text
    assert create.status_code == 403 and "admin" in create.text
    assert server.api(f"/api/v1/alerts/{alert['id']}")["status"] == alert["status"]
    names = [line for line in kubetrail(server.data_dir, "intakes", "list").splitlines()]
    assert not any("sneaky" in n for n in names)


def test_a_tampered_cookie_or_a_revoked_token_signs_out(server: Server) -> None:
    token = kubetrail(server.data_dir, "tokens", "create", "short-lived", "--role", "viewer")
    with closing(signed_in(server, token)) as client:
        assert client.get("/events").status_code == 200
        cookie = client.cookies["kubetrail_session"]
        client.cookies.set("kubetrail_session", "A" + cookie[1:], domain="127.0.0.1")
        assert client.get("/events").status_code == 303
        client.cookies.set("kubetrail_session", cookie, domain="127.0.0.1")
        assert client.get("/events").status_code == 200
        kubetrail(server.data_dir, "tokens", "revoke", "short-lived")
        reply = client.get("/events")
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


def test_a_syntax_error_is_a_400_page_with_the_caret(analyst: httpx.Client) -> None:
    reply = analyst.get("/events", params={"q": "user.name:(alice"})
    assert reply.status_code == 400
    assert 'class="caret"' in reply.text


def test_json_export_is_bounded_ndjson_of_the_search(server: Server, analyst: httpx.Client) -> None:
    reply = analyst.get("/events/export.json", params={"q": "event.action:get", **server.range()})
    assert reply.headers["content-disposition"].startswith("attachment;")
    lines = reply.text.splitlines()
    assert 0 < len(lines) <= 10_000
    assert all('"action":"get"' in line for line in lines)


@pytest.mark.parametrize("field", ["event.action", "user.name", "http.response.status_code"])
def test_facets_agree_with_the_api_on_a_search_smaller_than_the_sample(
    server: Server, analyst: httpx.Client, field: str
) -> None:
    params = {"q": "NOT kubernetes.resource:leases", **server.range()}
    html = analyst.get("/events/facets", params=params).text
    section = html.split(f'data-field="{field}"', 1)[1].split("</section>", 1)[0]
    shown = [int(n) for n in re.findall(r'<span class="count">(\d+)</span>', section)]
    expected = server.api("/api/v1/facets", field=field, size=8, **params)["values"]
    assert shown == [v["count"] for v in expected]
    assert "newest" not in html  # every matching event was counted
