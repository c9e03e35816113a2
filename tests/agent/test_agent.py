"""The agent in-process on real files and a real HTTP intake: bad lines, backpressure,
read_from, a recycled inode, the status report and the metrics endpoint."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from kubetrail.agent import Agent, load_config
from kubetrail.agent.buffer import Pointer
from kubetrail.agent.tailer import CHUNK
from kubetrail.cli import cli
from tests.agent.fake_intake import FakeIntake
from tests.agent.harness import wait_for, write_config


def event(i: int, pad: int = 0) -> bytes:
    return orjson.dumps({"kind": "Event", "auditID": f"id-{i:06d}", "verb": "get", "p": "x" * pad})


@contextmanager
def running(config: Path) -> Iterator[Agent]:
    agent = Agent(load_config(config))
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        yield agent
    finally:
        agent.stop_reading.set()
        thread.join(30)


def stored_docs(intake: FakeIntake) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in intake.stored_lines()]


def test_unsendable_lines_become_counted_error_events(tmp_path: Path, intake: FakeIntake) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    too_long = b'{"auditID":"huge","p":"' + b"y" * 300_000 + b'"}'
    not_utf8 = b'{"auditID":"bin","user":"\xff\xfe"}'
    content = [event(1), too_long, event(2), not_utf8, event(3)]
    (logdir / "audit.log").write_bytes(b"\n".join(content) + b"\n")
    with running(write_config(tmp_path, intake.url, intake.key, logdir)) as agent:
        assert wait_for(lambda: len(intake.stored_lines()) == 5, timeout=10)
        assert agent.metrics.get("error_events") == 2
    docs = {d.get("auditID") or d["error"]: d for d in stored_docs(intake)}
    assert set(docs) == {"id-000001", "id-000002", "id-000003", "line too long", "invalid utf-8"}
    long_doc = docs["line too long"]
    assert long_doc["length"] == len(too_long)
    assert long_doc["offset"] == len(event(1)) + 1
    assert long_doc["truncated_line"].startswith('{"auditID":"huge","p":"yyy')
    assert len(orjson.dumps(long_doc)) <= 250 * 1024
    assert docs["invalid utf-8"]["truncated_line"] == '{"auditID":"bin","user":"\\xff\\xfe"}'


def test_a_full_buffer_stops_reading_and_nothing_is_dropped(
    tmp_path: Path, intake: FakeIntake
) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    lines = [event(i, pad=900) for i in range(6000)]  # ~5.6 MB, over five times the buffer
    (logdir / "audit.log").write_bytes(b"\n".join(lines) + b"\n")
    intake.stop()
    config = write_config(
        tmp_path, intake.url, intake.key, logdir, buffer_max_bytes=1 << 20, batch_max_lines=200
    )
    with running(config) as agent:
        assert wait_for(lambda: agent.buffer.full, timeout=10)
        wait_for(lambda: False, 0.5)  # time it would have needed to read everything
        (tracked,) = agent.tailer.files.values()
        # the bound: the buffer's size plus what one read chunk holds
        assert tracked.offset < 3 << 20, "reading went on with the buffer full"
        assert agent.buffer.pending_bytes <= (1 << 20) + CHUNK + 2000
        intake.start()
        assert wait_for(lambda: len(intake.stored_lines()) == len(lines), timeout=30)
    assert {d["auditID"] for d in stored_docs(intake)} == {f"id-{i:06d}" for i in range(6000)}


def test_read_from_end_skips_what_was_there_at_first_start(
    tmp_path: Path, intake: FakeIntake
) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    log = logdir / "audit.log"
    log.write_bytes(event(1) + b"\n" + event(2) + b"\n")
    config = write_config(tmp_path, intake.url, intake.key, logdir, read_from="end")
    with running(config):
        wait_for(lambda: False, 0.3)
        with open(log, "ab") as f:
            f.write(event(3) + b"\n")
        assert wait_for(lambda: len(intake.stored_lines()) == 1, timeout=10)
    assert [d["auditID"] for d in stored_docs(intake)] == ["id-000003"]


def test_same_inode_new_content_is_read_from_its_start(tmp_path: Path, intake: FakeIntake) -> None:
    """After a restart, a file with the checkpointed device and inode but other first bytes is
    another file (inode reuse): reading it from the old offset would skip its lines."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    log = logdir / "audit.log"
    log.write_bytes(b"".join(event(i) + b"\n" for i in range(10)))
    config = write_config(tmp_path, intake.url, intake.key, logdir)
    with running(config):
        assert wait_for(lambda: len(intake.stored_lines()) == 10, timeout=10)
    inode = log.stat().st_ino
    with open(log, "r+b") as f:  # same inode, new content longer than the old offset
        f.truncate(0)
        f.write(b"".join(event(i, pad=50) + b"\n" for i in range(100, 120)))
    assert log.stat().st_ino == inode
    with running(config):
        assert wait_for(lambda: len(intake.stored_lines()) == 30, timeout=10)
    assert len({d["auditID"] for d in stored_docs(intake)}) == 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_status_and_metrics_report_offsets_lag_and_counters(
    tmp_path: Path, intake: FakeIntake
) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    log = logdir / "audit.log"
    log.write_bytes(b"".join(event(i) + b"\n" for i in range(100)))
    port = free_port()
    config = write_config(tmp_path, intake.url, intake.key, logdir, metrics_port=port)
    with running(config):
        assert wait_for(lambda: len(intake.stored_lines()) == 100, timeout=10)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            text = response.read().decode()
        intake.stop()
        with open(log, "ab") as f:
            f.write(event(100) + b"\n")
        wait_for(lambda: False, 0.5)
    label = f'{{file="{log}"}}'
    assert f"kubetrail_agent_lines_shipped_total{label} 100" in text
    assert f"kubetrail_agent_lines_read_total{label} 100" in text
    assert "kubetrail_agent_buffered_bytes 0" in text
    assert intake.key not in text
    result = CliRunner().invoke(cli, ["agent", "status", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["buffered_bytes"] > len(event(100))  # the unsent line, in its frame
    (row,) = report["files"]
    size = log.stat().st_size
    assert (row["path"], row["size"], row["lag"]) == (str(log), size, len(event(100)) + 1)
    table = CliRunner().invoke(cli, ["agent", "status", "--config", str(config)])
    assert str(log) in table.stdout and str(size) in table.stdout


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_flushes_checkpoints_and_exits_0(
    tmp_path: Path, intake: FakeIntake, signal_name: str
) -> None:
    import signal

    from tests.agent.harness import AgentProcess

    logdir = tmp_path / "log"
    logdir.mkdir()
    log = logdir / "audit.log"
    log.write_bytes(b"".join(event(i) + b"\n" for i in range(500)))
    proc = AgentProcess(write_config(tmp_path, intake.url, intake.key, logdir), tmp_path / "a.log")
    proc.start()
    try:
        assert wait_for(lambda: len(intake.stored_lines()) == 500, timeout=20)
        assert proc.proc is not None
        proc.proc.send_signal(getattr(signal, signal_name))
        assert proc.proc.wait(20) == 0
    finally:
        proc.ensure_stopped()
    state = orjson.loads((tmp_path / "state" / "state.json").read_bytes())
    (entry,) = state["files"].values()
    assert entry["acked"] == log.stat().st_size
    assert intake.key.encode() not in (tmp_path / "a.log").read_bytes()


def test_batches_in_flight_are_acknowledged_in_file_order(
    tmp_path: Path, intake: FakeIntake
) -> None:
    """A later batch answered first must not move the checkpoint past an earlier one still
    waiting: a crash then would skip the earlier batch's lines."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    lines = [event(i) for i in range(300)]
    (logdir / "audit.log").write_bytes(b"\n".join(lines) + b"\n")
    config = write_config(tmp_path, intake.url, intake.key, logdir, batch_max_lines=100)
    agent = Agent(load_config(config))
    assert agent.cfg.max_in_flight == 2
    first_may_finish = threading.Event()
    start = agent.buffer.ack
    delivered: list[Pointer] = []
    deliver = agent._deliver

    def slow_first(frame: Any) -> None:
        if frame.at == start:
            assert first_may_finish.wait(10)
        deliver(frame)
        delivered.append(frame.at)

    agent._deliver = slow_first  # type: ignore[method-assign]
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        assert wait_for(lambda: len(delivered) == 1, timeout=10)  # the second batch, first
        assert delivered[0] > start
        wait_for(lambda: False, 0.3)  # time to acknowledge it, were that the bug
        assert agent.buffer.ack == start  # nothing acknowledged: the first batch is out
        first_may_finish.set()
        assert wait_for(lambda: len(intake.stored_lines()) == 300, timeout=10)
        assert wait_for(lambda: agent.buffer.pending_bytes == 0, timeout=10)
    finally:
        first_may_finish.set()
        agent.stop_reading.set()
        thread.join(30)
    assert sorted(intake.stored_lines()) == sorted(lines)
    assert start in delivered[1:]  # delivered late, then acknowledged with the rest
