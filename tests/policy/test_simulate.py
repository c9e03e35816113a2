"""`simulate` on a generated cluster log, against counts worked out here by plain inspection."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.demo.generate import generate
from kubetrail.policy import load_policy
from kubetrail.policy.simulate import raw_events, simulate

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {
            "level": "Request",
            "verbs": ["create", "update", "patch"],
            "resources": [{"group": "", "resources": ["pods"]}],
        },
        {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*"]},
        {"level": "Metadata", "omitStages": ["ResponseStarted"]},
    ],
}


def expected_rule(ev: dict[str, Any]) -> int:
    """Which rule of POLICY takes `ev`, decided by looking at it."""
    ref = ev.get("objectRef")
    if ref is not None:
        group, resource, sub = ref.get("apiGroup", ""), ref["resource"], ref.get("subresource")
        if (group, resource, sub) == ("coordination.k8s.io", "leases", None):
            return 0
        if (group, resource, sub) == ("", "secrets", None):
            return 1
        if (group, resource, sub) == ("", "pods", None) and ev["verb"] in ("create", "patch"):
            return 2
        if (group, resource, sub) == ("", "pods", None) and ev["verb"] == "update":
            return 2
    elif ev["requestURI"].startswith(("/healthz", "/livez", "/readyz")):
        return 3
    return 4


def kept(rule: int, ev: dict[str, Any]) -> bool:
    omitted = {"RequestReceived"} | ({"ResponseStarted"} if rule == 4 else set())
    return rule not in (0, 3) and ev["stage"] not in omitted


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Ten minutes of a cluster, with a RequestReceived event before every third request."""
    events: list[dict[str, Any]] = []
    for i, ev in enumerate(generate(10, seed=7)):
        if i % 3 == 0 and ev["stage"] == "ResponseComplete":
            received = {
                k: v for k, v in ev.items() if k not in ("responseStatus", "responseObject")
            }
            events.append({**received, "stage": "RequestReceived"})
        events.append(ev)
    path = tmp_path_factory.mktemp("sim") / "audit.log.gz"
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in events)))
    return path, events


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    return path


def test_counts_per_rule(captured: tuple[Path, list[dict[str, Any]]], policy_file: Path) -> None:
    path, events = captured
    result = simulate(load_policy(policy_file), raw_events([str(path)]))
    rules = [expected_rule(ev) for ev in events]
    matched = Counter(rules)
    kept_counts = Counter(r for r, ev in zip(rules, events, strict=True) if kept(r, ev))
    sizes = Counter()  # type: Counter[int]
    for r, ev in zip(rules, events, strict=True):
        sizes[r] += len(orjson.dumps(ev)) + 1
    # the log really exercises every rule and both kinds of drop
    assert all(matched[r] > 0 for r in range(5))
    assert sum(ev["stage"] == "RequestReceived" for ev in events) > 100
    for index in range(5):
        row = result.rules[index]
        assert row.events == matched[index], index
        assert row.bytes == sizes[index], index
        assert row.kept_events == kept_counts[index], index
        assert row.dropped_events == matched[index] - kept_counts[index]
    assert None not in result.rules  # the last rule catches everything
    assert result.events == len(events)
    # dropped for their stage only where the level alone would have kept them
    assert result.rules[0].stage_omitted == 0
    assert result.rules[4].stage_omitted == sum(
        1 for r, ev in zip(rules, events, strict=True) if r == 4 and not kept(r, ev)
    )
    assert result.rules[4].omit_stages == {"RequestReceived", "ResponseStarted"}
    assert 590 <= result.span_seconds <= 600


def test_written_log_is_what_the_policy_keeps(
    captured: tuple[Path, list[dict[str, Any]]], policy_file: Path, tmp_path: Path
) -> None:
    path, events = captured
    out = tmp_path / "reduced.log.gz"
    result = CliRunner().invoke(
        cli, ["policy", "simulate", "--policy", str(policy_file), "--write", str(out), str(path)]
    )
    assert result.exit_code == 0, result.output
    written = gzip.decompress(out.read_bytes())
    reduced = [orjson.loads(line) for line in written.splitlines()]
    expected = [ev for ev in events if kept(expected_rule(ev), ev)]
    assert [e["auditID"] + e["stage"] for e in reduced] == [
        e["auditID"] + e["stage"] for e in expected
    ]
    for before, after in zip(expected, reduced, strict=True):
        rule = expected_rule(before)
        if rule == 2:  # Request: the pod spec stays, the response goes
            assert after.get("requestObject") == before.get("requestObject")
            assert "responseObject" not in after
        else:
            assert "requestObject" not in after
            assert "responseObject" not in after
    # the report's kept bytes are the size of what was written
    simulated = simulate(load_policy(policy_file), raw_events([str(path)]))
    assert simulated.kept_bytes == len(written)
    total = next(line for line in result.stdout.splitlines() if "total" in line)
    assert str(simulated.kept_events) in total
    assert "/day under this policy" in result.stdout


def test_lines_that_are_not_events_are_reported_and_kept(policy_file: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    good = orjson.dumps(next(iter(generate(1, seed=1))))
    log.write_bytes(good + b"\n{broken\n" + good + b"\n")
    out = tmp_path / "out.log"
    result = CliRunner().invoke(
        cli, ["policy", "simulate", "--policy", str(policy_file), "--write", str(out), str(log)]
    )
    assert result.exit_code == 0
    assert f"{log}:2: not JSON" in result.stderr
    assert b"{broken\n" in out.read_bytes()


def test_an_invalid_policy_is_refused_before_reading_logs(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")
    log = tmp_path / "audit.log"
    log.write_text("")
    result = CliRunner().invoke(cli, ["policy", "simulate", "--policy", str(bad), str(log)])
    assert result.exit_code == 1
    assert "at least one rule" in result.stderr
