"""The `intake` fixture: a real HTTP intake on loopback.

The end-to-end tests only use `url`, `key`, `start()`, `stop()` and `stored_lines()`, so
running them against the real `kubetrail serve` is a matter of replacing this one fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.fake_intake import FakeIntake


@pytest.fixture
def intake() -> Iterator[FakeIntake]:
    server = FakeIntake()
    server.start()
    yield server
    server.stop()
