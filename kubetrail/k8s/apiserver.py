"""The kube-apiserver audit flags and the webhook backend's kubeconfig.

Log backend: the apiserver writes JSON lines to a file it rotates itself (lumberjack), which the
kubetrail agent tails. Webhook backend: the apiserver posts `EventList` batches to the intake's
`/webhook`, authenticating with the intake key as a bearer token; the kubeconfig says where and
with what.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

POLICY_PATH: Final = "/etc/kubernetes/audit-policies/policy.yaml"
LOG_PATH: Final = "/var/log/kubernetes/apiserver/audit.log"
WEBHOOK_CONFIG_PATH: Final = "/etc/kubernetes/audit-policies/webhook-kubeconfig.yaml"


class SetupError(ValueError):
    """An option cannot make a working apiserver configuration; the message says which."""


def apiserver_flags(
    *,
    webhook: bool = False,
    policy_path: str = POLICY_PATH,
    log_path: str = LOG_PATH,
    max_age_days: int = 7,
    max_backup: int = 10,
    max_size_mb: int = 100,
    webhook_config_path: str = WEBHOOK_CONFIG_PATH,
    batch_max_size: int = 400,
) -> list[str]:
    """The flags for one backend, policy first (without it the apiserver audits nothing)."""
    for name, value in (
        ("max_age_days", max_age_days),
        ("max_backup", max_backup),
        ("max_size_mb", max_size_mb),
        ("batch_max_size", batch_max_size),
    ):
        if value < 1:
            raise SetupError(f"{name} must be at least 1, not {value}")
    flags = [f"--audit-policy-file={policy_path}"]
    if webhook:
        return [
            *flags,
            f"--audit-webhook-config-file={webhook_config_path}",
            "--audit-webhook-mode=batch",
            f"--audit-webhook-batch-max-size={batch_max_size}",
        ]
    return [
        *flags,
        f"--audit-log-path={log_path}",
        "--audit-log-format=json",
        f"--audit-log-maxage={max_age_days}",
        f"--audit-log-maxbackup={max_backup}",
        f"--audit-log-maxsize={max_size_mb}",
    ]


def webhook_url(intake: str) -> str:
    """The intake's `/webhook` endpoint; `intake` is a base URL or a host[:port] (https then)."""
    text = intake.strip()
    if not text:
        raise SetupError("the intake URL is empty")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise SetupError(f"{intake!r} is not an http(s) URL of the intake")
    path = parts.path.rstrip("/")
    if not path.endswith("/webhook"):
        path += "/webhook"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def webhook_kubeconfig(intake: str, key: str) -> dict[str, Any]:
    """The kubeconfig `--audit-webhook-config-file` points at: server and bearer token."""
    if not key:
        raise SetupError("the intake key is empty: pass --intake-key or set KUBETRAIL_INTAKE_KEY")
    if any(c.isspace() for c in key):
        raise SetupError("the intake key contains whitespace: it would not survive as a token")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubetrail", "cluster": {"server": webhook_url(intake)}}],
        "users": [{"name": "kube-apiserver", "user": {"token": key}}],
        "contexts": [
            {"name": "kubetrail", "context": {"cluster": "kubetrail", "user": "kube-apiserver"}}
        ],
        "current-context": "kubetrail",
    }
