"""Detection in the service: a process of its own that follows the event store.

Every committed event is evaluated, in commit order, by the Sigma engine in a separate
process: ingest and detection each get a core instead of sharing one interpreter. The process
reads what was stored after its watermark, evaluates it, and saves alerts and the new watermark
together, so a restart resumes where it stopped. It polls a few times a second, which keeps an
alert within a second or two of its event.

    parent (kubetrail serve)              detection process
    intake -> writer -> events.db  --->   tail(after=watermark) -> engine -> alerts (state.db)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Final

import orjson

from kubetrail.detect.engine import Engine
from kubetrail.detect.notify import WebhookNotifier
from kubetrail.detect.pipeline import Detector
from kubetrail.settings import Config
from kubetrail.store.base import EventStore, StateStore

log = logging.getLogger("kubetrail.detection")
POLL_S: Final = 0.2
BATCH: Final = 2000
WATERMARK: Final = "detection.watermark"


def detect_batch(detector: Detector, rows: list[dict[str, Any]]) -> int:
    """Evaluate stored events; returns how many alerts were created or updated."""
    touched = 0
    for row in rows:
        doc = row["doc"]
        if "parse_error" in doc.get("kubetrail", {}):
            continue  # not an audit event: the rules read audit fields
        try:
            raw = orjson.loads(row["message"])
            touched += len(detector.ingest(raw, doc, row["event_id"]))
        except Exception:  # one odd event must not stop detection for the rest
            log.exception("detection failed on event %s", row["event_id"])
    return touched


class Follower:
    """The loop of the detection process (also usable in-process, e.g. by tests)."""

    def __init__(self, events: EventStore, state: StateStore, detector: Detector) -> None:
        self.events = events
        self.state = state
        self.detector = detector
        self.running = True

    def step(self) -> int:
        """One poll: evaluate what was stored since the watermark; how many events."""
        after = self.state.get_setting(WATERMARK)
        rows, watermark = self.events.tail(after, BATCH)
        if not rows:
            return 0
        detect_batch(self.detector, rows)
        if watermark is not None:
            self.state.set_setting(WATERMARK, watermark)
        return len(rows)

    def run(self, parent: int | None = None) -> None:
        parent = parent or os.getppid()
        while self.running and os.getppid() == parent:  # never outlive a killed service
            if self.step() < BATCH:
                time.sleep(POLL_S)


def _main(config: Config, parent: int) -> None:
    from kubetrail.store.open import open_stores

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    events, state = open_stores(config)
    engine = Engine.from_paths([config.detection_rules_dir] if config.detection_rules_dir else [])
    for problem in engine.ruleset.problems:
        log.warning("detection rule problem: %s", problem)
    notifiers = (
        [WebhookNotifier(config.alert_webhook_url, config.alert_webhook_min_level)]
        if config.alert_webhook_url
        else []
    )
    follower = Follower(events, state, Detector(engine, state.alerts, notifiers))

    def stop(signum: int, frame: FrameType | None) -> None:
        follower.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        follower.run(parent)
    finally:
        for notifier in notifiers:
            notifier.close()
        events.close()
        state.close()


def start_process(config: Config) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=_main, args=(config, os.getpid()), name="kubetrail-detect", daemon=True
    )
    process.start()
    return process
