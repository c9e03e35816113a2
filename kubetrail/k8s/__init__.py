"""Kubernetes-side setup: what to give kube-apiserver so that it sends kubetrail its audit log.

apiserver_flags(...) -> list[str]      the kube-apiserver flags, log or webhook backend
webhook_kubeconfig(url, key) -> dict   the kubeconfig of the webhook backend
"""

from kubetrail.k8s.apiserver import (
    LOG_PATH,
    POLICY_PATH,
    WEBHOOK_CONFIG_PATH,
    SetupError,
    apiserver_flags,
    webhook_kubeconfig,
    webhook_url,
)

__all__ = [
    "LOG_PATH",
    "POLICY_PATH",
    "WEBHOOK_CONFIG_PATH",
    "SetupError",
    "apiserver_flags",
    "webhook_kubeconfig",
    "webhook_url",
]
