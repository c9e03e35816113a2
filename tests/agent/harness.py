"""Helpers of the agent tests: a config on disk, the agent as a real process, an apiserver-like
writer that rotates its log the three ways clusters do."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml


def write_config(tmp: Path, url: str, key: str, logdir: Path, **extra: Any) -> Path:
    cfg = {
        "intake_url": url,
        "state_dir": str(tmp / "state"),
        "logfiles": [{"filepath": str(logdir / "audit.log"), "intakekey": key}],
        "poll_interval": 0.05,
        "flush_interval": 0.1,
        "retry_initial": 0.05,
        "retry_max": 0.5,
        "rotate_wait": 0.3,
        "lost_after": 5,
        "shutdown_timeout": 2,
        "log_format": "json",
        **extra,
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class AgentProcess:
    """`python -m kubetrail agent --config ...`, its stderr appended to a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kubetrail", "agent", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class RotatingWriter:
    """Appends lines to audit.log and rotates it as lumberjack or logrotate would."""

    def __init__(self, logdir: Path) -> None:
        self.dir = logdir
        self.path = logdir / "audit.log"
        self.rotations = 0

    def append(self, lines: list[bytes]) -> None:
        with open(self.path, "ab") as f:
            f.write(b"".join(line + b"\n" for line in lines))

    def _backup_name(self) -> Path:
        self.rotations += 1
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
        return self.dir / f"audit-{stamp}.{self.rotations:03d}.log"

    def rename(self) -> None:
        """lumberjack: the file becomes audit-<UTC timestamp>.log, a new one starts."""
        if self.path.exists():
            os.rename(self.path, self._backup_name())

    def rename_gzip_delete(self) -> None:
        """lumberjack with compression: the renamed file is gzipped and removed at once."""
        if not self.path.exists():
            return
        backup = self._backup_name()
        os.rename(self.path, backup)
        with open(backup, "rb") as src, gzip.open(f"{backup}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        backup.unlink()

    def copytruncate(self) -> None:
        """logrotate copytruncate: shift .N to .N+1, copy to .1, truncate in place."""
        if not self.path.exists():
            return
        copies = sorted(self.dir.glob("audit.log.*"), key=lambda p: -int(p.suffix[1:]))
        for old in copies:
            os.rename(old, self.dir / f"audit.log.{int(old.suffix[1:]) + 1}")
        shutil.copyfile(self.path, self.dir / "audit.log.1")
        with open(self.path, "r+b") as f:
            f.truncate(0)
        self.rotations += 1


def audit_ids(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["auditID"] for line in lines]


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
