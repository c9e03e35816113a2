"""A real `kubetrail serve` on loopback, with an intake and tokens of every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kubetrail.server.process import ServeProcess, cli


class Server(ServeProcess):
    """The service under test, logging into its data directory."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, env=extra_env, log=data_dir / "serve.log")


def kubetrail(data_dir: Path, *args: str) -> str:
    return cli(data_dir, *args)


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
