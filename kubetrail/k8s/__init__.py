"""Kubernetes-side setup: how kube-apiserver sends kubetrail its audit log, and the agent.

apiserver_flags(...) -> list[str]      the kube-apiserver flags, log or webhook backend
webhook_kubeconfig(url, key) -> dict   the kubeconfig of the webhook backend
render(ManifestOptions(...)) -> str    the agent's DaemonSet, ConfigMap and Secret
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
from kubetrail.k8s.manifests import ManifestOptions, manifests, render

__all__ = [
    "LOG_PATH",
    "POLICY_PATH",
    "WEBHOOK_CONFIG_PATH",
    "ManifestOptions",
    "SetupError",
    "apiserver_flags",
    "manifests",
    "render",
    "webhook_kubeconfig",
    "webhook_url",
]
