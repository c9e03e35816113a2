"""Which detections a policy leaves blind (their events are not recorded) or half-blind (recorded
without the request or response bodies they read).

A detection's events are derived from its Sigma rule: the plain equality values of its positive
selections (those not named `filter*` and not negated in the condition) on the fields a policy
can select on: verb, resource, subresource, namespace, API group, username, groups and, for
non-resource requests, the URI. One representative request is built per combination and the
policy is asked about it, exactly as the apiserver would be. A field the rule leaves open takes
an ordinary value (the `default` namespace, a plain authenticated user, `get` and `create`, or
`create`/`update`/`patch` when the rule reads a request body, since only writes have one).

- blind: none of its representative requests is recorded at a stage it can see;
- half-blind: some are not recorded, or they are recorded below the level of the bodies it reads
  (`requestObject`, or `kubetrail.requires_body`: Request; `responseObject`: RequestResponse).
  Alternatives of one selection (a list) are an OR: a rule that looks at the request body or
  the response body needs only Request.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from kubetrail.policy.checker import Policy
from kubetrail.policy.match import Attributes
from kubetrail.policy.model import Level
from kubetrail.policy.resources import group_of, is_namespaced

Status = Literal["covered", "half-blind", "blind"]

# ECS spellings a rule may use, mapped to the raw paths the policy acts on
_ALIASES: Final = {
    "event.action": "verb",
    "kubernetes.resource": "objectRef.resource",
    "kubernetes.subresource": "objectRef.subresource",
    "kubernetes.namespace": "objectRef.namespace",
    "kubernetes.api.group": "objectRef.apiGroup",
    "kubernetes.object.name": "objectRef.name",
    "user.name": "user.username",
    "user.roles": "user.groups",
    "url.path": "requestURI",
    "kubernetes.spec": "requestObject.spec",
    "kubernetes.role.name": "requestObject.roleRef.name",
    "http.response.status_code": "responseStatus.code",
    "event.outcome": "annotations",
}
_DIMENSIONS: Final = (
    "verb",
    "objectRef.resource",
    "objectRef.subresource",
    "objectRef.namespace",
    "objectRef.apiGroup",
    "objectRef.name",
    "user.username",
    "user.groups",
    "requestURI",
)
# fields written only once the response is known: not in the RequestReceived stage
_AFTER_RESPONSE: Final = ("responseStatus", "responseObject", "annotations", "stageTimestamp")
_MAX_COMBINATIONS: Final = 256
_NEGATED: Final = re.compile(r"\bnot\s+(?:1\s+of\s+|all\s+of\s+)?([A-Za-z0-9_*]+)")
_NEGATED_GROUP: Final = re.compile(r"\bnot\s*\(([^()]*)\)")
_NAME: Final = re.compile(r"[A-Za-z0-9_*]+")
_OPERATORS: Final = frozenset({"and", "or", "not", "of", "1", "all", "them"})
_PLACEHOLDER_RESOURCE: Final = "kubetrail-any-resource"


class RulesError(ValueError):
    """A detection rule file cannot be read; `path` says which."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class Detection:
    title: str
    path: Path
    fields: frozenset[str]  # raw paths, ECS spellings translated
    values: dict[str, tuple[str, ...]]  # dimension -> the values its positive selections accept
    requires_body: bool
    needs: Level = Level.METADATA  # the level below which it misses what it reads
    needs_response: bool = False  # it reads what only the ResponseComplete stage carries


@dataclass(slots=True)
class Verdict:
    detection: Detection
    status: Status = "covered"
    reasons: list[str] = field(default_factory=list)


def load_detections(root: Path) -> tuple[list[Detection], list[RulesError]]:
    """The detections of every rule file under `root` (`*.yml`, not `*.tests.yml`), and the
    files that could not be read (each skipped, the others still loaded)."""
    detections: list[Detection] = []
    errors: list[RulesError] = []
    for path in sorted(root.rglob("*.yml")):
        if path.name.endswith(".tests.yml"):
            continue
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            errors.append(RulesError(path, f"not a YAML rule file: {exc}"))
            continue
        for doc in documents:
            if isinstance(doc, dict) and isinstance(doc.get("detection"), dict):
                detections.append(_detection(path, doc))
    return detections, errors


def _detection(path: Path, doc: dict[str, Any]) -> Detection:
    detection: dict[str, Any] = doc["detection"]
    condition = detection.get("condition", "")
    condition_text = " ".join(condition) if isinstance(condition, list) else str(condition)
    negated = _NEGATED.findall(condition_text)
    for group in _NEGATED_GROUP.findall(condition_text):
        negated.extend(n for n in _NAME.findall(group) if n not in _OPERATORS)
    fields: set[str] = set()
    values: dict[str, set[str]] = {}
    needs: list[_Need] = []
    for name, selection in detection.items():
        if name == "condition":
            continue
        positive = not name.startswith("filter") and not any(
            _glob_match(pattern, name) for pattern in negated
        )
        alternatives: list[_Need] = []
        for alternative in _alternatives(selection):
            read: list[_Need] = []
            for key, value in alternative.items():
                field_name, *modifiers = str(key).split("|")
                raw = _raw(field_name)
                fields.add(raw)
                read.append(_need_of(raw))
                if positive and raw in _DIMENSIONS and not modifiers:
                    values.setdefault(raw, set()).update(_strings(value))
            alternatives.append(_all_of(read))
        if positive and alternatives:
            # a list of alternatives is an OR: the cheapest one to see is enough
            needs.append(min(alternatives))
    extension = doc.get("kubetrail")
    requires_body = isinstance(extension, dict) and extension.get("requires_body") is True
    level_rank, response = _all_of(needs)
    level = max(Level.REQUEST if requires_body else Level.METADATA, _BY_RANK[level_rank])
    return Detection(
        title=str(doc.get("title") or path.stem),
        path=path,
        fields=frozenset(fields),
        values={k: tuple(sorted(v)) for k, v in values.items() if v},
        requires_body=requires_body,
        needs=level,
        needs_response=bool(response),
    )


# (level rank, reads after the response): what seeing one field takes; tuples order by level
_Need = tuple[int, int]
_BY_RANK: Final = {level.rank: level for level in Level}


def _need_of(raw: str) -> _Need:
    if raw.startswith("responseObject"):
        return (Level.REQUEST_RESPONSE.rank, 1)
    if raw.startswith("requestObject"):
        return (Level.REQUEST.rank, 0)
    return (Level.METADATA.rank, int(raw.startswith(_AFTER_RESPONSE)))


def _all_of(needs: Iterable[_Need]) -> _Need:
    """What seeing every one of `needs` takes (the fields of one selection are ANDed)."""
    items = list(needs)
    if not items:
        return (Level.METADATA.rank, 0)
    return (max(n[0] for n in items), max(n[1] for n in items))


def _glob_match(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def _alternatives(selection: object) -> Iterator[dict[str, Any]]:
    if isinstance(selection, dict):
        yield selection
    elif isinstance(selection, list):
        yield from (item for item in selection if isinstance(item, dict))


def _raw(name: str) -> str:
    for alias, raw in _ALIASES.items():
        if name == alias or name.startswith(alias + "."):
            return raw + name[len(alias) :]
    return name


def _strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, str | int) and not isinstance(v, bool)]


def representatives(detection: Detection) -> Iterator[tuple[str, Attributes]]:
    """(description, request) for each combination of the values the detection selects."""
    values = detection.values
    resources: tuple[str, ...] = values.get("objectRef.resource", ())
    uris = tuple(u for u in values.get("requestURI", ()) if not u.startswith(("/api/", "/apis/")))
    non_resource = not resources and bool(uris)
    if "verb" in values:
        verbs = values["verb"]
    elif detection.needs > Level.METADATA:
        verbs = ("create", "update", "patch")
    else:
        verbs = ("get", "create")
    users = values.get("user.username", ("kubetrail-representative-user",))
    groups = values.get("user.groups", ())
    if non_resource:
        for verb, user, uri in itertools.islice(
            itertools.product(verbs, users, uris), _MAX_COMBINATIONS
        ):
            attrs = Attributes(user, _groups(user, groups), verb, resource_request=False, path=uri)
            yield f"verb={verb} user={user} path={uri}", attrs
        return
    combos = itertools.product(
        verbs,
        users,
        resources or (_PLACEHOLDER_RESOURCE,),
        values.get("objectRef.subresource", ("",)),
        values.get("objectRef.namespace", (None,)),
    )
    for verb, user, resource, subresource, namespace in itertools.islice(combos, _MAX_COMBINATIONS):
        ns = namespace if namespace is not None else ("default" if is_namespaced(resource) else "")
        group = values.get("objectRef.apiGroup", (group_of(resource),))[0]
        attrs = Attributes(
            user,
            _groups(user, groups),
            verb,
            resource_request=True,
            namespace=ns,
            api_group=group,
            resource=resource,
            subresource=subresource,
            name=values.get("objectRef.name", ("",))[0],
        )
        target = f"{resource}/{subresource}" if subresource else resource
        if resource == _PLACEHOLDER_RESOURCE:
            target = "any resource"
        where = f" in {ns}" if ns else ""
        yield f"{verb} {target}{where} by {user}", attrs


def _groups(user: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    if groups:
        return groups
    if user == "system:anonymous":
        return ("system:unauthenticated",)
    if user.startswith("system:serviceaccount:"):
        namespace = user.split(":")[2] if user.count(":") >= 3 else ""
        return (
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        )
    if user.startswith("system:node:"):
        return ("system:nodes", "system:authenticated")
    return ("system:authenticated",)


def judge(policy: Policy, detection: Detection) -> Verdict:
    verdict = Verdict(detection)
    stages = (
        {"ResponseComplete"}
        if detection.needs_response
        else {"RequestReceived", "ResponseComplete"}
    )
    seen = 0
    total = 0
    for description, attrs in representatives(detection):
        total += 1
        config = policy.config_for_attributes(attrs)
        by = f"rule {config.rule}" if config.rule is not None else "no rule matches:"
        if config.level is Level.NONE:
            verdict.reasons.append(f"{description}: {by} level None, not recorded")
            continue
        if stages <= config.omit_stages:
            omitted = ", ".join(sorted(stages))
            verdict.reasons.append(f"{description}: {by} omits stage {omitted}, which it reads")
            continue
        seen += 1
        if config.level < detection.needs:
            verdict.reasons.append(
                f"{description}: {by} records {config.level.value}, "
                f"it reads {_body(detection.needs)}"
            )
    if total and seen == 0:
        verdict.status = "blind"
    elif verdict.reasons:
        verdict.status = "half-blind"
    return verdict


def _body(level: Level) -> str:
    return (
        "the response body (RequestResponse)"
        if level is Level.REQUEST_RESPONSE
        else ("the request body (Request)")
    )


def coverage(policy: Policy, detections: Iterable[Detection]) -> list[Verdict]:
    return [judge(policy, d) for d in detections]
