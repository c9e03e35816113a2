"""Rotation while the agent is down: after a restart it reads the rest of the old file from its
checkpoint (through gzip, or from the copytruncate copy) and the new file from its start,
sending nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.agent.fake_intake import FakeIntake
from tests.agent.harness import RotatingWriter, wait_for, write_config
from tests.agent.test_agent import event, running

ROTATIONS: dict[str, Callable[[RotatingWriter], None]] = {
    "rename": RotatingWriter.rename,
    "rename+gzip+delete": RotatingWriter.rename_gzip_delete,
    "copytruncate": RotatingWriter.copytruncate,
}


@pytest.mark.parametrize("how", sorted(ROTATIONS))
def test_rotated_while_down(tmp_path: Path, intake: FakeIntake, how: str) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    writer = RotatingWriter(logdir)
    config = write_config(tmp_path, intake.url, intake.key, logdir)
    writer.append([event(i, pad=100) for i in range(100)])
    with running(config):
        assert wait_for(lambda: len(intake.stored_lines()) == 100, timeout=10)
    writer.append([event(i, pad=100) for i in range(100, 150)])  # unread when it rotates
    ROTATIONS[how](writer)
    writer.append([event(i, pad=100) for i in range(150, 170)])
    with running(config):
        assert wait_for(lambda: len(intake.stored_lines()) == 170, timeout=10)
        wait_for(lambda: False, 0.5)  # room for a wrong re-read to show up
    ids = sorted(orjson.loads(line)["auditID"] for line in intake.stored_lines())
    assert ids == [f"id-{i:06d}" for i in range(170)]
    assert intake.received == 170, "the old file was read again from its start"


@pytest.mark.parametrize("how", sorted(ROTATIONS))
def test_rotated_while_running(tmp_path: Path, intake: FakeIntake, how: str) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    writer = RotatingWriter(logdir)
    config = write_config(tmp_path, intake.url, intake.key, logdir)
    with running(config):
        for round_ in range(5):
            writer.append([event(round_ * 100 + i) for i in range(100)])
            ROTATIONS[how](writer)
        writer.append([event(i) for i in range(500, 510)])
        assert wait_for(lambda: len(intake.stored_lines()) == 510, timeout=15)
    assert intake.received == 510
