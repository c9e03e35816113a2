"""Throwaway ClickHouse and PostgreSQL servers for tests and benchmarks.

Each runs as a child process on free loopback ports in its own temporary directory (no system
service, nothing left behind). PostgreSQL refuses to run as root, so under root its data
directory belongs to the `postgres` user and the server runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

PG_BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
CLICKHOUSE_CANDIDATES = (
    "clickhouse-server",
    "/usr/sbin/clickhouse-server",
    "/usr/bin/clickhouse-server",
)


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up; the message says which."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerUnavailable(f"server exited with {process.returncode}: {tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise ServerUnavailable(f"server did not listen on port {port} within {timeout:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clickhouse_binary() -> list[str] | None:
    for name in CLICKHOUSE_CANDIDATES:
        found = shutil.which(name)
        if found:
            return [found]
    found = shutil.which("clickhouse")
    return [found, "server"] if found else None


def postgres_bin_dir() -> Path | None:
    for directory in PG_BIN_DIRS:
        if Path(directory, "postgres").exists() and Path(directory, "initdb").exists():
            return Path(directory)
    return None


@dataclass(frozen=True)
class ClickHouse:
    tcp_port: int
    http_port: int

    def url(self, database: str) -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}/{database}"


_CLICKHOUSE_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{root}/server.log</log>
        <errorlog>{root}/error.log</errorlog><console>0</console></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp}</tcp_port>
    <http_port>{http}</http_port>
    <interserver_http_port>{interserver}</interserver_http_port>
    <path>{root}/data/</path>
    <tmp_path>{root}/tmp/</tmp_path>
    <user_files_path>{root}/user_files/</user_files_path>
    <format_schema_path>{root}/format_schemas/</format_schema_path>
    <users_config>{root}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
    <remote_servers>{clusters}</remote_servers>
</yandex>
"""

_CLICKHOUSE_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users><default><password></password>
        <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
"""


def _cluster_xml(name: str, shards: list[int]) -> str:
    replicas = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{port}</port></replica></shard>"
        for port in shards
    )
    return f"<{escape(name)}>{replicas}</{escape(name)}>"


@contextlib.contextmanager
def clickhouse_servers(count: int = 1, cluster: str = "kubetrail") -> Iterator[list[ClickHouse]]:
    """`count` ClickHouse servers; each knows the cluster `cluster` of all of them as shards."""
    binary = clickhouse_binary()
    if binary is None:
        raise ServerUnavailable("clickhouse-server not found (apt-get install clickhouse-server)")
    servers = [ClickHouse(free_port(), free_port()) for _ in range(count)]
    clusters = _cluster_xml(cluster, [s.tcp_port for s in servers])
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="kubetrail-clickhouse-") as tmp:
        try:
            for n, server in enumerate(servers):
                root = Path(tmp, str(n))
                for sub in ("data", "tmp", "user_files", "format_schemas"):
                    (root / sub).mkdir(parents=True)
                (root / "users.xml").write_text(_CLICKHOUSE_USERS)
                config = root / "config.xml"
                config.write_text(
                    _CLICKHOUSE_CONFIG.format(
                        root=root,
                        tcp=server.tcp_port,
                        http=server.http_port,
                        interserver=free_port(),
                        clusters=clusters,
                    )
                )
                processes.append(
                    subprocess.Popen(
                        [*binary, f"--config-file={config}"],
                        cwd=root,
                        stdout=subprocess.DEVNULL,
                        stderr=(root / "stderr.log").open("wb"),
                    )
                )
            for n, (server, process) in enumerate(zip(servers, processes, strict=True)):
                _wait_port(server.tcp_port, process, Path(tmp, str(n), "error.log"))
            yield servers
        finally:
            for process in processes:
                _stop(process)


@dataclass(frozen=True)
class Postgres:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL server with trust authentication on loopback (user `postgres`)."""
    bindir = postgres_bin_dir()
    if bindir is None:
        raise ServerUnavailable("PostgreSQL binaries not found (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kubetrail-postgres-") as tmp:
        root = Path(tmp)
        data, sockets, log = root / "data", root / "run", root / "server.log"
        sockets.mkdir()
        if as_root:
            shutil.chown(root, "postgres")
            shutil.chown(sockets, "postgres")
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        process = subprocess.Popen(
            [
                *prefix,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(sockets),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=64MB",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        try:
            _wait_port(port, process, log)
            yield Postgres(port)
        finally:
            _stop(process)
