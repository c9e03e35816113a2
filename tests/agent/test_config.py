"""The agent's configuration: a good file loads, every bad key is named, the CLI exits 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubetrail.agent import ConfigError, load_config, parse_config
from kubetrail.cli import cli

GOOD: dict[str, Any] = {
    "intake_url": "http://127.0.0.1:8080/",
    "state_dir": "/var/lib/kubetrail-agent",
    "logfiles": [{"filepath": "/var/log/kubernetes/apiserver/audit.log", "intakekey": "KEY"}],
}


def test_the_issue_example_loads_with_safe_defaults(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    cfg = load_config(path)
    assert cfg.intake_url == "http://127.0.0.1:8080"
    assert cfg.logfiles[0].intakekey == "KEY"
    assert cfg.tls_verify is True
    assert cfg.read_from == "beginning"
    assert cfg.max_line_bytes == 250 * 1024
    assert "KEY" not in repr(cfg), "the intake key must not show up in logs or tracebacks"


def test_the_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KT_KEY", "from-env")
    raw = {**GOOD, "logfiles": [{"filepath": "/a.log", "intakekey_env": "KT_KEY"}]}
    assert parse_config(raw).logfiles[0].intakekey == "from-env"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"intake_url": None}, "intake_url: missing"),
        ({"intake_url": "ftp://x"}, "intake_url: 'ftp://x' is not an http"),
        ({"logfiles": []}, "logfiles: must be a non-empty list"),
        ({"logfiles": [{"filepath": "rel.log", "intakekey": "K"}]}, "logfiles[0].filepath"),
        ({"logfiles": [{"filepath": "/a.log"}]}, "logfiles[0].intakekey: missing"),
        ({"logfiles": [{"filepath": "/a", "intakekey_env": "NOPE_UNSET"}]}, "NOPE_UNSET is not"),
        ({"batch_max_lines": 0}, "batch_max_lines: 0 is out of range"),
        ({"batch_max_bytes": "1MB"}, "batch_max_bytes: must be a number"),
        ({"max_line_bytes": 300 * 1024}, "max_line_bytes: 307200 is out of range"),
        ({"read_from": "middle"}, "read_from: 'middle' is not one of beginning, end"),
        ({"tls_verify": "no"}, "tls_verify: must be true or false"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file: /nonexistent/ca.pem is not a readable"),
        ({"batch_size": 10}, "batch_size: unknown key"),
    ],
)
def test_each_problem_names_its_key(change: dict[str, Any], expected: str) -> None:
    raw = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"intake_url": "nope", "logfiles": "x", "poll_interval": -1})
    assert len(err.value.problems) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("intake_url: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("intake_url: http://x:1\nlogfiles: []\n", "logfiles: must be a non-empty list"),
    ],
)
def test_the_cli_exits_2_with_one_clear_message(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["agent", "--config", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert expected in result.stderr
