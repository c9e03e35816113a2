"""The built-in detection pack, checked without the engine: every rule parses with pySigma,
carries the metadata analysts and the alert pipeline rely on, names only fields the parser
produces and lists that exist, and ships test events that are real audit events."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import Placeholder, SigmaString

import kubetrail
from kubetrail.parse import ParseError, normalize

DETECT = Path(kubetrail.__file__).parent / "detect"
RULES = DETECT / "rules"
LISTS = DETECT / "lists"
RULE_FILES = sorted(p for p in RULES.rglob("*.yml") if not p.name.endswith(".tests.yml"))
AREAS = {
    "workloads",
    "exec",
    "secrets",
    "rbac",
    "identity",
    "persistence",
    "network",
    "discovery",
    "defense-evasion",
    "impact",
}
# BEHAVIOURS.md: row 72 needs a runtime sensor, and row 55 has no ATT&CK technique
BEHAVIOURS = set(range(1, 72))
ROWS_WITHOUT_TECHNIQUE = {55}
LEVELS = {"informational", "low", "medium", "high", "critical"}
TECHNIQUE_TAG = re.compile(r"attack\.t\d{4}(\.\d{3})?")
RAW_FIELDS = re.compile(
    r"(verb|sourceIPs|userAgent|requestURI|stage|level|auditID"
    r"|(objectRef|user|impersonatedUser|responseStatus|requestObject|responseObject|annotations)\..+)"
)
ECS_FIELDS = re.compile(
    r"(event\..+|user\.name|user\.roles|source\.ip|kubernetes\..+|url\.path|user_agent\..+"
    r"|kubetrail\.exec\.command|http\.response\.status_code)"
)
BODY_FIELDS = re.compile(r"(requestObject|responseObject)\.")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(RULES)) for p in paths]


@cache
def _collection(path: Path) -> SigmaCollection:
    return SigmaCollection.from_yaml(path.read_text(), collect_errors=True)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _cases(path: Path) -> list[dict[str, Any]]:
    tests = path.with_name(path.name.removesuffix(".yml") + ".tests.yml")
    data = yaml.safe_load(tests.read_text())
    assert isinstance(data, dict) and isinstance(data.get("cases"), list), f"{tests}: no cases list"
    return list(data["cases"])


def _items(detection: SigmaDetection | SigmaDetectionItem) -> Iterator[SigmaDetectionItem]:
    if isinstance(detection, SigmaDetectionItem):
        yield detection
        return
    for item in detection.detection_items:
        yield from _items(item)


def _detection_items(rule: SigmaRule) -> Iterator[SigmaDetectionItem]:
    for detection in rule.detection.detections.values():
        yield from _items(detection)


def _fields(doc: dict[str, Any], rule: SigmaRule | SigmaCorrelationRule) -> set[str]:
    fields: set[str] = set()
    if isinstance(rule, SigmaRule):
        fields |= {item.field for item in _detection_items(rule) if item.field}
    else:
        fields |= set(rule.group_by or [])
        fieldref = getattr(rule.condition, "fieldref", None)  # value_count counts a field
        if isinstance(fieldref, str):
            fields.add(fieldref)
        elif isinstance(fieldref, list):
            fields |= set(fieldref)
    new_value = (doc.get("kubetrail") or {}).get("new_value") or {}
    fields |= set(new_value.get("fields", []))
    return fields


def _placeholders(rule: SigmaRule) -> set[str]:
    names: set[str] = set()
    for item in _detection_items(rule):
        for value in item.value:
            if isinstance(value, SigmaString):
                names |= {p.name for p in value.s if isinstance(p, Placeholder)}
    return names


def _list_names() -> dict[str, Path]:
    return {p.stem: p for p in LISTS.glob("*.yml")}


def test_the_pack_has_rules_in_the_documented_areas() -> None:
    assert len(RULE_FILES) >= 40
    assert {p.relative_to(RULES).parts[0] for p in RULE_FILES} <= AREAS


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_rule_file_parses_with_pysigma(path: Path) -> None:
    collection = _collection(path)
    assert collection.errors == []
    collection.resolve_rule_references()
    for rule in collection:
        if isinstance(rule, SigmaCorrelationRule):
            for reference in rule.rules or []:
                # resolved to a base rule of the same file
                assert isinstance(reference.rule, SigmaRule), reference


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_rule_metadata(path: Path) -> None:
    problems: list[str] = []
    for doc in _documents(path):
        title = doc.get("title", "?")
        for key in ("title", "id", "name", "status", "description", "references", "author"):
            if not doc.get(key):
                problems.append(f"{title}: no {key}")
        try:
            if uuid.UUID(str(doc.get("id"))).version != 4:
                problems.append(f"{title}: id is not a UUID4")
        except ValueError:
            problems.append(f"{title}: id {doc.get('id')!r} is not a UUID")
        if str(doc.get("date")) != "2026-11-26":
            problems.append(f"{title}: date {doc.get('date')}")
        if doc.get("level") not in LEVELS:
            problems.append(f"{title}: level {doc.get('level')!r}")
        if not doc.get("falsepositives"):
            problems.append(f"{title}: no falsepositives")
        ext = doc.get("kubetrail") or {}
        rows = ext.get("behaviours") or []
        if not rows or not set(rows) <= BEHAVIOURS:
            problems.append(f"{title}: behaviours {rows!r}")
        if not isinstance(ext.get("requires_body"), bool):
            problems.append(f"{title}: requires_body is not a boolean")
        tags = doc.get("tags") or []
        if (
            not any(TECHNIQUE_TAG.fullmatch(t) for t in tags)
            and not set(rows) <= ROWS_WITHOUT_TECHNIQUE
        ):
            problems.append(f"{title}: no attack.tNNNN tag")
        for tag in tags:
            if tag.startswith("attack.t") and not TECHNIQUE_TAG.fullmatch(tag):
                problems.append(f"{title}: malformed technique tag {tag}")
            if TECHNIQUE_TAG.fullmatch(tag):
                url = (
                    "https://attack.mitre.org/techniques/" + tag[7:].upper().replace(".", "/") + "/"
                )
                if url not in doc.get("references", []):
                    problems.append(f"{title}: no reference {url}")
        if "correlation" not in doc and doc.get("logsource") != {
            "product": "kubernetes",
            "service": "audit",
        }:
            problems.append(f"{title}: logsource {doc.get('logsource')}")
    assert problems == []


def test_rule_ids_and_names_are_unique() -> None:
    ids: list[str] = []
    names: list[str] = []
    for path in RULE_FILES:
        for doc in _documents(path):
            ids.append(str(doc["id"]))
            names.append(str(doc["name"]))
    assert len(ids) == len(set(ids))
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_fields_are_raw_audit_paths_or_ecs(path: Path) -> None:
    unknown: list[str] = []
    for doc, rule in zip(_documents(path), _collection(path), strict=True):
        assert isinstance(rule, SigmaRule | SigmaCorrelationRule)
        fields = _fields(doc, rule)
        unknown += [
            f for f in fields if not RAW_FIELDS.fullmatch(f) and not ECS_FIELDS.fullmatch(f)
        ]
        if isinstance(rule, SigmaRule):
            reads_body = any(BODY_FIELDS.match(f) for f in fields)
            # requires_body tells the engine which rules are blind at Metadata level
            if doc["kubetrail"]["requires_body"] != reads_body:
                unknown.append(f"{doc['title']}: requires_body should be {reads_body}")
    assert unknown == []


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_named_lists_exist(path: Path) -> None:
    lists = _list_names()
    for rule in _collection(path):
        if isinstance(rule, SigmaRule):
            missing = _placeholders(rule) - lists.keys()
            assert missing == set(), f"{rule.title}: unknown lists {missing}"


@pytest.mark.parametrize("path", sorted(LISTS.glob("*.yml")), ids=lambda p: p.name)
def test_list_files_are_well_formed(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert data["name"] == path.stem
    assert data.get("description")
    entries = data.get("entries")
    assert isinstance(entries, list) and entries
    assert all(isinstance(e, str) and e for e in entries)
    assert len(entries) == len(set(entries))


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_every_rule_file_has_alert_and_none_cases(path: Path) -> None:
    cases = _cases(path)
    expects = [c.get("expect") for c in cases]
    assert "alert" in expects and "none" in expects
    assert set(expects) <= {"alert", "none"}
    assert all(c.get("name") and c.get("events") for c in cases)


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_case_events_are_valid_audit_events(path: Path) -> None:
    problems: list[str] = []
    for case in _cases(path):
        for event in case["events"]:
            where = f"{case['name']}: {event.get('auditID')}"
            try:
                doc = normalize(orjson.dumps(event))
            except ParseError as exc:
                problems.append(f"{where}: {exc}")
                continue
            if event.get("kind") != "Event" or event.get("apiVersion") != "audit.k8s.io/v1":
                problems.append(f"{where}: not an audit.k8s.io/v1 Event")
            if event.get("stage") not in {"ResponseStarted", "ResponseComplete"}:
                problems.append(f"{where}: stage {event.get('stage')}")
            if "start" not in doc["event"] or "source" not in doc:
                problems.append(f"{where}: no timestamp or source address")
            uri = event.get("requestURI", "")
            ref = event.get("objectRef") or {}
            for key in ("namespace", "resource", "subresource"):
                if ref.get(key) and f"/{ref[key]}" not in uri:
                    problems.append(f"{where}: objectRef.{key} {ref[key]!r} not in {uri!r}")
            if ("requestObject" in event or "responseObject" in event) and event.get(
                "level"
            ) != "RequestResponse":
                problems.append(f"{where}: a body at level {event.get('level')}")
    assert problems == []


def test_audit_ids_are_unique_across_the_pack() -> None:
    seen: dict[str, str] = {}
    duplicates = []
    for path in RULE_FILES:
        for case in _cases(path):
            for event in case["events"]:
                if event["auditID"] in seen:
                    duplicates.append((event["auditID"], seen[event["auditID"]], case["name"]))
                seen[event["auditID"]] = case["name"]
    assert duplicates == []


def test_the_pack_covers_every_behaviour() -> None:
    covered: set[int] = set()
    for path in RULE_FILES:
        for doc in _documents(path):
            covered |= set(doc["kubetrail"]["behaviours"])
    assert BEHAVIOURS - covered == set()
    assert covered - BEHAVIOURS == set()


def test_the_readme_lists_every_rule_file() -> None:
    readme = (RULES / "README.md").read_text()
    missing = [
        str(p.relative_to(RULES)) for p in RULE_FILES if str(p.relative_to(RULES)) not in readme
    ]
    assert missing == []
