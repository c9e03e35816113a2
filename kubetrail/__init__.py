"""kubetrail: Kubernetes audit logs from the apiserver to the analyst."""

__version__ = "0.1.0"
