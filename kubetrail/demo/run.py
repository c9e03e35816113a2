"""`kubetrail demo run`: a service on a fresh store, fed an hour of a cluster with an attack.

The service runs as a real `kubetrail serve` child process; the sample goes in through the
intake over HTTP exactly as an agent would send it.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import httpx

from kubetrail.demo.generate import lines
from kubetrail.detect.rules import level_rank
from kubetrail.server.process import ServeProcess, cli

EXAMPLES = (
    ("exec into pods", "kubernetes.subresource:exec"),
    ("secrets read by people", "kubernetes.resource:secrets AND NOT user.name:system*"),
    ("denied requests", "event.outcome:forbid"),
    ("from outside the cluster", "NOT source.ip:10.*"),
    ("privileged pods", "kubernetes.spec.containers.securityContext.privileged:true"),
)


def _batches(minutes: int, seed: int, size: int) -> Iterator[list[bytes]]:
    # the hour that just ended, so the default search window (last 24 h) shows it
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    source = lines(minutes, seed, start)
    while batch := list(islice(source, size)):
        yield batch


def run(data_dir: Path, port: int, minutes: int, seed: int, keep_serving: bool) -> int:
    if data_dir.exists():
        shutil.rmtree(data_dir)  # a fresh store each time: the demo is reproducible
    key = cli(data_dir, "intakes", "create", "demo-cluster")
    token = cli(data_dir, "tokens", "create", "demo-analyst", "--role", "admin")
    server = ServeProcess(data_dir, port)
    url = server.url
    print(f"starting kubetrail serve on {url} ...", flush=True)
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) ends the demo as Ctrl-C does: the service it started stops too
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
        with httpx.Client(base_url=url, timeout=60) as client:
            sent = 0
            started = time.monotonic()
            for batch in _batches(minutes, seed, 1000):
                reply = client.post(
                    "/plain/batch",
                    content=b"\n".join(batch),
                    headers={"X-SEKOIAIO-INTAKE-KEY": key},
                )
                reply.raise_for_status()
                sent += len(batch)
            took = time.monotonic() - started
            print(
                f"\nfed {sent:,} audit events ({minutes} minutes of a small cluster) in "
                f"{took:.1f} s: {sent / took:,.0f} events/s"
            )
            time.sleep(2)  # detection runs behind the writer: give it a moment
            auth = {"Authorization": f"Bearer {token}"}
            alerts = client.get("/api/v1/alerts", headers=auth).json()["alerts"]
            _report(url, token, alerts, data_dir)
        if keep_serving and server.proc is not None:
            print("serving until Ctrl-C ...")
            server.proc.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _report(url: str, token: str, alerts: list[dict[str, object]], data_dir: Path) -> None:
    print(f"\nkubetrail is serving at {url}")
    print(f"API token (admin): {token}")
    print(f"open {url}/ in a browser and sign in with the token\n")
    print(f"{len(alerts)} alerts, most severe first:")
    alerts = sorted(alerts, key=lambda a: -level_rank(str(a["rule"]["level"])))  # type: ignore[index]
    for alert in alerts[:15]:
        rule = alert["rule"]
        assert isinstance(rule, dict)
        print(f"  [{rule['level']:>8}] {rule['name']} (x{alert['count']})")
    print("\ntry:")
    print(f"  curl -H 'Authorization: Bearer {token}' '{url}/api/v1/alerts'")
    for what, query in EXAMPLES:
        print(f"  kubetrail search --data-dir {data_dir} '{query}'   # {what}")
    print(
        f"  curl -G -H 'Authorization: Bearer {token}' {url}/api/v1/events "
        "--data-urlencode 'q=kubernetes.subresource:exec'"
    )
