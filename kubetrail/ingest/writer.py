"""The one writer of the event store: group commit behind an asyncio-friendly front.

Request handlers hand their batch to `Writer.write` and await it; one thread takes everything
pending, parses what arrived unparsed (`Received`), stores it all in a single transaction (one
fsync for many requests) and then resolves every waiter, so a handler's 2xx always follows a
durable commit. Parsing here rather than in the handler keeps the event loop free for searches
while a load comes in (the throughput is the same either way: the GIL is shared). When more
events wait than `max_pending_events`, new writes fail fast with `StoreBusy` (HTTP 503)
instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from kubetrail.ingest.pipeline import Received
from kubetrail.metrics import Metrics
from kubetrail.store.base import EventStore, NewEvent, StoreBusy

Item = NewEvent | Received

log = logging.getLogger("kubetrail.writer")

# how many events one transaction takes at most: large enough to amortize the fsync, small
# enough that a single commit stays well under a second
_MAX_EVENTS_PER_COMMIT = 20_000


class Writer:
    def __init__(
        self,
        store: EventStore,
        max_pending_events: int,
        on_stored: Callable[[list[NewEvent]], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._max_pending = max_pending_events
        self._on_stored = on_stored
        self._metrics = metrics
        self._pending: list[tuple[Sequence[Item], Future[int]]] = []
        self._pending_events = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="kubetrail-writer", daemon=True)
        self._thread.start()

    @property
    def pending_events(self) -> int:
        return self._pending_events

    def submit(self, events: Sequence[Item]) -> Future[int]:
        done: Future[int] = Future()
        with self._cond:
            if self._closed:
                raise StoreBusy("the writer is shutting down")
            if self._pending_events + len(events) > self._max_pending and self._pending:
                raise StoreBusy(f"{self._pending_events} events are waiting to be written")
            self._pending.append((events, done))
            self._pending_events += len(events)
            self._cond.notify()
        return done

    async def write(self, events: Sequence[Item]) -> int:
        """Store `events` durably; returns how many were new (the others were retries)."""
        if not events:
            return 0
        return await asyncio.wrap_future(self.submit(events))

    def _take(self) -> list[tuple[Sequence[Item], Future[int]]]:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            taken: list[tuple[Sequence[Item], Future[int]]] = []
            count = 0
            while self._pending and (
                not taken or count + len(self._pending[0][0]) <= _MAX_EVENTS_PER_COMMIT
            ):
                events, done = self._pending.pop(0)
                taken.append((events, done))
                count += len(events)
            self._pending_events -= count
            return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            if not taken:
                return  # closed and drained
            try:
                events = [
                    e.prepare() if isinstance(e, Received) else e
                    for batch, _ in taken
                    for e in batch
                ]
                if self._metrics is not None:
                    self._metrics.parse_errors.inc(
                        sum("parse_error" in e.doc.get("kubetrail", {}) for e in events)
                    )
                new = self._store.append(events)
                if self._metrics is not None:
                    self._metrics.stored.inc(new)
            except Exception as exc:  # every waiter learns of the failure; nothing is acked
                log.exception("writing %d batches failed", len(taken))
                for _, done in taken:
                    done.set_exception(exc)
                continue
            # the split of `new` among the batches of one commit is not known: each waiter
            # gets the total (the metric above counts it once)
            for _, done in taken:
                done.set_result(new)
            if self._on_stored is not None:
                try:
                    self._on_stored(events)
                except Exception:
                    log.exception("the stored-events hook failed")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
