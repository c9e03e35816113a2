"""The parse worker processes: what they hand the writer is what the writer would have made."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubetrail.ingest.parsers import PIPE_BYTES, EncodedBatch, ParsePool
from kubetrail.ingest.pipeline import Incoming, Received
from kubetrail.ingest.writer import Writer
from kubetrail.store.base import StoreBusy, event_id
from kubetrail.store.sqlite.events import SqliteEvents, encode
from kubetrail.store.sqlite.migrate import connect

from ..conftest import BRIEF_CASES, load_case

NOW_US = 1_757_808_000_000_000


def incoming(texts: list[str]) -> list[Incoming]:
    return [(text, 7, "prod", None) for text in texts]


@pytest.fixture
def texts() -> list[str]:
    """The brief's real audit events, and a line that is not one."""
    real = [load_case(name)["input"]["message"] for name in BRIEF_CASES]
    return [*real, "not an audit event {"]


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    parsers = ParsePool(encode, workers=1, max_pending_events=1_000)
    yield parsers
    parsers.close()


def test_workers_encode_what_the_writer_would(pool: ParsePool, texts: list[str]) -> None:
    batch = asyncio.run(pool.encode(incoming(texts), NOW_US))

    here = [Received(t, event_id(7, t), 7, "prod", None, NOW_US).prepare() for t in texts]
    assert batch.ids == [e.id for e in here]
    assert batch.events == [(encode(e), e.message) for e in here]
    assert batch.parse_errors == 1


def test_examining_workers_return_the_single_event_rules_matches(texts: list[str]) -> None:
    """On replicas the workers run the single-event rules: the matches are the ones the
    in-process engine finds, on the same events, and no correlation runs there."""
    from kubetrail.detect.engine import Engine
    from kubetrail.detect.rules import split_for_fleet
    from kubetrail.ingest.parsers import Examine

    examining = ParsePool(encode, workers=1, max_pending_events=1_000, examine=Examine(None))
    try:
        batch = asyncio.run(examining.encode(incoming(texts), NOW_US))
    finally:
        examining.close()
    here = [Received(t, event_id(7, t), 7, "prod", None, NOW_US).prepare() for t in texts]
    engine = Engine(split_for_fleet(Engine.from_paths([]).ruleset)[0])
    expected = [
        m
        for e in here
        if "parse_error" not in e.doc.get("kubetrail", {})
        for m in engine.process(json.loads(e.message), e.doc, e.id.hex())
    ]
    assert expected, "the brief's exec into a pod matches a rule"
    assert [(m.rule.id, m.event_ids) for m in batch.matches] == [
        (m.rule.id, m.event_ids) for m in expected
    ]
    assert batch.ids == [e.id for e in here]  # the rows are unchanged by examining


def copy_of(text: str, number: int) -> str:
    """`text` made distinct: its auditID numbered, or (not JSON) the number appended."""
    try:
        event = json.loads(text)
    except ValueError:
        return f"{text} {number}"
    event["auditID"] = f"{number}-{event['auditID']}"
    return json.dumps(event)


def test_a_large_request_is_split_and_kept_in_order(pool: ParsePool, texts: list[str]) -> None:
    many = [copy_of(t, i) for i in range(2_500) for t in texts]
    assert len(set(many)) == len(many)

    batch = asyncio.run(pool.encode(incoming(many), NOW_US))

    assert batch.ids == [event_id(7, t) for t in many]
    assert [message for _, message in batch.events] == many
    assert batch.parse_errors == 2_500  # one per copy of the bad line


def test_the_writer_commits_encoded_batches(
    pool: ParsePool, texts: list[str], tmp_path: Path
) -> None:
    store = SqliteEvents(tmp_path / "events.db")
    writer = Writer(store, 1_000)

    async def send() -> tuple[int, int]:
        first = await writer.write(await pool.encode(incoming(texts), NOW_US))
        again = await writer.write(await pool.encode(incoming(texts), NOW_US))  # a retry
        return first, again

    try:
        assert asyncio.run(send()) == (len(texts), 0)
    finally:
        writer.close()
        store.close()
    db = connect(tmp_path / "events.db")
    stored = [r[0] for r in db.execute("SELECT message FROM events_v ORDER BY seq")]
    assert stored == texts
    errors = db.execute("SELECT count(*) FROM events WHERE parse_error = 1").fetchone()[0]
    assert errors == 1


def test_a_dead_worker_is_a_retryable_error_and_the_pool_recovers(
    pool: ParsePool, texts: list[str]
) -> None:
    asyncio.run(pool.encode(incoming(texts), NOW_US))  # starts the worker
    executor = pool._pool()
    for pid in list(executor._processes):
        os.kill(pid, signal.SIGKILL)

    with pytest.raises(StoreBusy, match="worker died"):
        asyncio.run(pool.encode(incoming(texts), NOW_US))

    assert len(asyncio.run(pool.encode(incoming(texts), NOW_US))) == len(texts)


def test_too_much_waiting_work_is_refused(texts: list[str]) -> None:
    parsers = ParsePool(encode, workers=1, max_pending_events=5)

    async def two_at_once() -> tuple[EncodedBatch | BaseException, ...]:
        return await asyncio.gather(
            parsers.encode(incoming(texts), NOW_US),
            parsers.encode(incoming(texts), NOW_US),
            return_exceptions=True,
        )

    try:
        first, second = asyncio.run(two_at_once())
    finally:
        parsers.close()
    assert isinstance(first, EncodedBatch) and len(first) == len(texts)
    assert isinstance(second, StoreBusy)


OWNER = """
import asyncio, sys
from kubetrail.ingest.parsers import ParsePool
from kubetrail.store.sqlite.events import encode
pool = ParsePool(encode, workers=1, max_pending_events=10)
asyncio.run(pool.encode([(sys.argv[1], 1, "x", None)], 0))
print(*pool._pool()._processes, flush=True)
sys.stdin.read()
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited, only its reaping is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_exit_when_the_service_is_killed(texts: list[str]) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, texts[0]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    workers = [int(pid) for pid in owner.stdout.readline().split()]
    assert workers and all(_running(pid) for pid in workers)

    owner.kill()
    owner.wait()

    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)


def test_started_workers_are_running_before_the_first_request() -> None:
    parsers = ParsePool(encode, workers=2, max_pending_events=1_000)
    try:
        asyncio.run(parsers.start())
        executor = parsers._executor
        assert executor is not None
        processes = list(executor._processes.values())
        assert len(processes) == 2 and all(p.is_alive() for p in processes)
    finally:
        parsers.close()


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_a_task_crosses_the_pools_pipes_in_one_go(pool: ParsePool, texts: list[str]) -> None:
    """A megabyte of texts goes to a worker and rows come back, each without 16 turns."""
    asyncio.run(pool.encode(incoming(texts), NOW_US))  # starts the worker
    executor = pool._executor
    assert executor is not None
    queues: list[Any] = [executor._call_queue, executor._result_queue]  # type: ignore[attr-defined]
    for queue in queues:
        assert fcntl.fcntl(queue._reader.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
