"""The agent's optional `policy:`: events reduced as the apiserver's policy would have written
them, before shipping (for clusters whose apiserver policy cannot be changed)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kubetrail.agent import ConfigError, load_config
from kubetrail.demo.generate import generate
from tests.agent.fake_intake import FakeIntake
from tests.agent.harness import wait_for, write_config
from tests.agent.test_agent import running

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
"""


def test_the_policy_drops_and_trims_before_shipping(tmp_path: Path, intake: FakeIntake) -> None:
    events = list(generate(minutes=3, seed=4))
    logdir = tmp_path / "log"
    logdir.mkdir()
    lines = [orjson.dumps(e) for e in events] + [b"not an audit event"]
    (logdir / "audit.log").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "policy.yaml").write_text(POLICY)
    config = write_config(
        tmp_path, intake.url, intake.key, logdir, policy=str(tmp_path / "policy.yaml")
    )
    leases = sum((e.get("objectRef") or {}).get("resource") == "leases" for e in events)
    assert 0 < leases < len(events)
    with running(config) as agent:
        assert wait_for(lambda: len(intake.stored_lines()) == len(events) - leases + 1, 15)
        assert agent.metrics.get("dropped_by_policy") == leases
    stored = intake.stored_lines()
    assert b"not an audit event" in stored  # never dropped for failing to parse
    docs = [orjson.loads(line) for line in stored if line.startswith(b"{")]
    assert not [d for d in docs if d.get("objectRef", {}).get("resource") == "leases"]
    assert not [d for d in docs if "requestObject" in d or "responseObject" in d]
    assert all(d["level"] == "Metadata" for d in docs)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("kind: Policy\napiVersion: audit.k8s.io/v1\nrules: []\n", "not a valid audit policy"),
        (None, "cannot read"),
    ],
)
def test_a_bad_policy_is_a_config_error(tmp_path: Path, policy: str | None, message: str) -> None:
    path = tmp_path / "policy.yaml"
    if policy is not None:
        path.write_text(policy)
    logdir = tmp_path / "log"
    logdir.mkdir()
    config = write_config(tmp_path, "http://127.0.0.1:1", "k", logdir, policy=str(path))
    with pytest.raises(ConfigError, match=message):
        load_config(config)
