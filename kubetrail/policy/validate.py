"""Decode and validate a Policy document exactly as kube-apiserver does, collecting every problem.

Errors are what makes the apiserver refuse to start with `--audit-policy-file`:
- decoding (`pkg/audit/policy/reader.go`): apiVersion `audit.k8s.io/v1`, kind `Policy`, fields
  of the right type, at least one rule;
- `pkg/apis/audit/validation/validation.go`: every rule has a valid level; nonResourceURLs begin
  with `/` (or are `*`) and have `*` only as their last character; a rule does not mix
  nonResourceURLs with resources or namespaces; group names are DNS subdomains; resourceNames
  come with resources; omitStages are known stages.

Unknown fields are warnings: the apiserver's decoder drops them silently, which is exactly how a
misspelt `namespace:` widens a rule without anyone noticing.
"""

from __future__ import annotations

import re
from typing import Any, Final

from kubetrail.policy.checker import Policy
from kubetrail.policy.errors import Problem, Severity
from kubetrail.policy.model import LEVELS, STAGES, GroupResources, Level, Rule
from kubetrail.policy.yamlnodes import Located, Path, render

API_VERSION: Final = "audit.k8s.io/v1"
# served until Kubernetes 1.24; named so the message can say what to change
_RETIRED_VERSIONS: Final = ("audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")
_POLICY_FIELDS: Final = {
    "apiVersion",
    "kind",
    "metadata",
    "rules",
    "omitStages",
    "omitManagedFields",
}
_RULE_FIELDS: Final = {
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
}
_GROUP_FIELDS: Final = {"group", "resources", "resourceNames"}
# k8s.io/apimachinery validation.IsDNS1123Subdomain
_DNS_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN: Final = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_DNS_SUBDOMAIN_MAX: Final = 253


class _Collector:
    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, severity: Severity, path: Path, message: str) -> None:
        rule = path[1] if len(path) > 1 and path[0] == "rules" else None
        self.problems.append(
            Problem(
                severity,
                self.doc.line(path),
                render(path),
                message,
                rule if isinstance(rule, int) else None,
            )
        )

    def error(self, path: Path, message: str) -> None:
        self.add("error", path, message)

    def warn(self, path: Path, message: str) -> None:
        self.add("warning", path, message)

    def unknown_fields(self, value: dict[str, Any], known: set[str], path: Path) -> None:
        for key in value:
            if key not in known:
                self.warn(
                    (*path, key),
                    f"unknown field {key!r}: kube-apiserver ignores it "
                    f"(known: {', '.join(sorted(known))})",
                )

    def strings(self, value: object, path: Path) -> tuple[str, ...]:
        """A list of strings; null is an empty list, as in Go."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"must be a list of strings, not {_kind(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.error((*path, i), f"must be a string, not {_kind(item)} {item!r}")
        return tuple(out)

    def boolean(self, value: object, path: Path) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.error(path, f"must be true or false, not {_kind(value)} {value!r}")
        return None


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


def decode(doc: Located) -> tuple[Policy | None, list[Problem]]:
    """The policy in `doc` and every problem found; the policy is None when there are errors."""
    out = _Collector(doc)
    for path, _line in doc.duplicates:
        out.warn(path, "duplicate key: only the last value counts")
    value = doc.value
    if not isinstance(value, dict):
        out.error((), f"an audit Policy is a mapping, not {_kind(value)}")
        return None, out.problems
    _check_type_meta(value, out)
    out.unknown_fields(value, _POLICY_FIELDS, ())
    omit_stages = _omit_stages(value.get("omitStages"), ("omitStages",), out)
    omit_fields = out.boolean(value.get("omitManagedFields"), ("omitManagedFields",))
    metadata = value.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, dict) else ""
    rules: list[Rule] = []
    raw_rules = value.get("rules")
    if raw_rules is None or raw_rules == []:
        # reader.go: "loaded illegal policy with 0 rules"
        out.error(("rules",), "a policy needs at least one rule (kube-apiserver refuses it)")
    elif not isinstance(raw_rules, list):
        out.error(("rules",), f"must be a list of rules, not {_kind(raw_rules)}")
    else:
        for index, raw in enumerate(raw_rules):
            rule = _rule(raw, ("rules", index), out)
            if rule is not None:
                rules.append(rule)
    if any(p.severity == "error" for p in out.problems):
        return None, out.problems
    policy = Policy(
        tuple(rules),
        omit_stages=omit_stages,
        omit_managed_fields=bool(omit_fields),
        name=name if isinstance(name, str) else "",
    )
    return policy, out.problems


def _check_type_meta(value: dict[str, Any], out: _Collector) -> None:
    version = value.get("apiVersion")
    if version is None:
        out.error(("apiVersion",), f"missing: an audit policy has apiVersion: {API_VERSION}")
    elif version in _RETIRED_VERSIONS:
        out.error(
            ("apiVersion",),
            f"{version} is no longer served (removed in Kubernetes 1.24): use {API_VERSION}",
        )
    elif version != API_VERSION:
        out.error(("apiVersion",), f"{version!r} is not an audit policy version: use {API_VERSION}")
    kind = value.get("kind")
    if kind is None:
        out.error(("kind",), "missing: an audit policy has kind: Policy")
    elif kind != "Policy":
        out.error(("kind",), f"{kind!r} is not an audit policy: kind must be Policy")


def _omit_stages(value: object, path: Path, out: _Collector) -> frozenset[str]:
    stages = out.strings(value, path)
    for i, stage in enumerate(stages):
        if stage not in STAGES:
            out.error(
                (*path, i), f"{stage!r} is not a stage: allowed stages are {','.join(STAGES)}"
            )
    return frozenset(s for s in stages if s in STAGES)


def _rule(raw: object, path: Path, out: _Collector) -> Rule | None:
    if not isinstance(raw, dict):
        out.error(path, f"a rule is a mapping, not {_kind(raw)}")
        return None
    out.unknown_fields(raw, _RULE_FIELDS, path)
    level = raw.get("level")
    if level is None or level == "":
        out.error((*path, "level"), f"required: one of {', '.join(LEVELS)}")
    elif level not in LEVELS:
        out.error((*path, "level"), f"unsupported value {level!r}: one of {', '.join(LEVELS)}")
    urls = out.strings(raw.get("nonResourceURLs"), (*path, "nonResourceURLs"))
    for i, url in enumerate(urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            out.error(
                (*path, "nonResourceURLs", i),
                f"{url!r}: non-resource URL rules must begin with a '/' character",
            )
        if url and "*" in url[:-1]:
            out.error(
                (*path, "nonResourceURLs", i),
                f"{url!r}: non-resource URL wildcards '*' must be the final character of the rule",
            )
    groups = _resources(raw.get("resources"), (*path, "resources"), out)
    namespaces = out.strings(raw.get("namespaces"), (*path, "namespaces"))
    if urls and (groups or namespaces):
        out.error(
            (*path, "nonResourceURLs"),
            "rules cannot apply to both regular resources and non-resource URLs "
            "(split it into two rules)",
        )
    omit_stages = _omit_stages(raw.get("omitStages"), (*path, "omitStages"), out)
    omit_fields = out.boolean(raw.get("omitManagedFields"), (*path, "omitManagedFields"))
    if level not in LEVELS:
        return None
    return Rule(
        level=Level(level),
        users=out.strings(raw.get("users"), (*path, "users")),
        user_groups=out.strings(raw.get("userGroups"), (*path, "userGroups")),
        verbs=out.strings(raw.get("verbs"), (*path, "verbs")),
        resources=groups,
        namespaces=namespaces,
        non_resource_urls=urls,
        omit_stages=omit_stages,
        omit_managed_fields=omit_fields,
        line=out.doc.line(path),
    )


def _resources(value: object, path: Path, out: _Collector) -> tuple[GroupResources, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        out.error(path, f"must be a list of {{group, resources}} entries, not {_kind(value)}")
        return ()
    groups = []
    for i, raw in enumerate(value):
        where = (*path, i)
        if not isinstance(raw, dict):
            out.error(where, f"must be a mapping with group and resources, not {_kind(raw)}")
            continue
        out.unknown_fields(raw, _GROUP_FIELDS, where)
        group = raw.get("group", "")
        if group is None:
            group = ""
        if not isinstance(group, str):
            out.error((*where, "group"), f"must be a string, not {_kind(group)} {group!r}")
            continue
        if group and not _is_dns_subdomain(group):
            out.error(
                (*where, "group"),
                f"{group!r} is not a valid group name: a lowercase DNS subdomain without a "
                "version (rbac.authorization.k8s.io, not rbac.authorization.k8s.io/v1); "
                'the core group is ""',
            )
        resources = out.strings(raw.get("resources"), (*where, "resources"))
        names = out.strings(raw.get("resourceNames"), (*where, "resourceNames"))
        if names and not resources:
            out.error(
                (*where, "resourceNames"), "using resourceNames requires at least one resource"
            )
        groups.append(GroupResources(group, resources, names))
    return tuple(groups)


def _is_dns_subdomain(name: str) -> bool:
    return len(name) <= _DNS_SUBDOMAIN_MAX and _DNS_SUBDOMAIN.fullmatch(name) is not None
