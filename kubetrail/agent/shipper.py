"""Sending batches to the intake until it acknowledges them, whatever it takes.

Every failure is retried: connection errors, timeouts and 5xx with exponential backoff and
full jitter; 429/503 after the `Retry-After` the intake asked for; 401 (a wrong key: nothing
will change until an operator fixes it) loudly and slowly; 413 by splitting the batch. A batch
is only given up when the agent is stopping, and then it stays in the disk buffer.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson

from kubetrail.agent.config import AgentConfig
from kubetrail.agent.lines import error_event
from kubetrail.agent.metrics import Metrics

log = logging.getLogger("kubetrail.agent")

BATCH_PATH: Final = "/plain/batch"
# a key the intake does not know will not become valid in a second: ask again slowly
UNAUTHORIZED_RETRY: Final = 30.0
RETRY_AFTER_CAP: Final = 600.0
# a line the intake refused although it was within the agent's limit: the intake's limit is
# lower than configured, so its error event keeps a modest start of the text
REJECTED_KEEP: Final = 8 * 1024


class Stopping(Exception):
    """The agent is stopping before the batch was acknowledged: it stays in the buffer."""


@dataclass(frozen=True)
class Rejected:
    line: bytes
    status: int
    message: str


class Shipper:
    def __init__(self, cfg: AgentConfig, metrics: Metrics, stop: threading.Event) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.stop = stop
        verify: Any = str(cfg.ca_file) if cfg.ca_file else cfg.tls_verify
        self.client = httpx.Client(
            base_url=cfg.intake_url, verify=verify, timeout=cfg.request_timeout
        )

    def close(self) -> None:
        self.client.close()

    def deliver(self, key: str, body: bytes, logfile: str, source: str) -> None:
        """Send `body` (newline-separated lines); return once the intake stored every line,
        raise Stopping if the agent stops first."""
        rejected = self._send(key, body, logfile)
        if rejected:
            # the intake refused these lines one by one: keep them as error events so that they
            # are still stored, counted and visible
            self.metrics.add("intake_rejected", logfile, len(rejected))
            log.error(
                "intake refused lines; sending them as error events",
                extra={"file": source, "count": len(rejected), "status": rejected[0].status},
            )
            events = [
                error_event("line too long", source, -1, r.line, len(r.line), REJECTED_KEEP)
                for r in rejected
            ]
            still = self._send(key, b"\n".join(events), logfile)
            if still:
                log.error("intake refused error events", extra={"count": len(still)})

    def _send(self, key: str, lines: bytes, logfile: str) -> list[Rejected]:
        body = lines
        headers = {"X-SEKOIAIO-INTAKE-KEY": key, "Content-Type": "text/plain"}
        if self.cfg.compression == "gzip":
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            if self.stop.is_set():
                raise Stopping
            delay: float
            try:
                response = self.client.post(BATCH_PATH, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reason, delay = f"{type(exc).__name__}: {exc}", self._backoff(attempt)
            else:
                status = response.status_code
                if status == 200:
                    return self._rejected(response, lines)
                if status == 413 and b"\n" in lines:
                    parts = lines.split(b"\n")
                    half = len(parts) // 2
                    first, second = b"\n".join(parts[:half]), b"\n".join(parts[half:])
                    del parts
                    return self._send(key, first, logfile) + self._send(key, second, logfile)
                reason = f"HTTP {status}: {response.text[:200]}"
                if status == 401:
                    log.error(
                        "the intake does not accept the intake key of this log file;"
                        " buffering until it does",
                        extra={"logfile": logfile},
                    )
                    delay = UNAUTHORIZED_RETRY
                else:
                    delay = _retry_after(response) or self._backoff(attempt)
            self.metrics.add("retries", logfile)
            attempt += 1
            log.warning(
                "intake request failed, retrying",
                extra={"reason": reason, "retry_in": round(delay, 3), "attempt": attempt},
            )
            self.stop.wait(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter, capped at retry_max."""
        ceiling = min(self.cfg.retry_max, self.cfg.retry_initial * 2 ** min(attempt, 30))
        return random.uniform(0, ceiling)

    def _rejected(self, response: httpx.Response, body: bytes) -> list[Rejected]:
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(answer, dict) or not answer.get("errors"):
            return []
        lines = body.split(b"\n")
        out: list[Rejected] = []
        for item in answer.get("errors") or () if isinstance(answer, dict) else ():
            index = item.get("index") if isinstance(item, dict) else None
            if isinstance(index, int) and 0 <= index < len(lines):
                out.append(Rejected(lines[index], int(item.get("status", 0)), str(item)))
        return out


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait as the intake asked, from seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(RETRY_AFTER_CAP, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(RETRY_AFTER_CAP, max(0.0, when - time.time()))
