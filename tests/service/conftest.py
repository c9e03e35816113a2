"""A real `kubetrail serve` on loopback, with an intake and tokens of every role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kubetrail(data_dir: Path, *args: str) -> str:
    """Run the CLI on `data_dir`; its last line of output (where secrets are printed)."""
    out = subprocess.run(
        [sys.executable, "-m", "kubetrail", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log = open(self.data_dir / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        env = {**os.environ, "KUBETRAIL_WORKERS": "1", **self.extra_env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubetrail",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=log,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.data_dir / "serve.log").read_text()[-2000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("kubetrail serve did not answer /healthz")

    def stop(self, sig: int = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


@dataclass
class Live:
    server: Server
    key: str
    admin: str
    analyst: str
    viewer: str

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_live(data_dir: Path) -> Live:
    key = kubetrail(data_dir, "intakes", "create", "test-cluster")
    tokens = {
        role: kubetrail(data_dir, "tokens", "create", f"t-{role}", "--role", role)
        for role in ("admin", "analyst", "viewer")
    }
    # the samples are from 2025: keep them through the retention pass at start-up
    server = Server(data_dir, extra_env={"KUBETRAIL_RETENTION_DAYS": "36500"}).start()
    return Live(server, key, tokens["admin"], tokens["analyst"], tokens["viewer"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    service = start_live(tmp_path_factory.mktemp("kubetrail"))
    yield service
    service.server.stop()
