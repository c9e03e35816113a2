"""Kubernetes audit policies: validate, evaluate and apply them as kube-apiserver does.

The API the agent uses to reduce events before shipping them:

    policy = load_policy("policy.yaml")       # Policy; raises PolicyError (every problem in
                                               # .problems) or OSError
    policy.level_for(event) -> Level           # the first matching rule's level, else Level.NONE
    policy.config_for(event) -> AuditConfig    # level, omitted stages, omitManagedFields, rule
    apply_policy(policy, event) -> dict | None # the event as the apiserver would have written
                                               # it, or None (level None or stage omitted)

`event` is a raw `audit.k8s.io/v1` Event as a dict; it is never modified. A policy cannot add
what a captured event lacks: asking for RequestResponse of a Metadata event keeps it Metadata.
A loaded Policy is immutable and can be shared between threads.

Also: `lint_text`/`lint_file` (every error and warning, with line and rule index),
`load_policy_text`, `simulate` (per-rule counts and bytes over a log), `profile_text(name)`
(the recommended policies) and `coverage` (which detections a policy leaves blind).
"""

from kubetrail.policy.apply import apply_config, apply_policy, without_managed_fields
from kubetrail.policy.checker import Policy
from kubetrail.policy.errors import PolicyError, Problem
from kubetrail.policy.load import Linted, lint_file, lint_text, load_policy, load_policy_text
from kubetrail.policy.match import Attributes, path_matches, rule_matches
from kubetrail.policy.model import AuditConfig, GroupResources, Level, Rule

__all__ = [
    "Attributes",
    "AuditConfig",
    "GroupResources",
    "Level",
    "Linted",
    "Policy",
    "PolicyError",
    "Problem",
    "Rule",
    "apply_config",
    "apply_policy",
    "lint_file",
    "lint_text",
    "load_policy",
    "load_policy_text",
    "path_matches",
    "rule_matches",
    "without_managed_fields",
]
