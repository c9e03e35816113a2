"""The agent's Kubernetes manifests: a DaemonSet on control-plane nodes, its ConfigMap and the
Secret holding the intake key.

The apiserver's audit log is usually root-owned with mode 0600, so by default the container
runs as uid 0 but with every capability dropped, no privilege escalation and a read-only root
file system: root as the file's owner can read it without CAP_DAC_OVERRIDE. When the log is
group-readable, `run_as_user`/`run_as_group` make it run as non-root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml

NAME: Final = "kubetrail-agent"
CONFIG_PATH: Final = "/etc/kubetrail/agent.yaml"
STATE_DIR: Final = "/var/lib/kubetrail-agent"
KEY_ENV: Final = "KUBETRAIL_INTAKE_KEY"
METRICS_PORT: Final = 9464


@dataclass(frozen=True)
class ManifestOptions:
    intake_url: str
    intake_key: str
    namespace: str = "kubetrail"
    image: str = "ghcr.io/kubetrail/kubetrail:0.1.0"
    audit_log_dir: str = "/var/log/kubernetes/apiserver"
    audit_log_file: str = "audit.log"
    ca_file: str | None = None  # a path inside the container, e.g. from a mounted ConfigMap
    run_as_user: int = 0
    run_as_group: int = 0


def manifests(opts: ManifestOptions) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "kubetrail"}
    meta = {"namespace": opts.namespace, "labels": labels}
    agent_config: dict[str, Any] = {
        "intake_url": opts.intake_url,
        "state_dir": STATE_DIR,
        "logfiles": [
            {"filepath": f"{opts.audit_log_dir}/{opts.audit_log_file}", "intakekey_env": KEY_ENV}
        ],
        "log_format": "json",
        "metrics_port": METRICS_PORT,
    }
    if opts.ca_file:
        agent_config["ca_file"] = opts.ca_file
    non_root = opts.run_as_user != 0
    container = {
        "name": "agent",
        "image": opts.image,
        "args": ["agent", "--config", CONFIG_PATH],
        "env": [
            {
                "name": KEY_ENV,
                "valueFrom": {"secretKeyRef": {"name": f"{NAME}-intake", "key": "intake-key"}},
            }
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "128Mi"},
        },
        "securityContext": {
            "runAsUser": opts.run_as_user,
            "runAsGroup": opts.run_as_group,
            "runAsNonRoot": non_root,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "audit-logs", "mountPath": opts.audit_log_dir, "readOnly": True},
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "config", "mountPath": "/etc/kubetrail", "readOnly": True},
        ],
    }
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NAME, **meta},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                    },
                },
                "spec": {
                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                    "tolerations": [
                        {
                            "key": "node-role.kubernetes.io/control-plane",
                            "operator": "Exists",
                            "effect": "NoSchedule",
                        },
                        {
                            "key": "node-role.kubernetes.io/master",
                            "operator": "Exists",
                            "effect": "NoSchedule",
                        },
                    ],
                    "priorityClassName": "system-node-critical",
                    # SIGTERM flushes and checkpoints; give it time to reach the intake
                    "terminationGracePeriodSeconds": 30,
                    "automountServiceAccountToken": False,
                    "securityContext": {"fsGroup": opts.run_as_group} if non_root else {},
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "audit-logs",
                            "hostPath": {"path": opts.audit_log_dir, "type": "Directory"},
                        },
                        {
                            "name": "state",
                            "hostPath": {"path": STATE_DIR, "type": "DirectoryOrCreate"},
                        },
                        {"name": "config", "configMap": {"name": f"{NAME}-config"}},
                    ],
                },
            },
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": opts.namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NAME}-intake", **meta},
            "type": "Opaque",
            "stringData": {"intake-key": opts.intake_key},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{NAME}-config", **meta},
            "data": {"agent.yaml": yaml.safe_dump(agent_config, sort_keys=False)},
        },
        daemonset,
    ]


def render(opts: ManifestOptions) -> str:
    return yaml.safe_dump_all(manifests(opts), sort_keys=False)
