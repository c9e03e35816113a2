"""A real `kubetrail serve` on loopback, fed a cluster's audit log and hostile events, and a
headless Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from kubetrail.demo.generate import generate

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT: Final = Path(__file__).resolve().parents[2]
# `make screenshots` points this at docs/screenshots to refresh the README's pictures
SCREENSHOTS: Final = Path(os.environ.get("KUBETRAIL_SCREENSHOTS", ROOT / "artifacts/screenshots"))

# Each lands in a field the pages show: user agent, user, object name, status message, namespace
PAYLOADS: Final = {
    "user_agent": "<script>window.__xss='ua'</script>",
    "user": "<img src=x onerror=\"window.__xss='user'\">",
    "object": "javascript:window.__xss='name'",
    "message": '"><svg onload="window.__xss=\'msg\'">',
}
MINUTES: Final = 10


@dataclass
class Server:
    url: str
    data_dir: Path
    intake_key: str
    tokens: dict[str, str]  # role -> token
    start: datetime  # of the fed events
    end: datetime
    sent: int

    def api(self, path: str, role: str = "admin", **params: Any) -> Any:
        reply = httpx.get(
            self.url + path,
            params=params,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()

    def post_events(self, events: list[dict[str, Any]], key: str | None = None) -> None:
        body = b"\n".join(orjson.dumps(e) for e in events)
        reply = httpx.post(
            self.url + "/plain/batch",
            content=body,
            headers={"X-SEKOIAIO-INTAKE-KEY": key or self.intake_key},
            timeout=60,
        )
        reply.raise_for_status()

    def range(self) -> dict[str, str]:
        """A search range holding every fed event, with a minute to spare each side."""
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "from": (self.start - timedelta(minutes=1)).strftime(fmt),
            "to": (self.end + timedelta(minutes=1)).strftime(fmt),
        }

    def range_params(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.range().items())


def kubetrail(data_dir: Path, *args: str) -> str:
    argv = [sys.executable, "-m", "kubetrail", *args, "--data-dir", str(data_dir)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)
    return done.stdout.strip().splitlines()[-1]


def hostile_events(at: datetime) -> list[dict[str, Any]]:
    """Audit events whose user agent, user, object name and message carry script payloads."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    base: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "stage": "ResponseComplete",
        "verb": "get",
        "user": {"username": PAYLOADS["user"], "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.66"],
        "userAgent": PAYLOADS["user_agent"],
        "objectRef": {
            "resource": "secrets",
            "namespace": "payments",
            "name": PAYLOADS["object"],
            "apiVersion": "v1",
        },
        "responseStatus": {"metadata": {}, "code": 403, "message": PAYLOADS["message"]},
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
        "annotations": {"authorization.k8s.io/decision": "forbid"},
    }
    out = []
    for n in range(3):
        event = copy.deepcopy(base)
        event["auditID"] = f"00000000-0000-4000-8000-0000000bad{n:02d}"
        event["requestURI"] = f"/api/v1/namespaces/payments/secrets/x{n}"
        out.append(event)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("kubetrail-web")
    key = kubetrail(data, "intakes", "create", "demo-cluster")
    tokens = {
        role: kubetrail(data, "tokens", "create", f"web-{role}", "--role", role)
        for role in ("viewer", "analyst", "admin")
    }
    port = _free_port()
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubetrail", "serve", "--data-dir", str(data), "--port", str(port)],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, data)
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        start = end - timedelta(minutes=MINUTES)
        srv = Server(url, data, key, tokens, start, end, 0)
        events = generate(MINUTES, seed=7, start=start)
        while batch := list(islice(events, 1000)):
            srv.post_events(batch)
            srv.sent += len(batch)
        srv.post_events(hostile_events(end - timedelta(minutes=1)))
        srv.sent += 3
        _wait_for_alerts(srv)
        yield srv
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], data: Path) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            raise RuntimeError((data / "serve.log").read_text()[-2000:])
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("kubetrail serve did not become healthy")


def _wait_for_alerts(srv: Server) -> None:
    # detection runs behind the writer
    for _ in range(100):
        if srv.api("/api/v1/alerts")["alerts"]:
            return
        time.sleep(0.1)
    raise RuntimeError("the attack in the demo log raised no alert")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's package")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A browser page with its console errors and dialogs recorded."""

    page: Page
    dialogs: list[str]
    errors: list[str]


def sign_in(page: Page, server: Server, role: str) -> None:
    page.goto(server.url + "/")
    page.fill("input[type=password]", server.tokens[role])
    page.press("input[type=password]", "Enter")
    page.wait_for_url("**/events**")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Tab(page, [], [])

    def on_dialog(dialog: Dialog) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    yield seen
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
