"""The writer flushes apart from its commits: the next commit is written while the disk takes
the last ones, and no waiter is answered before the flush that covers its commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from kubetrail.demo.generate import generate
from kubetrail.ingest.pipeline import prepare
from kubetrail.ingest.writer import Writer
from kubetrail.query import compile_query
from kubetrail.store.base import NewEvent
from kubetrail.store.sqlite.events import SqliteEvents

ALL_TIME = (0, 2**62)


class GatedSync(SqliteEvents):
    """The real store, whose flushes wait for the test (and can be made to fail)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.flushes = 0
        self.fail_next: OSError | None = None

    def sync(self) -> None:
        assert self.gate.wait(10)
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        super().sync()
        self.flushes += 1


@pytest.fixture
def sample() -> list[NewEvent]:
    lines = [orjson.dumps(e).decode() for e in generate(minutes=5, seed=3)]
    return [prepare(text, 1, "x", None, 0) for text in lines][:300]


def _visible(store: SqliteEvents) -> int:
    return store.count(compile_query("*", store.dialect), *ALL_TIME)


def _until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    stop = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        stop.wait(0.01)
    raise AssertionError("condition not reached")


def test_a_commit_is_answered_only_after_its_flush(tmp_path: Path, sample: list[NewEvent]) -> None:
    store = GatedSync(tmp_path / "events.db")
    writer = Writer(store, 10_000)
    first = writer.submit(sample[:100])
    _until(lambda: _visible(store) == 100)  # committed: readers see it
    assert not first.done()  # but not flushed: the sender is not answered yet
    # the next commit is written while the first one's flush waits
    second = writer.submit(sample[100:200])
    _until(lambda: _visible(store) == 200)
    assert not second.done()
    store.gate.set()
    assert first.result(10) >= 100 and second.result(10) >= 100
    assert 1 <= store.flushes <= 2  # one flush may cover both commits
    writer.close()


def test_a_failed_flush_answers_nobody_and_the_writer_goes_on(
    tmp_path: Path, sample: list[NewEvent]
) -> None:
    store = GatedSync(tmp_path / "events.db")
    store.fail_next = OSError(5, "Input/output error")
    writer = Writer(store, 10_000)
    failed = writer.submit(sample[:100])
    store.gate.set()
    with pytest.raises(OSError, match="Input/output error"):
        failed.result(10)
    # the sender retries: the events are stored once, and this time answered
    assert writer.submit(sample[:200]).result(10) == 100
    assert _visible(store) == 200
    writer.close()


def test_closing_flushes_what_was_committed(tmp_path: Path, sample: list[NewEvent]) -> None:
    store = GatedSync(tmp_path / "events.db")
    writer = Writer(store, 10_000)
    pending = [writer.submit(sample[k : k + 50]) for k in range(0, 300, 50)]
    store.gate.set()
    writer.close()
    assert all(done.done() for done in pending)
    assert sum(done.result() for done in pending) >= 300
    assert store.flushes >= 1


def test_the_store_syncs_by_itself_outside_the_writer(
    tmp_path: Path, sample: list[NewEvent]
) -> None:
    store = GatedSync(tmp_path / "events.db")
    store.gate.set()
    store.sync()  # nothing written yet: no WAL to flush, no error
    assert store.append(sample[:10]) == 10
    assert store.flushes == 2  # `append` is durable when it returns
    store.close()


def test_a_cancelled_request_does_not_stop_the_writer(
    tmp_path: Path, sample: list[NewEvent]
) -> None:
    """A request's task cancelled while it waits (a client gone when the server shuts down)
    cancels the future it awaits; the writer still commits it, and goes on with the rest."""
    store = GatedSync(tmp_path / "events.db")
    writer = Writer(store, 10_000)

    async def cancelled_then_next() -> int:
        waiting = asyncio.ensure_future(writer.write(sample[:100]))
        await asyncio.sleep(0.05)  # committed, held at the flush
        waiting.cancel()
        store.gate.set()
        return await asyncio.wait_for(writer.write(sample[100:200]), 10)

    assert asyncio.run(cancelled_then_next()) == 100
    assert _visible(store) == 200
    writer.close()
