"""`kubetrail k8s manifests`: YAML that parses and carries what a control-plane DaemonSet needs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubetrail.agent import parse_config
from kubetrail.cli import cli


def render(*extra: str) -> dict[str, dict[str, Any]]:
    args = ["k8s", "manifests", "--intake-url", "https://kt.example:8443", "--intake-key", "S3CR3T"]
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 0, result.output
    return {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout)}


def test_the_objects_and_the_key_only_in_the_secret() -> None:
    docs = render()
    assert set(docs) == {"Namespace", "Secret", "ConfigMap", "DaemonSet"}
    assert docs["Secret"]["stringData"] == {"intake-key": "S3CR3T"}
    for kind in ("ConfigMap", "DaemonSet"):
        assert "S3CR3T" not in yaml.safe_dump(docs[kind])


def test_the_configmap_is_a_valid_agent_config(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render()
    raw = yaml.safe_load(docs["ConfigMap"]["data"]["agent.yaml"])
    env = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["env"][0]
    assert env["valueFrom"]["secretKeyRef"]["name"] == docs["Secret"]["metadata"]["name"]
    monkeypatch.setenv(env["name"], "S3CR3T")
    cfg = parse_config(raw)
    assert cfg.intake_url == "https://kt.example:8443"
    assert cfg.logfiles[0].filepath == "/var/log/kubernetes/apiserver/audit.log"
    assert cfg.logfiles[0].intakekey == "S3CR3T"


def test_the_daemonset_runs_on_control_plane_nodes_read_only_and_bounded() -> None:
    spec = render()["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {t["key"] for t in spec["tolerations"]} >= {"node-role.kubernetes.io/control-plane"}
    (container,) = spec["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["audit-logs"]["readOnly"] is True
    assert volumes["audit-logs"]["hostPath"]["path"] == "/var/log/kubernetes/apiserver"
    assert volumes["state"]["hostPath"]["path"] == "/var/lib/kubetrail-agent"
    assert mounts["state"]["mountPath"] == "/var/lib/kubetrail-agent"
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["args"] == ["agent", "--config", "/etc/kubetrail/agent.yaml"]


@pytest.mark.parametrize(
    ("extra", "user", "non_root"),
    [((), 0, False), (("--run-as-user", "10001", "--run-as-group", "2000"), 10001, True)],
)
def test_non_root_when_the_log_allows_it(extra: tuple[str, ...], user: int, non_root: bool) -> None:
    spec = render(*extra)["DaemonSet"]["spec"]["template"]["spec"]
    security = spec["containers"][0]["securityContext"]
    assert (security["runAsUser"], security["runAsNonRoot"]) == (user, non_root)


def test_a_bad_url_is_refused() -> None:
    result = CliRunner().invoke(
        cli, ["k8s", "manifests", "--intake-url", "kt:8080", "--intake-key", "k"]
    )
    assert result.exit_code == 2
    assert "--intake-url" in result.output
