"""Detection in the service: every stored event goes through the Sigma engine, in order.

The writer hands each committed batch to `DetectionWorker.submit`; one thread evaluates them
and stores alerts. The queue is bounded and `submit` blocks when it is full: when detection
falls behind, ingest slows down (the intake answers 503 and senders retry) rather than letting
events go unexamined.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Final

import orjson

from kubetrail.detect.pipeline import Detector
from kubetrail.metrics import Metrics
from kubetrail.store.base import NewEvent

log = logging.getLogger("kubetrail.detection")
_QUEUE_BATCHES: Final = 64
_STOP: Final = object()


class DetectionWorker:
    def __init__(self, detector: Detector, metrics: Metrics) -> None:
        self._detector = detector
        self._metrics = metrics
        self._queue: queue.Queue[list[NewEvent] | object] = queue.Queue(_QUEUE_BATCHES)
        self._thread = threading.Thread(target=self._run, name="kubetrail-detect", daemon=True)
        self._thread.start()

    def submit(self, events: list[NewEvent]) -> None:
        self._queue.put(events)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            assert isinstance(batch, list)
            for event in batch:
                try:
                    self._detect(event)
                except Exception:  # one odd event must not stop detection for the rest
                    log.exception("detection failed on event %s", event.id.hex())
            self._queue.task_done()

    def _detect(self, event: NewEvent) -> None:
        if "parse_error" in event.doc.get("kubetrail", {}):
            return  # not an audit event: the rules read audit fields
        raw = orjson.loads(event.message)
        for alert in self._detector.ingest(raw, event.doc, event.id.hex()):
            if alert.count == 1:
                self._metrics.alerts.labels(alert.level).inc()

    def drain(self) -> None:
        """Wait until everything submitted so far is evaluated (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
