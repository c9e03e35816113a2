"""`kubetrail k8s apiserver-flags`: the flags of each backend and the webhook's kubeconfig."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.k8s import SetupError, webhook_kubeconfig, webhook_url


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["k8s", "apiserver-flags", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def flags(output: str) -> list[str]:
    return [line.strip()[2:] for line in output.splitlines() if line.strip().startswith("- --")]


def test_log_backend() -> None:
    status, out, _ = run("--maxage", "30")
    assert status == 0
    assert flags(out) == [
        "--audit-policy-file=/etc/kubernetes/audit-policies/policy.yaml",
        "--audit-log-path=/var/log/kubernetes/apiserver/audit.log",
        "--audit-log-format=json",
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=10",
        "--audit-log-maxsize=100",
    ]
    assert "webhook" not in out


def test_webhook_backend_with_key_from_environment() -> None:
    key = "kt_4f9a1c0e7b2d"
    status, out, _ = run(
        "--webhook",
        "--intake-url",
        "https://intake.example:8443",
        env={"KUBETRAIL_INTAKE_KEY": key},
    )
    assert status == 0
    assert flags(out) == [
        "--audit-policy-file=/etc/kubernetes/audit-policies/policy.yaml",
        "--audit-webhook-config-file=/etc/kubernetes/audit-policies/webhook-kubeconfig.yaml",
        "--audit-webhook-mode=batch",
        "--audit-webhook-batch-max-size=400",
    ]
    config = yaml.safe_load(out.split("\n---\n", 1)[1])
    assert config["clusters"][0]["cluster"]["server"] == "https://intake.example:8443/webhook"
    assert config["users"][0]["user"]["token"] == key
    context = config["contexts"][0]
    assert config["current-context"] == context["name"]
    assert context["context"] == {
        "cluster": config["clusters"][0]["name"],
        "user": config["users"][0]["name"],
    }


def test_kubeconfig_written_private(tmp_path: Path) -> None:
    target = tmp_path / "webhook.yaml"
    status, out, _ = run(
        "--webhook",
        "--intake-url",
        "intake.example",
        "--intake-key",
        "k1",
        "--write-kubeconfig",
        str(target),
    )
    assert status == 0
    assert "k1" not in out  # the token went to the file only
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert yaml.safe_load(target.read_text())["users"][0]["user"]["token"] == "k1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook", "--intake-key", "k"], "--intake-url"),
        (["--webhook", "--intake-url", "https://i.example"], "KUBETRAIL_INTAKE_KEY"),
        (
            ["--webhook", "--intake-url", "ftp://i.example", "--intake-key", "k"],
            "not an http(s) URL",
        ),
        (["--maxsize", "0"], "max_size_mb must be at least 1"),
    ],
)
def test_bad_options_are_explained(args: list[str], message: str) -> None:
    status, _, err = run(*args, env={"KUBETRAIL_INTAKE_KEY": ""})
    assert status == 2
    assert message in err


@pytest.mark.parametrize(
    ("intake", "url"),
    [
        ("intake.example", "https://intake.example/webhook"),
        ("https://intake.example:8443/", "https://intake.example:8443/webhook"),
        ("http://10.0.0.5:8080/webhook", "http://10.0.0.5:8080/webhook"),
        ("https://example.com/kubetrail", "https://example.com/kubetrail/webhook"),
    ],
)
def test_webhook_url(intake: str, url: str) -> None:
    assert webhook_url(intake) == url


def test_a_key_with_whitespace_is_refused() -> None:
    with pytest.raises(SetupError, match="whitespace"):
        webhook_kubeconfig("intake.example", "two words")
