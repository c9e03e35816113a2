"""The `intake` fixture: a real HTTP intake on loopback.

The end-to-end tests use only `url`, `key`, `start()`, `stop()` and `stored_lines()`, and run
against the real `kubetrail serve` (`real_intake`); the fake (`intake`) can be told to fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.fake_intake import FakeIntake
from tests.agent.real_intake import RealIntake


@pytest.fixture
def intake() -> Iterator[FakeIntake]:
    """A fake intake that can be told to fail: for the agent's retry and rotation tests."""
    server = FakeIntake()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def real_intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealIntake]:
    """`kubetrail serve` itself: for the end-to-end no-loss tests."""
    server = RealIntake(tmp_path_factory.mktemp("serve"))
    server.start()
    yield server
    server.stop()
