"""The API group and scope of the built-in Kubernetes resources.

Detection rules name a resource (`objectRef.resource: clusterrolebindings`) but rarely its group,
while policy rules match group and resource together; this table bridges the two when coverage
builds a representative request.
"""

from __future__ import annotations

from typing import Final

# resource -> (API group, namespaced)
BUILTIN: Final[dict[str, tuple[str, bool]]] = {
    "pods": ("", True),
    "services": ("", True),
    "endpoints": ("", True),
    "secrets": ("", True),
    "configmaps": ("", True),
    "serviceaccounts": ("", True),
    "persistentvolumeclaims": ("", True),
    "events": ("", True),
    "limitranges": ("", True),
    "resourcequotas": ("", True),
    "replicationcontrollers": ("", True),
    "podtemplates": ("", True),
    "namespaces": ("", False),
    "nodes": ("", False),
    "persistentvolumes": ("", False),
    "componentstatuses": ("", False),
    "deployments": ("apps", True),
    "daemonsets": ("apps", True),
    "statefulsets": ("apps", True),
    "replicasets": ("apps", True),
    "controllerrevisions": ("apps", True),
    "jobs": ("batch", True),
    "cronjobs": ("batch", True),
    "roles": ("rbac.authorization.k8s.io", True),
    "rolebindings": ("rbac.authorization.k8s.io", True),
    "clusterroles": ("rbac.authorization.k8s.io", False),
    "clusterrolebindings": ("rbac.authorization.k8s.io", False),
    "networkpolicies": ("networking.k8s.io", True),
    "ingresses": ("networking.k8s.io", True),
    "ingressclasses": ("networking.k8s.io", False),
    "leases": ("coordination.k8s.io", True),
    "tokenreviews": ("authentication.k8s.io", False),
    "selfsubjectreviews": ("authentication.k8s.io", False),
    "subjectaccessreviews": ("authorization.k8s.io", False),
    "selfsubjectaccessreviews": ("authorization.k8s.io", False),
    "selfsubjectrulesreviews": ("authorization.k8s.io", False),
    "localsubjectaccessreviews": ("authorization.k8s.io", True),
    "certificatesigningrequests": ("certificates.k8s.io", False),
    "mutatingwebhookconfigurations": ("admissionregistration.k8s.io", False),
    "validatingwebhookconfigurations": ("admissionregistration.k8s.io", False),
    "validatingadmissionpolicies": ("admissionregistration.k8s.io", False),
    "validatingadmissionpolicybindings": ("admissionregistration.k8s.io", False),
    "customresourcedefinitions": ("apiextensions.k8s.io", False),
    "apiservices": ("apiregistration.k8s.io", False),
    "storageclasses": ("storage.k8s.io", False),
    "csidrivers": ("storage.k8s.io", False),
    "priorityclasses": ("scheduling.k8s.io", False),
    "runtimeclasses": ("node.k8s.io", False),
    "poddisruptionbudgets": ("policy", True),
    "horizontalpodautoscalers": ("autoscaling", True),
    "endpointslices": ("discovery.k8s.io", True),
}


def group_of(resource: str) -> str:
    """The API group of a built-in resource; `""` (core) for one this table does not know."""
    return BUILTIN.get(resource, ("", True))[0]


def is_namespaced(resource: str) -> bool:
    return BUILTIN.get(resource, ("", True))[1]
