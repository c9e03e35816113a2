"""File -> agent process -> real HTTP intake, under rotation, kill -9 and intake outages.

A seeded writer appends audit lines while rotating by rename, rename+gzip+delete and
copytruncate at random moments; the agent is killed with SIGKILL and restarted at random
points; the intake is stopped and restarted. At the end the stored auditIDs are exactly the
written ones, each once.
"""

from __future__ import annotations

import itertools
import random
import uuid
from pathlib import Path
from typing import Protocol

import orjson
import pytest

from kubetrail.demo.generate import lines as demo_lines
from tests.agent.harness import AgentProcess, RotatingWriter, audit_ids, wait_for, write_config
from tests.agent.real_intake import RealIntake


def corpus(count: int, seed: int) -> list[bytes]:
    """Realistic audit lines, each given its own auditID (the two stages of an exec share one)."""
    out: list[bytes] = []
    for s in itertools.count(seed * 1000):
        for line in itertools.islice(demo_lines(minutes=30, seed=s), count - len(out)):
            event = orjson.loads(line)
            event["auditID"] = str(
                uuid.UUID(int=random.Random(seed * 10**9 + len(out)).getrandbits(128))
            )
            out.append(orjson.dumps(event))
        if len(out) >= count:
            return out
    raise AssertionError("unreachable")


class Intake(Protocol):
    url: str
    key: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def stored_lines(self) -> list[bytes]: ...


def chaos(tmp_path: Path, intake: Intake, seed: int, count: int, steps: int) -> None:
    rnd = random.Random(seed)
    logdir = tmp_path / "log"
    logdir.mkdir()
    written = corpus(count, seed)
    assert len(set(audit_ids(written))) == count  # the check below needs unique IDs
    config = write_config(tmp_path, intake.url, intake.key, logdir)
    writer = RotatingWriter(logdir)
    agent = AgentProcess(config, tmp_path / "agent.log")
    agent.start()
    # files rotated away before the agent's very first start are not its to read: wait for it
    assert wait_for(lambda: b"agent started" in agent.log.read_bytes(), timeout=20)
    intake_down = False
    try:
        pos = 0
        per_step = -(-count // steps)
        for _ in range(steps):
            burst = written[pos : pos + per_step]
            pos += len(burst)
            cut = rnd.randrange(len(burst) + 1) if burst else 0
            writer.append(burst[:cut])
            action = rnd.random()
            if action < 0.15:
                writer.rename()
            elif action < 0.30:
                writer.rename_gzip_delete()
            elif action < 0.45:
                writer.copytruncate()
            writer.append(burst[cut:])
            event = rnd.random()
            if event < 0.12:
                agent.kill()
                wait_for(lambda: False, rnd.uniform(0.0, 0.5))
                agent.start()
            elif event < 0.20:
                if intake_down:
                    intake.start()
                else:
                    intake.stop()
                intake_down = not intake_down
            wait_for(lambda: False, rnd.uniform(0.05, 0.4))
        if intake_down:
            intake.start()
        expected = set(audit_ids(written))
        stored: list[bytes] = []

        def all_stored() -> bool:
            stored[:] = intake.stored_lines()
            return len(stored) >= count

        wait_for(all_stored, timeout=60, step=0.2)
        assert agent.terminate() == 0
    finally:
        agent.ensure_stopped()
    written_set = set(written)
    altered = [line[:120] for line in stored if line not in written_set]
    assert not altered, (
        f"{len(altered)} stored lines were never written (seed {seed}): {altered[:2]}"
    )
    ids = audit_ids(stored)
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} lines lost (seed {seed}), e.g. {sorted(missing)[:3]}"
    assert len(ids) == len(set(ids)) == count, "a line was stored twice or altered"
    assert writer.rotations > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_line_lost_or_doubled_under_rotation_kills_and_outages(
    tmp_path: Path, real_intake: RealIntake, seed: int
) -> None:
    chaos(tmp_path, real_intake, seed, count=20_000, steps=40)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(100, 105))
def test_soak(tmp_path: Path, real_intake: RealIntake, seed: int) -> None:
    chaos(tmp_path, real_intake, seed, count=200_000, steps=400)
