"""Rule files -> a `RuleSet`: parsed and validated by pySigma, compiled by kubetrail's matcher.

Every problem is collected with its file and line, and the rule it concerns is left out; the
other rules load. Files: `*.yml` / `*.yaml` under the given folders, except `*.tests.yml`.
A file may hold several YAML documents: rules, correlations referring to them by `name`, and
Sigma filters (user exceptions) that are applied to the rules they name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import yaml
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationTimespan,
)
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from kubetrail.detect.errors import DetectError, Problem
from kubetrail.detect.gates import choose_gate
from kubetrail.detect.lists import NamedLists, load_lists
from kubetrail.detect.locate import DocumentLines, document_lines
from kubetrail.detect.matcher import Node, compile_condition, required_values
from kubetrail.detect.rules import (
    LEVELS,
    CompiledCorrelation,
    CompiledRule,
    NewValue,
    RuleInfo,
    RuleSet,
)

BUILTIN_RULES: Final = Path(__file__).parent / "rules"
BUILTIN_LISTS: Final = Path(__file__).parent / "lists"
VERB_FIELDS: Final = frozenset({"verb", "event.action"})
RESOURCE_FIELDS: Final = frozenset({"objectRef.resource", "kubernetes.resource"})
SUBRESOURCE_FIELDS: Final = frozenset({"objectRef.subresource", "kubernetes.subresource"})
SUPPORTED_CORRELATIONS: Final = frozenset(
    {"event_count", "value_count", "temporal", "temporal_ordered"}
)
_TECHNIQUE: Final = re.compile(r"t\d{4}(?:\.\d{3})?")
_KUBETRAIL_KEYS: Final = frozenset({"requires_body", "behaviours", "new_value"})

Parsed = SigmaRule | SigmaCorrelationRule | SigmaFilter


def is_test_file(path: Path) -> bool:
    return path.name.endswith((".tests.yml", ".tests.yaml"))


def rule_files(folders: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        if folder.is_file():
            out.append(folder)
        elif folder.is_dir():
            found = (p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml"))
            out.extend(sorted(p for p in found if p.is_file() and not is_test_file(p)))
    return out


def load(
    rules: Iterable[Path | str] = (), lists: Iterable[Path | str] = (), builtin: bool = True
) -> RuleSet:
    """The rules of the built-in pack (unless `builtin` is false) and of `rules` folders/files."""
    rule_paths = [Path(p) for p in rules]
    list_paths = [Path(p) for p in lists]
    if builtin:
        rule_paths.insert(0, BUILTIN_RULES)
        list_paths.insert(0, BUILTIN_LISTS)
    for path in [*rule_paths, *list_paths]:
        if not path.exists() and path not in (BUILTIN_RULES, BUILTIN_LISTS):
            raise DetectError(f"{path}: no such file or folder")
    problems: list[Problem] = []
    named = load_lists(list_paths, problems)
    ruleset = RuleSet(problems=problems, lists=named)
    parsed: list[tuple[Parsed, Path, DocumentLines]] = []
    for path in rule_files(rule_paths):
        ruleset.files.append(path)
        parsed.extend(parse_file(path, named, problems))
    compile_parsed(parsed, ruleset)
    return ruleset


def parse_file(
    path: Path, lists: NamedLists, problems: list[Problem]
) -> list[tuple[Parsed, Path, DocumentLines]]:
    try:
        text = path.read_text(encoding="utf-8")
        documents = list(yaml.safe_load_all(text))
        lines = document_lines(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        problems.append(Problem(path, line, f"not valid YAML: {exc.problem}"))
        return []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(path, 1, f"cannot read: {exc}"))
        return []
    out: list[tuple[Parsed, Path, DocumentLines]] = []
    for index, doc in enumerate(documents):
        where = lines[index] if index < len(lines) else DocumentLines(1)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(path, where.start, "a rule document must be a mapping"))
            continue
        try:
            expanded = _expand_ip_lists(doc, lists)
            item: Parsed
            if "correlation" in expanded:
                item = SigmaCorrelationRule.from_dict(expanded, collect_errors=True)
            elif "filter" in expanded:
                item = SigmaFilter.from_dict(expanded, collect_errors=True)
            else:
                item = SigmaRule.from_dict(expanded, collect_errors=True)
        except (SigmaError, DetectError) as exc:
            problems.append(Problem(path, where.locate(str(exc)), _reason(exc)))
            continue
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            # pySigma assumes well-typed YAML in places; a wrong type must not stop the others
            problems.append(Problem(path, where.start, f"invalid rule: {exc}"))
            continue
        if item.errors:
            problems.extend(Problem(path, where.locate(str(e)), _reason(e)) for e in item.errors)
            continue
        out.append((item, path, where))
    return out


def _reason(exc: Exception) -> str:
    return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)


def _expand_ip_lists(doc: dict[str, Any], lists: NamedLists) -> dict[str, Any]:
    """`field|cidr|expand: '%list%'` -> the list's networks (pySigma's cidr has no placeholders)."""
    detection = doc.get("detection")
    if not isinstance(detection, dict):
        return doc
    doc = copy.copy(doc)
    doc["detection"] = {
        name: _expand_definition(definition, lists) for name, definition in detection.items()
    }
    return doc


def _expand_definition(definition: Any, lists: NamedLists) -> Any:
    if isinstance(definition, list):
        return [_expand_definition(item, lists) for item in definition]
    if not isinstance(definition, dict):
        return definition
    out: dict[str, Any] = {}
    for key, value in definition.items():
        field, *modifiers = str(key).split("|")
        if "cidr" in modifiers and "expand" in modifiers:
            values: list[Any] = []
            for item in value if isinstance(value, list) else [value]:
                name = str(item).strip("%")
                entries = lists.get(name)
                if entries is None:
                    raise DetectError(f"unknown list '{name}' in '{key}'")
                values.extend(entries)
            out["|".join([field, *(m for m in modifiers if m != "expand")])] = values
        else:
            out[key] = value
    return out


def compile_parsed(parsed: list[tuple[Parsed, Path, DocumentLines]], ruleset: RuleSet) -> None:
    problems = ruleset.problems
    filters = [(f, path) for f, path, _ in parsed if isinstance(f, SigmaFilter)]
    by_ref: dict[str, CompiledRule] = {}
    correlations: list[tuple[SigmaCorrelationRule, Path, DocumentLines]] = []
    seen_ids: set[str] = set()
    for item, path, where in parsed:
        if isinstance(item, SigmaFilter):
            continue
        if item.id is None:
            problems.append(Problem(path, where.start, "a rule needs an `id` (a UUID)"))
            continue
        if str(item.id) in seen_ids:
            problems.append(Problem(path, where.line_of("id") or where.start, "duplicate id"))
            continue
        seen_ids.add(str(item.id))
        if isinstance(item, SigmaCorrelationRule):
            correlations.append((item, path, where))
            continue
        compiled = _compile_rule(item, path, where, filters, ruleset)
        if compiled is not None:
            ruleset.rules.append(compiled)
            for ref in (compiled.info.id, compiled.info.name, compiled.info.title):
                if ref:
                    by_ref.setdefault(ref, compiled)
    for correlation, path, where in correlations:
        compiled_correlation = _compile_correlation(correlation, path, where, by_ref, problems)
        if compiled_correlation is not None:
            ruleset.correlations.append(compiled_correlation)


def _info(item: SigmaRule | SigmaCorrelationRule, path: Path, where: DocumentLines) -> RuleInfo:
    tags = [str(t).lower() for t in item.tags]
    techniques = tuple(
        t.split(".", 1)[1].upper() for t in tags if _TECHNIQUE.fullmatch(t.split(".", 1)[1])
    )
    tactics = tuple(
        t.split(".", 1)[1]
        for t in tags
        if t.startswith("attack.") and not _TECHNIQUE.fullmatch(t.split(".", 1)[1])
    )
    return RuleInfo(
        id=str(item.id),
        title=item.title,
        level=str(item.level) if item.level else "medium",
        path=path,
        line=where.start,
        name=item.name or "",
        description=item.description or "",
        status=str(item.status) if item.status else "",
        techniques=techniques,
        tactics=tactics,
        falsepositives=tuple(item.falsepositives),
        kind="correlation" if isinstance(item, SigmaCorrelationRule) else "rule",
    )


def _warnings(info: RuleInfo, where: DocumentLines, problems: list[Problem]) -> None:
    def warn(key: str, reason: str) -> None:
        problems.append(Problem(info.path, where.line_of(key) or where.start, reason, "warning"))

    if not where.line_of("level"):
        warn("level", f"no `level` (one of {', '.join(LEVELS)}); medium is assumed")
    if not info.techniques:
        warn("tags", "no ATT&CK technique tag (attack.tNNNN)")
    if not info.description:
        warn("description", "no `description`")
    if info.kind == "rule" and not info.falsepositives:
        warn("falsepositives", "no `falsepositives`")


def _compile_rule(
    rule: SigmaRule,
    path: Path,
    where: DocumentLines,
    filters: list[tuple[SigmaFilter, Path]],
    ruleset: RuleSet,
) -> CompiledRule | None:
    problems = ruleset.problems
    info = _info(rule, path, where)
    source = rule.logsource
    if source.product != "kubernetes" or source.service != "audit":
        problems.append(
            Problem(
                path,
                where.line_of("logsource") or where.start,
                "logsource must be product: kubernetes, service: audit",
            )
        )
        return None
    for sigma_filter, filter_path in filters:
        try:
            rule = sigma_filter.apply_on_rule(rule)  # type: ignore[assignment]
        except SigmaError as exc:
            problems.append(Problem(filter_path, 1, f"filter cannot apply to {info.id}: {exc}"))
    try:
        trees: list[Node] = [c.parse() for c in rule.detection.parsed_condition]
        predicates = [compile_condition(tree, ruleset.lists) for tree in trees]
        new_value = _new_value(rule.custom_attributes.get("kubetrail"))
    except (SigmaError, DetectError) as exc:
        problems.append(Problem(path, where.locate(str(exc)), _reason(exc)))
        return None
    _warnings(info, where, problems)
    for key in _unknown_kubetrail_keys(rule.custom_attributes.get("kubetrail")):
        problems.append(
            Problem(path, where.line_of(key) or where.start, f"unknown kubetrail key {key!r}")
        )
    predicate = predicates[0]
    if len(predicates) > 1:
        first, rest = predicates[0], predicates[1:]
        predicate = lambda event: first(event) or any(p(event) for p in rest)  # noqa: E731
    verbs = _bound(trees, VERB_FIELDS)
    resources = _bound(trees, RESOURCE_FIELDS)
    subresources = _bound(trees, SUBRESOURCE_FIELDS)
    return CompiledRule(
        info,
        predicate,
        verbs,
        resources,
        new_value,
        subresources=subresources,
        gate=choose_gate(trees, ruleset.lists, VERB_FIELDS | RESOURCE_FIELDS | SUBRESOURCE_FIELDS),
    )


def _bound(trees: list[Node], fields: frozenset[str]) -> frozenset[str] | None:
    out: frozenset[str] = frozenset()
    for tree in trees:
        bound = required_values(tree, fields)
        if bound is None:
            return None
        out |= bound
    return out


def _unknown_kubetrail_keys(section: Any) -> list[str]:
    return sorted(set(section) - _KUBETRAIL_KEYS) if isinstance(section, dict) else []


def _new_value(section: Any) -> NewValue | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise DetectError("'kubetrail' must be a mapping")
    spec = section.get("new_value")
    if spec is None:
        return None
    fields = spec.get("fields") if isinstance(spec, dict) else None
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise DetectError("'new_value' needs `fields`: a list of field names")
    try:
        history = SigmaCorrelationTimespan(str(spec.get("history", "7d"))).seconds
    except SigmaError as exc:
        raise DetectError(f"'new_value' history: {exc}") from None
    return NewValue(tuple(fields), float(history))


def _compile_correlation(
    rule: SigmaCorrelationRule,
    path: Path,
    where: DocumentLines,
    by_ref: dict[str, CompiledRule],
    problems: list[Problem],
) -> CompiledCorrelation | None:
    info = _info(rule, path, where)
    kind = str(rule.type)

    def fail(key: str, reason: str) -> None:
        problems.append(Problem(path, where.line_of(key) or where.start, reason))

    if kind not in SUPPORTED_CORRELATIONS:
        fail("type", f"correlation type '{kind}' is not supported")
        return None
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        fail("condition", "extended correlation conditions are not supported")
        return None
    base: list[CompiledRule] = []
    for ref in rule.rules or []:
        found = by_ref.get(ref.reference)
        if found is None:
            fail("rules", f"correlation refers to unknown rule '{ref.reference}'")
            return None
        base.append(found)
    if not base:
        fail("rules", "correlation names no rules")
        return None
    if not rule.generate:
        for compiled in base:
            compiled.generate = False
    aliases: dict[str, dict[str, str]] = {}
    for alias in rule.aliases:
        mapping: dict[str, str] = {}
        for ref, field in alias.mapping.items():
            found = by_ref.get(ref.reference)
            if found is None:
                fail("aliases", f"alias '{alias.alias}' refers to unknown rule '{ref.reference}'")
                return None
            mapping[found.info.id] = field
        aliases[alias.alias] = mapping
    fieldref = condition.fieldref
    if isinstance(fieldref, list):
        fieldref = fieldref[0] if fieldref else None
    _warnings(info, where, problems)
    return CompiledCorrelation(
        info=info,
        type=kind,
        rules=tuple(r.info.id for r in base),
        group_by=tuple(rule.group_by or ()),
        timespan=float(rule.timespan.seconds),
        op=condition.op.name.lower(),
        count=float(condition.count),
        field=fieldref,
        aliases=aliases,
    )
