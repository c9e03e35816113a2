"""`kubetrail demo run` (what `make demo` runs), as a user starts and stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from kubetrail.server.process import free_port


def _demo(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubetrail",
            "demo",
            "run",
            "--data-dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
            "--minutes",
            "10",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return proc, f"http://127.0.0.1:{port}"


def _stopped(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=1)
    except httpx.TransportError:
        return True
    return False


def test_the_demo_feeds_the_service_reports_and_stops_it_when_killed(tmp_path: Path) -> None:
    proc, url = _demo(tmp_path)
    assert proc.stdout is not None
    output = []
    for line in proc.stdout:
        output.append(line)
        if line.startswith("serving until Ctrl-C"):
            break
    text = "".join(output)
    assert "fed " in text and "audit events" in text, text
    assert "alerts, most severe first" in text, text
    token = next(line.split()[-1] for line in output if line.startswith("API token"))
    # the service it printed answers, with the token it printed
    reply = httpx.get(
        url + "/api/v1/events",
        params={"q": "kubernetes.subresource:exec"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert reply.status_code == 200 and reply.json()["events"]
    proc.send_signal(signal.SIGTERM)  # `kill`: the demo and its service stop
    assert proc.wait(timeout=30) == 0
    assert _stopped(url)


def test_without_serving_the_demo_exits_and_leaves_nothing_running(tmp_path: Path) -> None:
    proc, url = _demo(tmp_path, "--no-serve")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "alerts, most severe first" in out
    assert _stopped(url)
