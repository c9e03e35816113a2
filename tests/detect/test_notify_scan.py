"""Webhooks against a real loopback HTTP server; `kubetrail scan` on real files."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.demo.generate import generate
from kubetrail.detect import Alert, Entity, Match, WebhookNotifier
from kubetrail.detect.rules import RuleInfo
from tests.detect.conftest import LISTS, RULES


class Receiver(BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(json.loads(body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.statuses, Receiver.bodies = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook?token=s3cret"
    server.shutdown()


def alert(level: str) -> Alert:
    info = RuleInfo("r1", "Exec", level, Path("x.yml"), 1, techniques=("T1609",))
    return Alert.open(Match(info, Entity(user="mallory"), ("e1",), 1.7e9))


@pytest.mark.parametrize(
    ("statuses", "delivered", "attempts"),
    [([], True, 1), ([503, 500], True, 3), ([503, 503, 503], False, 3), ([400], False, 1)],
)
def test_webhook_retries_server_errors_only(
    receiver: str, statuses: list[int], delivered: bool, attempts: int
) -> None:
    Receiver.statuses = list(statuses)
    delays: list[float] = []
    notifier = WebhookNotifier(receiver, attempts=3, sleep=delays.append)
    assert notifier.send(alert("high")) is delivered
    notifier.close()
    assert len(delays) == attempts - 1
    assert all(0 <= d <= 0.5 * 2**n for n, d in enumerate(delays))  # jittered exponential
    if delivered:
        sent = Receiver.bodies[0]["alert"]
        assert sent["threat"]["technique"]["id"] == ["T1609"]  # type: ignore[index]


def test_webhook_min_level_and_background_queue(receiver: str) -> None:
    notifier = WebhookNotifier(receiver, min_level="high")
    notifier.notify(alert("low"))
    notifier.notify(alert("critical"))
    notifier.close()
    assert [b["alert"]["rule"]["level"] for b in Receiver.bodies] == ["critical"]  # type: ignore[index]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    events = list(generate(minutes=60, seed=3))
    half = len(events) // 2
    with gzip.open(folder / "audit-1.log.gz", "wb") as out:
        out.writelines(orjson.dumps(e) + b"\n" for e in events[:half])
    (folder / "nested").mkdir()
    batch = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events[half:]}
    (folder / "nested" / "webhook.json").write_bytes(
        orjson.dumps(batch, option=orjson.OPT_INDENT_2)
    )
    return folder


def scan(*args: str) -> tuple[int, str]:
    base = ["scan", "--no-builtin", "--rules", str(RULES), "--lists", str(LISTS)]
    result = CliRunner().invoke(cli, [*base, *args])
    return result.exit_code, result.stdout


def test_scan_finds_the_demo_attack_in_gz_and_eventlist(logs: Path) -> None:
    code, out = scan(str(logs), "--json")
    assert code == 0
    alerts = [json.loads(line) for line in out.splitlines()]
    titles = {a["rule"]["name"] for a in alerts}
    assert {"Exec into a pod", "Secrets read in bulk", "Exec before secrets, in order"} <= titles
    exec_alert = next(a for a in alerts if a["rule"]["name"] == "Exec into a pod")
    assert exec_alert["entity"]["source_ip"] == "203.0.113.66"
    assert all(":" in e for e in exec_alert["event_ids"])  # file:line


@pytest.mark.parametrize(("level", "code"), [("critical", 1), ("high", 1), (None, 0)])
def test_scan_fail_on(logs: Path, level: str | None, code: int) -> None:
    args = [str(logs / "nested")] + (["--fail-on", level] if level else [])
    assert scan(*args)[0] == code


def test_scan_table_and_line_logs(tmp_path: Path) -> None:
    events = [e for e in generate(minutes=60, seed=3) if e["user"]["username"] == "ci-legacy-admin"]
    log = tmp_path / "audit.log"
    log.write_bytes(b"not json\n" + b"".join(orjson.dumps(e) + b"\n" for e in events))
    code, out = scan(str(log))
    assert code == 0
    assert "Exec into a pod" in out and "ci-legacy-admin" in out
