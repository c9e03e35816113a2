"""The one writer of the event store: group commit behind an asyncio-friendly front.

Request handlers hand their batch to `Writer.write` and await it; one thread takes everything
pending, parses what arrived unparsed (`Received`), stores it all in a single transaction (one
fsync for many requests) and then resolves every waiter, so a handler's 2xx always follows a
durable commit. On the embedded store the events usually arrive parsed and encoded already
(`EncodedBatch`, from kubetrail.ingest.parsers' worker processes) and the thread only commits;
parsing here rather than in the handler keeps the event loop free for searches. When more
events wait than `max_pending_events`, new writes fail fast with `StoreBusy` (HTTP 503)
instead of queueing without bound. When work waited while a commit ran (commits follow each
other: the intake is saturated), `on_saturated` says so; the detection process then waits.

On a store that syncs apart (`SyncingStore`, the embedded one), the thread commits without
waiting for the disk and a second thread flushes: one flush covers every commit made since
the last one began, and the waiters of those commits are resolved after it, never before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from kubetrail.detect.match import Match
from kubetrail.ingest.parsers import EncodedBatch
from kubetrail.ingest.pipeline import Received
from kubetrail.metrics import Metrics
from kubetrail.parse.errors import is_error_document
from kubetrail.store.base import EncodingStore, EventStore, NewEvent, StoreBusy, SyncingStore

Item = NewEvent | Received
# what one request hands over: events to parse here, or events parsed by the workers
Batch = Sequence[Item] | EncodedBatch
# one commit's batches with their waiters, how many of its events were new, and the events
# parsed here (for the `on_stored` hook)
Committed = tuple[list[tuple[Batch, Future[int]]], int, list[NewEvent]]

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
        on_matched: Callable[[list[Match]], None] | None = None,
        on_saturated: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._on_saturated = on_saturated
        self._max_pending = max_pending_events
        self._on_stored = on_stored
        self._on_matched = on_matched
        self._metrics = metrics
        self._pending: list[tuple[Batch, Future[int]]] = []
        self._pending_events = 0
        self._cond = threading.Condition()
        self._closed = False
        # the store, when it syncs apart (then a second thread flushes)
        self._syncing = store if isinstance(store, SyncingStore) else None
        self._unsynced: list[Committed] = []  # committed, waiting for the flush
        self._closed_writes = False  # the writing thread has ended: flush what is left
        self._sync_cond = threading.Condition()
        self._threads = [threading.Thread(target=self._run, name="kubetrail-writer", daemon=True)]
        if self._syncing is not None:
            self._threads.append(
                threading.Thread(target=self._sync_run, name="kubetrail-sync", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    @property
    def pending_events(self) -> int:
        return self._pending_events

    def submit(self, events: Batch) -> Future[int]:
        done: Future[int] = Future()
        # running from here on: it cannot be cancelled. A request whose task is cancelled
        # (a client gone at shutdown) cancels the future it awaits (asyncio.wrap_future);
        # setting the result of a cancelled future raises, and would end the thread that does.
        done.set_running_or_notify_cancel()
        with self._cond:
            if self._closed:
                raise StoreBusy("the writer is shutting down")
            if self._pending_events + len(events) > self._max_pending and self._pending:
                raise StoreBusy(f"{self._pending_events} events are waiting to be written")
            self._pending.append((events, done))
            self._pending_events += len(events)
            self._cond.notify()
        return done

    async def write(self, events: Batch) -> int:
        """Store `events` durably; returns how many were new (the others were retries)."""
        if not events:
            return 0
        return await asyncio.wrap_future(self.submit(events))

    def _take(self) -> list[tuple[Batch, Future[int]]]:
        with self._cond:
            if self._pending and self._on_saturated is not None:
                # work waited while the last commit ran: commits are back to back
                self._on_saturated()
            while not self._pending and not self._closed:
                self._cond.wait()
            taken: list[tuple[Batch, Future[int]]] = []
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
                break  # closed and drained
            try:
                new, events = self._commit([batch for batch, _ in taken])
            except Exception as exc:  # every waiter learns of the failure; nothing is acked
                log.exception("writing %d batches failed", len(taken))
                for _, done in taken:
                    done.set_exception(exc)
                continue
            if self._syncing is None:
                self._done(taken, new, events)
                continue
            with self._sync_cond:
                self._unsynced.append((taken, new, events))
                self._sync_cond.notify()
        with self._sync_cond:  # the flush thread ends once it has flushed what is left
            self._closed_writes = True
            self._sync_cond.notify()

    def _sync_run(self) -> None:
        """Flush the commits made so far, then resolve their waiters; until all are done."""
        store = self._syncing
        assert store is not None  # (the thread runs only for a syncing store)
        while True:
            with self._sync_cond:
                while not self._unsynced and not self._closed_writes:
                    self._sync_cond.wait()
                committed, self._unsynced = self._unsynced, []
            if not committed:
                return
            try:
                store.sync()
            except Exception as exc:  # committed, maybe not durable: nothing is acked
                log.exception("flushing %d commits failed", len(committed))
                for taken, _, _ in committed:
                    for _, done in taken:
                        done.set_exception(exc)
                continue
            for taken, new, events in committed:
                self._done(taken, new, events)

    def _done(
        self, taken: list[tuple[Batch, Future[int]]], new: int, events: list[NewEvent]
    ) -> None:
        """The commit of `taken` is durable: resolve its waiters, then run the hooks."""
        # the split of `new` among the batches of one commit is not known: each waiter
        # gets the total (the metric counts it once)
        for _, done in taken:
            done.set_result(new)
        if self._on_stored is not None:
            try:
                self._on_stored(events)
            except Exception:
                log.exception("the stored-events hook failed")
        if self._on_matched is not None:
            self._hand_over_matches([batch for batch, _ in taken])

    def _hand_over_matches(self, batches: list[Batch]) -> None:
        """What the parse workers' rules found, now that its events are committed."""
        matches = [m for b in batches if isinstance(b, EncodedBatch) for m in b.matches]
        if matches and self._on_matched is not None:
            try:
                self._on_matched(matches)
            except Exception:
                log.exception("the matches hook failed")

    def _commit(self, batches: list[Batch]) -> tuple[int, list[NewEvent]]:
        """Store `batches` in one transaction: how many events were new, and the events that
        were parsed here (for the `on_stored` hook)."""
        encoded = [e for batch in batches if isinstance(batch, EncodedBatch) for e in batch.events]
        events = [
            e.prepare() if isinstance(e, Received) else e
            for batch in batches
            if not isinstance(batch, EncodedBatch)
            for e in batch
        ]
        errors = sum(b.parse_errors for b in batches if isinstance(b, EncodedBatch))
        errors += sum(is_error_document(e.doc) for e in events)
        if self._syncing is not None:
            encoded += [(self._syncing.encoder(e), e.message) for e in events]
            new = self._syncing.append_unsynced(encoded)
        elif encoded:  # (only an EncodingStore is given encoded batches)
            store: EncodingStore = self._store  # type: ignore[assignment]
            encoded += [(store.encoder(e), e.message) for e in events]
            new = store.append_encoded(encoded)
        else:
            new = self._store.append(events)
        if self._metrics is not None:
            self._metrics.parse_errors.inc(errors)
            self._metrics.stored.inc(new)
        return new, events

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
