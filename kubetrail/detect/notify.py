"""Outgoing webhooks: each new alert at or above a level, POSTed as JSON, retried with backoff.

    notifier = WebhookNotifier("https://hooks.example/kubetrail", min_level="high")
    notifier.notify(alert)      # queued; a background thread sends it
    notifier.close()            # sends what is queued, then stops

A 2xx answer is a delivery; 408, 429 and 5xx answers and transport errors are retried with
exponential backoff and full jitter; other 4xx answers are not (the request itself is wrong).
The URL may carry a secret: it is never logged, only its scheme and host.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from kubetrail.detect.alerts import Alert
from kubetrail.detect.errors import DetectError
from kubetrail.detect.rules import LEVELS, level_rank

log = logging.getLogger(__name__)
_RETRY_STATUS: Final = frozenset({408, 425, 429})
_STOP: Final[Any] = object()


def redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        min_level: str = "medium",
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise DetectError(f"webhook URL must be http or https: {redact(url)}")
        if min_level not in LEVELS:
            raise DetectError(f"min_level must be one of {', '.join(LEVELS)}: {min_level!r}")
        self.url = url
        self.min_rank = level_rank(min_level)
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.sent = 0
        self.failed = 0
        self._client = httpx.Client(timeout=timeout, headers=headers or {})
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None

    def wants(self, alert: Alert) -> bool:
        return alert.rank >= self.min_rank

    def send(self, alert: Alert) -> bool:
        """POST `alert` now, retrying; True when the receiver accepted it."""
        body = {"kind": "kubetrail.alert", "alert": alert.to_dict()}
        for attempt in range(self.attempts):
            try:
                response = self._client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            else:
                if response.is_success:
                    self.sent += 1
                    return True
                reason = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in _RETRY_STATUS:
                    break
            if attempt + 1 < self.attempts:
                delay = min(self.max_delay, self.base_delay * 2**attempt)
                self.sleep(random.uniform(0, delay))  # full jitter: receivers recover faster
        self.failed += 1
        log.warning("webhook %s: alert %s not delivered (%s)", redact(self.url), alert.id, reason)
        return False

    def notify(self, alert: Alert) -> None:
        """Queue `alert` for the background sender when its level is high enough."""
        if not self.wants(alert):
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.failed += 1
            log.warning("webhook %s: queue full, alert %s dropped", redact(self.url), alert.id)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self.send(item)

    def close(self) -> None:
        """Deliver what is queued, then release the connection pool."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._client.close()
