"""An event as the apiserver would have written it under a policy (`pkg/audit/request.go`).

- `None`, or an omitted stage: no event at all.
- `Metadata`: no `requestObject`, no `responseObject`.
- `Request`: `requestObject` only.
- `RequestResponse`: both.
- `omitManagedFields`: `metadata.managedFields` removed from the request and response objects
  and from the items of a list. A patch's body is logged as the raw patch bytes
  (LogRequestPatch), which the apiserver does not strip, so neither do we.

A captured event cannot gain what was never recorded: when the policy asks for more than the
event's own level, the event keeps its level and its content (`short_of` says so), so that a
reduced log never claims bodies it does not have.
"""

from __future__ import annotations

from typing import Any

from kubetrail.policy.checker import Policy
from kubetrail.policy.model import AuditConfig, Level

_LEVELS = {level.value: level for level in Level}


def captured_level(event: dict[str, Any]) -> Level:
    """The level the event was recorded at; an event without a valid one counts as full."""
    level = event.get("level")
    return (
        _LEVELS.get(level, Level.REQUEST_RESPONSE)
        if isinstance(level, str)
        else (Level.REQUEST_RESPONSE)
    )


def short_of(event: dict[str, Any], config: AuditConfig) -> bool:
    """Whether the policy would record more of this event than the capture holds."""
    return captured_level(event) < config.level


def apply_policy(policy: Policy, event: dict[str, Any]) -> dict[str, Any] | None:
    """`event` reduced as `policy` would have written it, or None when it would not exist.

    The input is never modified; the result shares untouched sub-objects with it.
    """
    return apply_config(policy.config_for(event), event)


def apply_config(config: AuditConfig, event: dict[str, Any]) -> dict[str, Any] | None:
    if config.level is Level.NONE or event.get("stage") in config.omit_stages:
        return None
    level = min(config.level, captured_level(event), key=lambda lv: lv.rank)
    out = dict(event)
    out["level"] = level.value
    if level < Level.REQUEST:
        out.pop("requestObject", None)
    if level < Level.REQUEST_RESPONSE:
        out.pop("responseObject", None)
    if config.omit_managed_fields:
        if "requestObject" in out and out.get("verb") != "patch":
            out["requestObject"] = without_managed_fields(out["requestObject"])
        if "responseObject" in out:
            out["responseObject"] = without_managed_fields(out["responseObject"])
    return out


def without_managed_fields(obj: Any) -> Any:
    """`obj` without `metadata.managedFields`, nor in its list `items`; copies only what changes."""
    if not isinstance(obj, dict):
        return obj
    out = obj
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        out = dict(obj)
        out["metadata"] = {k: v for k, v in metadata.items() if k != "managedFields"}
    items = obj.get("items")
    if isinstance(items, list):
        stripped = [without_managed_fields(item) for item in items]
        if any(a is not b for a, b in zip(stripped, items, strict=True)):
            out = dict(out) if out is obj else out
            out["items"] = stripped
    return out
