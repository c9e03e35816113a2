"""Kubernetes deployment of kubetrail: `manifests(...)` renders the agent's DaemonSet."""

from kubetrail.k8s.manifests import ManifestOptions, manifests, render

__all__ = ["ManifestOptions", "manifests", "render"]
