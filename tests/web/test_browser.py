"""The pages in a real Chromium against a real `kubetrail serve`: what an analyst does."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import httpx
import orjson

from kubetrail.detect import load
from tests.web.conftest import PAYLOADS, Server, Tab, hostile_events, screenshot, sign_in


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def _column(tab: Tab, header: str) -> list[str]:
    headers = tab.page.locator("table.events thead th").all_inner_texts()
    index = headers.index(header)
    cells = tab.page.locator(f"table.events tbody tr[data-id] td:nth-child({index + 1})")
    return [c.strip() for c in cells.all_inner_texts()]


def _events(tab: Tab, server: Server, query: str = "*") -> None:
    tab.page.goto(f"{server.url}/events?q={query}&{server.range_params()}")
    tab.page.wait_for_selector("#facets[data-loaded]")
    tab.page.wait_for_selector("#histogram[data-loaded]")


def test_sign_in_rejects_an_unknown_token_then_lands_on_events(tab: Tab, server: Server) -> None:
    page = tab.page
    page.goto(server.url + "/events?q=event.action:get")
    assert "/login" in page.url
    page.fill("input[type=password]", "ktt_not-a-token")
    page.press("input[type=password]", "Enter")
    assert page.locator(".error").inner_text() == "Unknown or revoked token."
    page.fill("input[type=password]", server.tokens["viewer"])
    page.press("input[type=password]", "Enter")
    page.wait_for_url("**/events?q=event.action*")  # back where the person was going
    assert page.locator("table.events tbody tr[data-id]").count() > 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "kubetrail_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.tokens["viewer"] not in cookie["value"]


def test_search_shows_matching_events_and_the_query_in_english(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    _events(tab, server)
    screenshot(tab.page, "events")
    tab.page.fill("#q", "kubernetes.resource:secrets AND event.action:get")
    tab.page.press("#q", "Enter")
    tab.page.wait_for_url("**q=kubernetes.resource*")
    assert _params(tab.page.url)["q"] == "kubernetes.resource:secrets AND event.action:get"
    assert set(_column(tab, "Resource")) == {"secrets"}
    assert set(_column(tab, "Verb")) == {"get"}
    description = tab.page.locator(".described .description").inner_text()
    assert description == "kubernetes.resource is secrets and event.action is get"


def test_a_syntax_error_is_shown_inline_with_its_position(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    tab.page.fill("#q", "user.name:alice AND (verb:get")
    tab.page.press("#q", "Enter")
    error = tab.page.locator(".query-error")
    assert "position" in error.locator(".error").inner_text()
    caret = error.locator(".caret").inner_text().splitlines()
    assert caret[0] == "user.name:alice AND (verb:get"
    assert caret[1].strip() == "^"
    # the search box keeps the text to fix
    assert tab.page.input_value("#q") == "user.name:alice AND (verb:get"


def test_facet_include_then_exclude_narrows_the_table(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    _events(tab, server)
    facet = tab.page.locator(".facet[data-field='event.action']")
    top = facet.locator("a.include").first.inner_text()
    facet.locator("a.include").first.click()
    tab.page.wait_for_selector("#facets[data-loaded]")
    assert _params(tab.page.url)["q"] == f'event.action:"{top}"'
    assert set(_column(tab, "Verb")) == {top}
    # exclude the most frequent user among those events
    users = tab.page.locator(".facet[data-field='user.name']")
    user = users.locator("a.include").first.inner_text()
    users.locator("a.exclude").first.click()
    tab.page.wait_for_selector("#facets[data-loaded]")
    assert _params(tab.page.url)["q"] == f'(event.action:"{top}") AND NOT user.name:"{user}"'
    shown = _column(tab, "User")
    assert shown and user not in shown


def test_event_drawer_shows_fields_raw_event_and_filters_on_a_value(
    tab: Tab, server: Server
) -> None:
    sign_in(tab.page, server, "viewer")
    _events(tab, server, "kubernetes.subresource:exec")
    first = tab.page.locator("table.events tbody tr[data-id]").first
    event_id = first.get_attribute("data-id")
    first.locator("a.open").click()
    drawer = tab.page.locator("#drawer")
    drawer.wait_for()
    assert _params(tab.page.url)["open"] == event_id
    assert "exec" in drawer.locator(".description").inner_text().lower()
    raw = drawer.locator("pre.raw").inner_text()
    assert '"auditID"' in raw and '"subresource": "exec"' in raw  # pretty-printed JSON
    screenshot(tab.page, "event-drawer")
    row = drawer.locator("tr", has=tab.page.locator("th", has_text=re.compile("^user.name$")))
    user = row.locator("td.value").inner_text()
    row.locator("a[title='Filter on this value']").click()
    tab.page.wait_for_url("**/events**")
    assert _params(tab.page.url)["q"] == f'(kubernetes.subresource:exec) AND user.name:"{user}"'
    assert set(_column(tab, "User")) == {user}


def test_histogram_click_and_drag_zoom_into_time(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    _events(tab, server)
    bars = tab.page.locator("#histogram rect")
    assert bars.count() > 5
    # a click on a bar searches that bar's time
    bar = bars.nth(bars.count() // 2)
    count = int((bar.locator("title").text_content() or "").split()[0])
    bar.click()
    tab.page.wait_for_url(re.compile(r".*from=[^&]+\.\d{6}Z"))
    assert len(_column(tab, "Time")) == min(count, 50)
    tab.page.go_back()
    tab.page.wait_for_selector("#histogram[data-loaded]")
    # drag across the middle of the chart: the URL gets that stretch of time
    box = tab.page.locator("#histogram svg").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] - 2
    tab.page.mouse.move(box["x"] + box["width"] * 0.3, y)
    tab.page.mouse.down()
    tab.page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    tab.page.mouse.up()
    # toISOString() writes milliseconds: the URL the page was loaded with has none
    tab.page.wait_for_url(re.compile(r".*from=[^&]+\.\d{3}Z"))
    params = _params(tab.page.url)
    start = datetime.fromisoformat(params["from"])
    end = datetime.fromisoformat(params["to"])
    span = server.end - server.start
    assert server.start < start < end < server.end + span  # inside the original range
    tab.page.wait_for_selector("table.events")
    times = _column(tab, "Time")
    assert times, "the zoomed range still holds events"
    for text in times:
        moment = datetime.fromisoformat(text.replace(" ", "T") + "+00:00")
        assert start.replace(microsecond=0) <= moment.replace(microsecond=0) <= end


def test_follow_an_alert_to_its_events_and_acknowledge_it(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "analyst")
    tab.page.goto(server.url + "/alerts?status=open")
    screenshot(tab.page, "alerts")
    rows = tab.page.locator("table.alerts tbody tr")
    assert rows.count() == len(server.api("/api/v1/alerts", status="open")["alerts"])
    rows.first.locator("a").click()
    tab.page.wait_for_url("**/alerts/*")
    alert_id = tab.page.url.rsplit("/", 1)[1]
    alert = server.api(f"/api/v1/alerts/{alert_id}")
    assert tab.page.locator("h1").inner_text().endswith(alert["rule"]["name"])
    linked = tab.page.locator("a.event")
    assert linked.count() == len(alert["event_ids"])
    linked.first.click()
    tab.page.locator("#drawer").wait_for()
    assert _params(tab.page.url)["open"] == alert["event_ids"][0]
    assert tab.page.locator("tr.opened").count() == 1  # the event is in the hunt's table
    tab.page.go_back()
    tab.page.click("button[value=acknowledged]")
    tab.page.wait_for_url(f"**/alerts/{alert_id}")
    assert tab.page.locator("dd.status").inner_text() == "acknowledged"
    assert server.api(f"/api/v1/alerts/{alert_id}")["status"] == "acknowledged"
    tab.page.click("button[value=open]")
    assert server.api(f"/api/v1/alerts/{alert_id}")["status"] == "open"


def test_a_viewer_sees_alerts_but_cannot_change_them(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    tab.page.goto(server.url + "/alerts")
    tab.page.locator("table.alerts tbody tr a").first.click()
    tab.page.wait_for_url("**/alerts/*")
    assert tab.page.locator("form.status-change").count() == 0


def test_rules_page_lists_the_engine_rules_and_the_attack_matrix(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    tab.page.goto(server.url + "/rules")
    ruleset = load((), (), True)
    titles = tab.page.locator("table.rules tbody td:nth-child(2)").all_inner_texts()
    assert sorted(titles) == sorted(i.title for i in ruleset.infos())
    tactics = [t.lower() for t in tab.page.locator("table.matrix th").all_inner_texts()]
    assert "credential access" in tactics and "privilege escalation" in tactics
    assert tab.page.locator(".technique", has_text="T1552").count() >= 1
    screenshot(tab.page, "rules")


def test_admin_creates_an_intake_sends_with_its_key_and_revokes_it(
    tab: Tab, server: Server
) -> None:
    sign_in(tab.page, server, "admin")
    tab.page.goto(server.url + "/intakes")
    demo = tab.page.locator("tr[data-intake='demo-cluster']")
    assert demo.locator(".last").inner_text() != "never"
    assert int(demo.locator(".parse-errors").inner_text()) == 0
    tab.page.fill("input[name=name]", "staging")
    tab.page.click("form.create button")
    key = tab.page.locator("pre.key").inner_text().strip()
    assert key.startswith("kti_")
    assert key not in tab.page.url
    # the new key works at the intake; the page then shows its traffic and its parse errors
    server.post_events(hostile_events(datetime.now(UTC)), key=key)
    reply = httpx.post(
        server.url + "/plain",
        content=b"this is not an audit event",
        headers={"X-SEKOIAIO-INTAKE-KEY": key},
        timeout=30,
    )
    assert reply.is_success
    tab.page.goto(server.url + "/intakes")
    row = tab.page.locator("tr[data-intake='staging']")
    assert float(row.locator(".rate").inner_text()) > 0
    assert int(row.locator(".parse-errors").inner_text()) == 1
    assert row.locator(".last").inner_text() != "never"
    screenshot(tab.page, "intakes")
    row.locator("form.revoke button").click()
    tab.page.wait_for_url("**/intakes")
    assert tab.page.locator("tr[data-intake='staging']").count() == 0
    assert "staging" in tab.page.locator("h2 + ul").inner_text()


def test_a_viewer_is_refused_intake_management(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    tab.page.goto(server.url + "/intakes")
    assert tab.page.locator("form.create").count() == 0
    assert tab.page.locator("form.revoke").count() == 0


def test_csv_export_is_the_current_search_as_text(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    query = "kubernetes.resource:secrets"
    _events(tab, server, query)
    with tab.page.expect_download() as download:
        tab.page.click("text=CSV")
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = server.api("/api/v1/events", q=query, limit=1000, **server.range())
    assert [r["event_id"] for r in rows] == [e["kubetrail"]["event_id"] for e in expected["events"]]
    assert {r["Resource"] for r in rows} == {"secrets"}


def test_hostile_event_content_shows_as_text_and_runs_nothing(tab: Tab, server: Server) -> None:
    sign_in(tab.page, server, "viewer")
    _events(tab, server, "source.ip:203.0.113.66")
    first = tab.page.locator("table.events tbody tr[data-id]").first
    first.locator("a.open").click()
    tab.page.locator("#drawer").wait_for()
    body = tab.page.inner_text("body")
    for name in ("user_agent", "user", "object"):
        assert PAYLOADS[name] in body, name
    # the status message is only in the raw event, as JSON text
    raw = tab.page.locator("#drawer pre.raw").inner_text()
    assert orjson.dumps(PAYLOADS["message"]).decode() in raw
    facets = tab.page.locator("#facets").inner_text()
    assert PAYLOADS["user"] in facets
    # filtering on a hostile value builds a query that finds exactly those events
    row = tab.page.locator("#drawer tr", has=tab.page.locator("th", has_text="user.name"))
    row.locator("a[title='Filter on this value']").first.click()
    tab.page.wait_for_url("**/events**")
    assert set(_column(tab, "User")) == {PAYLOADS["user"]}
    assert tab.page.evaluate("window.__xss === undefined")
    assert tab.dialogs == [] and tab.errors == []
    assert tab.page.locator("img[src=x], svg[onload], script:not([src])").count() == 0
