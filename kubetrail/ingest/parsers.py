"""Parse worker processes: received events -> rows the store writes as they are.

Parsing is most of an event's CPU cost and the service's process has one GIL: with the writer
thread parsing, one core does everything while the other idles. Here the intake hands each
request's events to a pool of worker processes that parse them and encode them in the store's
own row form (`EncodingStore.encoder`); the service's process is left with HTTP and the SQL
commit, which runs without the GIL. The raw text stays in the service's process: only what
parsing made travels back.

On shared stores (replicas), the workers also run the single-event detection rules on the
events they parse (`Examine`): they hold the document and the decoded event already. Their
matches travel back with the rows and are recorded once the events are committed.

A worker that dies (killed, out of memory) breaks the pool: the requests in flight get a 503
and the next request starts a new pool. Nothing was acknowledged, so senders retry.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import marshal
import multiprocessing
import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from kubetrail.ingest.pipeline import Incoming, prepare
from kubetrail.parse.errors import is_error_document
from kubetrail.store.base import Encoded, Encoder, StoreBusy

if TYPE_CHECKING:
    from kubetrail.detect.engine import Engine
    from kubetrail.detect.match import Match

log = logging.getLogger("kubetrail.parsers")

# events per task: a large request is spread over the workers, a small one is one task
CHUNK_EVENTS = 1_000
PARENT_CHECK_S = 0.5
# the size asked of the pool's pipes (Linux's default ceiling for an unprivileged process)
PIPE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """Events parsed and encoded for the store, each with its raw text."""

    events: list[tuple[Encoded, str]]
    ids: list[bytes]  # kubetrail.store.base.event_id of each
    parse_errors: int
    matches: list[Match] = field(default_factory=list)  # of the single-event rules (Examine)

    def __len__(self) -> int:
        return len(self.events)


@dataclass(frozen=True)
class Examine:
    """The single-event rules the workers run: the built-in pack plus `rules_dir`."""

    rules_dir: str | None

    def engine(self) -> Engine:
        from kubetrail.detect.engine import Engine
        from kubetrail.detect.rules import split_for_fleet

        full = Engine.from_paths([self.rules_dir] if self.rules_dir else [])
        return Engine(split_for_fleet(full.ruleset)[0])  # correlations and first-seen: the fleet's


_engine: Engine | None = None  # in a worker: its rules, when it examines (see Examine)


def _start_worker(parent: int, examine: Examine | None = None) -> None:
    global _engine  # noqa: PLW0603 - the worker's one engine, built once
    if examine is not None:
        _engine = examine.engine()
    # a worker's objects live for one task and hold no reference cycles
    gc.disable()
    # A worker holds both ends of its task queue's pipe, so a parent killed with SIGKILL
    # leaves it waiting forever: watch the parent instead.
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _encode(encoder: Encoder, events: list[Incoming], now_us: int) -> tuple[bytes, bytes]:
    """`(rows, ids, parse errors)` of `events`, marshalled, and their matches, pickled.

    The rows are tuples and lists of strings, numbers and bytes: marshal writes them at a third
    of pickle's cost (pickle remembers every object it writes, in case it meets it again), and
    this runs for every event, in the worker, with the result crossing a pipe.
    """
    rows = []
    ids = []
    errors = 0
    matches: list[Match] = []
    for text, intake_id, intake, sender_ts in events:
        parsed = prepare(text, intake_id, intake, sender_ts, now_us)
        failed = is_error_document(parsed.doc)
        errors += failed
        rows.append(encoder(parsed))
        ids.append(parsed.id)
        if _engine is not None and not failed:
            try:
                raw = orjson.loads(text)
                matches += _engine.process(raw, parsed.doc, parsed.id.hex())
            except Exception:  # one odd event must not stop detection for the rest
                log.exception("detection failed on event %s", parsed.id.hex())
    return marshal.dumps((rows, ids, errors)), pickle.dumps(matches) if matches else b""


def _widen_pipes(executor: ProcessPoolExecutor) -> None:
    """Let a task cross the pool's pipes in one go, where the system allows it (Linux).

    A task carries its events' texts to a worker and their rows back, about a megabyte each
    way for a request of 1,000 events. Through a pipe of the default 64 KiB, the sending and
    the receiving process take turns about sixteen times per task, each turn a wake-up of the
    other. With 1 MiB pipes, the same tasks through a real pool (sequential requests of 500
    shared-corpus events) ran at 34.9k-38.4k events/s instead of 27.0k-32.8k, the worker
    spending 2-5 us less CPU per event and the service 2.5-3.4 us less.

    The pipes are the executor's (its call and result queues are private attributes): where
    they cannot be found or widened, the pool works as it did, only slower.
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    for name in ("_call_queue", "_result_queue"):
        reader = getattr(getattr(executor, name, None), "_reader", None)
        try:
            fcntl.fcntl(reader.fileno(), set_size, PIPE_BYTES)  # type: ignore[union-attr]
        except (AttributeError, OSError) as exc:  # e.g. a lower /proc/sys/fs/pipe-max-size
            log.debug("the parse pool's %s pipe keeps its size: %s", name, exc)


def _warm_up() -> None:
    # the modules a task needs are imported by unpickling it; this also holds the worker a
    # moment, so that each of `start`'s calls reaches a worker of its own
    time.sleep(0.05)


def _decoded(blob: bytes) -> tuple[list[Encoded], list[bytes], int]:
    # written by `_encode` in a worker this process started: never data from outside
    rows, ids, errors = marshal.loads(blob)  # noqa: S302
    return rows, ids, errors


def _matches(blob: bytes) -> list[Match]:
    # pickled by `_encode` in a worker this process started: never data from outside
    found: list[Match] = pickle.loads(blob) if blob else []  # noqa: S301
    return found


class ParsePool:
    """`workers` processes parsing for one store; `max_pending_events` bounds the work queued."""

    def __init__(
        self,
        encoder: Encoder,
        workers: int,
        max_pending_events: int,
        examine: Examine | None = None,
    ) -> None:
        self._encoder = encoder
        self._examine = examine
        self._workers = workers
        self._max_pending = max_pending_events
        self._pending = 0
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    @property
    def pending_events(self) -> int:
        return self._pending

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:  # workers start on first use or with `start`
                self._executor = ProcessPoolExecutor(
                    self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(os.getpid(), self._examine),
                )
                _widen_pipes(self._executor)
            return self._executor

    async def start(self) -> None:
        """Start the workers and wait until each has imported the parser."""
        pool = self._pool()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[loop.run_in_executor(pool, _warm_up) for _ in range(self._workers)])

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def encode(self, events: list[Incoming], now_us: int) -> EncodedBatch:
        """`events`, received at `now_us`, parsed and encoded by the workers, in order.

        Raises StoreBusy when too many events are waiting or a worker died.
        """
        if not events:
            return EncodedBatch([], [], 0)
        count = len(events)
        with self._lock:
            if self._pending and self._pending + count > self._max_pending:
                raise StoreBusy(f"{self._pending} events are waiting to be parsed")
            self._pending += count
        pool = self._pool()
        loop = asyncio.get_running_loop()
        try:
            blobs = await asyncio.gather(
                *[
                    loop.run_in_executor(
                        pool, _encode, self._encoder, events[i : i + CHUNK_EVENTS], now_us
                    )
                    for i in range(0, count, CHUNK_EVENTS)
                ]
            )
        except BrokenProcessPool:
            log.error("a parse worker died; starting new ones")
            self._restart(pool)
            raise StoreBusy("a parse worker died") from None
        finally:
            with self._lock:
                self._pending -= count
        parts = [_decoded(rows) for rows, _ in blobs]
        rows = [row for part, _, _ in parts for row in part]
        return EncodedBatch(
            list(zip(rows, (text for text, *_ in events), strict=True)),
            [i for _, ids, _ in parts for i in ids],
            sum(errors for _, _, errors in parts),
            [match for _, found in blobs for match in _matches(found)],
        )

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
