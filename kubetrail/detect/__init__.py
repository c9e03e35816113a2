"""Sigma detection over Kubernetes audit events.

Engine.from_paths(rules=(), lists=(), builtin=True) -> Engine
engine.process(raw, doc, event_id) -> list[Match]     one event; raw audit dict + ECS doc
engine.flush() -> list[Match]                         end of input: close correlation windows
Detector(engine, store, notifiers, window)            engine + AlertStore + webhooks
Alert, AlertStore (Protocol), MemoryAlertStore        alerts aggregated per rule and entity
WebhookNotifier(url, min_level)                       JSON POST with retries
load(rules, lists, builtin) -> RuleSet                rules, correlations, problems
"""

from kubetrail.detect.alerts import (
    DEFAULT_WINDOW,
    STATUSES,
    Alert,
    AlertNotFound,
    AlertStore,
    MemoryAlertStore,
)
from kubetrail.detect.engine import Engine
from kubetrail.detect.errors import DetectError, Problem, RuleError
from kubetrail.detect.event import Event
from kubetrail.detect.loader import BUILTIN_LISTS, BUILTIN_RULES, load
from kubetrail.detect.match import Entity, Match
from kubetrail.detect.notify import WebhookNotifier
from kubetrail.detect.pipeline import Detector
from kubetrail.detect.rules import LEVELS, RuleInfo, RuleSet

__all__ = [
    "BUILTIN_LISTS",
    "BUILTIN_RULES",
    "DEFAULT_WINDOW",
    "LEVELS",
    "STATUSES",
    "Alert",
    "AlertNotFound",
    "AlertStore",
    "DetectError",
    "Detector",
    "Engine",
    "Entity",
    "Event",
    "Match",
    "MemoryAlertStore",
    "Problem",
    "RuleError",
    "RuleInfo",
    "RuleSet",
    "WebhookNotifier",
    "load",
]
