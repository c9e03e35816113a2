"""Detection in the service.

On the embedded store: a process of its own that follows the event store.

Every committed event is evaluated, in commit order, by the Sigma engine in a separate
process: ingest and detection each get a core instead of sharing one interpreter. The process
reads what was stored after its watermark, evaluates it, saves the alerts and then the new
watermark, so a restart resumes where it stopped (a batch replayed after a crash between the
two changes no alert: see kubetrail.detect.alerts.merge). It polls a few times a second,
which keeps an alert within a second or two of its event. The intake goes first: senders wait
for its answers, detection does not. The process runs only on CPU time the intake leaves idle
(`yield_to_intake`), and while the writer commits back to back (`IntakeLoad`) it waits, up to
`detection_defer_ms`, then catches up; `kubetrail_detection_lag_events` at /metrics says how
far behind it is.

    parent (kubetrail serve)              detection process
    intake -> writer -> events.db  --->   tail(after=watermark) -> engine -> alerts (state.db)

On shared stores (ClickHouse, PostgreSQL: replicas behind a load balancer), each replica runs
the single-event rules inline on what it stored (`DetectionWorker`, a thread fed by the
writer), and the stateful rules run once for the fleet (kubetrail.server.fleet).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as SyncEvent
from types import FrameType
from typing import Any, Final

import orjson

from kubetrail.detect.engine import Engine
from kubetrail.detect.match import Match
from kubetrail.detect.notify import WebhookNotifier
from kubetrail.detect.pipeline import Detector
from kubetrail.memory import collect_rarely
from kubetrail.metrics import Metrics
from kubetrail.parse.errors import is_error_document
from kubetrail.settings import Config
from kubetrail.store.base import FollowableStore, NewEvent, StateStore
from kubetrail.store.sqlite.events import SqliteEvents

log = logging.getLogger("kubetrail.detection")
POLL_S: Final = 0.2
BATCH: Final = 2000
WATERMARK: Final = "detection.watermark"
NICENESS: Final = 19


def configured(config: Config) -> tuple[Engine, list[WebhookNotifier]]:
    """The rule engine (built-in pack plus `detection_rules_dir`) and the alert notifiers
    that `config` asks for; the rule files' problems are logged."""
    engine = Engine.from_paths([config.detection_rules_dir] if config.detection_rules_dir else [])
    for problem in engine.ruleset.problems:
        log.warning("detection rule problem: %s", problem)
    notifiers = (
        [WebhookNotifier(config.alert_webhook_url, config.alert_webhook_min_level)]
        if config.alert_webhook_url
        else []
    )
    return engine, notifiers


def detect_batch(detector: Detector, rows: list[dict[str, Any]]) -> int:
    """Evaluate stored events; returns how many times alerts were created or updated.

    The batch's matches are recorded together, in one transaction: a quarter of the events of
    a busy cluster can match a rule, and one disk sync per match made alert writing most of
    detection's cost.
    """
    matches: list[Match] = []
    for row in rows:
        doc = row["doc"]
        if is_error_document(doc):
            continue  # not an audit event: the rules read audit fields
        try:
            raw = orjson.loads(row["message"])
            matches += detector.examine(raw, doc, row["event_id"])
        except Exception:  # one odd event must not stop detection for the rest
            log.exception("detection failed on event %s", row["event_id"])
    return len(detector.record(matches))


def yield_to_intake() -> None:
    """Run this process only on CPU time that the intake leaves idle.

    Senders wait for the intake's answers; detection resumes from its watermark a moment
    later. Measured at 200k events sent as fast as 4 clients can (shared check corpus, 2
    cores): detection at nice 10 took 30% of the intake's rate (21k ev/s against 28-29k
    without detection), nice 19 20% (24k), SCHED_IDLE, which also never preempts the intake
    when it wakes, 10% (25.5k). Under CFS an idle-class process still gets a sliver of a busy
    CPU, as nice 19 does: a machine that is never idle slows detection, it does not stop it.
    """
    os.nice(NICENESS)
    if hasattr(os, "sched_setscheduler"):  # Linux
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # e.g. refused by a container's seccomp profile
            log.info("detection runs at nice %d (SCHED_IDLE refused: %s)", NICENESS, exc)


class IntakeLoad:
    """Whether the intake is saturated, shared by the service and its detection process.

    The writer marks it each time it finds work waiting as it finishes a commit; the mark is a
    CLOCK_MONOTONIC time, which all processes of a machine share.
    """

    RECENT_S: Final = 0.5

    def __init__(self) -> None:
        self._marked = multiprocessing.get_context("spawn").RawValue("d", -1e9)

    def mark_saturated(self) -> None:
        self._marked.value = time.monotonic()

    def saturated(self) -> bool:
        return bool(time.monotonic() - self._marked.value < self.RECENT_S)


def rewind_past_loss(events: SqliteEvents, state: StateStore) -> None:
    """Bring the watermark back to the store's last number when it is past it.

    The follower reads what is committed, and the writer acknowledges after the flush that
    follows (kubetrail.ingest.writer): a power cut in between loses commits the follower may
    have read, and the senders send those events again, under the same numbers. So does a
    store restored from a backup. Run before the writer takes events, so that they are
    evaluated.
    """
    after = state.get_setting(WATERMARK)
    last = events.last_number()
    if after and after.isdigit() and int(after) > last:
        log.warning(
            "detection had read up to event %s, the store ends at %d (commits lost, or an "
            "older copy): detection resumes after %d",
            after,
            last,
            last,
        )
        state.set_setting(WATERMARK, str(last))


class Follower:
    """The loop of the detection process (also usable in-process, e.g. by tests).

    With `load`, it waits while the intake is saturated, for up to `defer_s` at a time; past
    that it works until it has caught up, and may wait again.
    """

    def __init__(
        self,
        events: FollowableStore,
        state: StateStore,
        detector: Detector,
        load: IntakeLoad | None = None,
        defer_s: float = 0.0,
    ) -> None:
        self.events = events
        self.state = state
        self.detector = detector
        self.load = load
        self.defer_s = defer_s
        self.running = True
        self._deferred_since: float | None = None

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
            if self.deferring():
                time.sleep(POLL_S)
            elif self.step() < BATCH:
                self._deferred_since = None  # caught up: the next burst may be waited out
                time.sleep(POLL_S)

    def deferring(self) -> bool:
        """True while the intake is saturated and detection has not waited `defer_s` yet."""
        if self.load is None or not self.load.saturated():
            return False
        now = time.monotonic()
        if self._deferred_since is None:
            self._deferred_since = now
        return now - self._deferred_since < self.defer_s


def _main(config: Config, parent: int, load: IntakeLoad | None, ready: SyncEvent | None) -> None:
    from kubetrail.store.open import open_state

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # only the embedded store is followed this way (see the module's docstring)
    events = SqliteEvents(config.data_path / "events.db")
    state = open_state(config)
    engine, notifiers = configured(config)
    follower = Follower(
        events,
        state,
        Detector(engine, state.alerts, notifiers),
        load,
        config.detection_defer_ms / 1000,
    )
    collect_rarely()
    yield_to_intake()
    if ready is not None:
        ready.set()

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


_QUEUE_BATCHES: Final = 64
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class _Found:
    matches: list[Match]


class DetectionWorker:
    """Inline detection on a replica: the writer hands over each committed batch.

    The queue is bounded and `submit` blocks when it is full: when detection falls behind,
    ingest slows down (503, senders retry) rather than letting events go unexamined.
    """

    def __init__(self, detector: Detector, metrics: Metrics) -> None:
        self._detector = detector
        self._metrics = metrics
        self._queue: queue.Queue[list[NewEvent] | _Found | object] = queue.Queue(_QUEUE_BATCHES)
        self._thread = threading.Thread(target=self._run, name="kubetrail-detect", daemon=True)
        self._thread.start()

    def submit(self, events: list[NewEvent]) -> None:
        self._queue.put(events)

    def submit_matches(self, matches: list[Match]) -> None:
        """Record matches found elsewhere (the parse workers) on committed events."""
        self._queue.put(_Found(matches))

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            if isinstance(batch, _Found):
                self._record(batch.matches)
                self._queue.task_done()
                continue
            assert isinstance(batch, list)
            matches: list[Match] = []
            for event in batch:
                if is_error_document(event.doc):
                    continue  # not an audit event: the rules read audit fields
                try:
                    raw = orjson.loads(event.message)
                    matches += self._detector.examine(raw, event.doc, event.id.hex())
                except Exception:  # one odd event must not stop detection for the rest
                    log.exception("detection failed on event %s", event.id.hex())
            self._record(matches)
            self._queue.task_done()

    def _record(self, matches: list[Match]) -> None:
        try:
            for alert, created in self._detector.record(matches):  # one transaction
                if created:
                    self._metrics.alerts.labels(alert.level).inc()
        except Exception:
            log.exception("recording %d matches failed", len(matches))

    def drain(self) -> None:
        """Wait until everything submitted so far is evaluated (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()


def start_process(
    config: Config, load: IntakeLoad | None = None, ready: SyncEvent | None = None
) -> BaseProcess:
    """The detection process, started; it sets the `ready` event (a multiprocessing Event of
    the spawn context) once its rules are compiled and it is about to follow the store."""
    process = multiprocessing.get_context("spawn").Process(
        target=_main,
        args=(config, os.getpid(), load, ready),
        name="kubetrail-detect",
        daemon=True,
    )
    process.start()
    return process
