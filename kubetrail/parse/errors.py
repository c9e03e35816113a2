"""The one exception the parser raises, and the document the pipeline stores in its place.

    ParseError
      reason: "not_json" | "not_object" | "not_audit_event" | "too_large"

An unparsable event is never dropped: `error_document` keeps the raw text in `message` and says
why in `kubetrail.parse_error`, so it can still be stored, searched and counted.
"""

from __future__ import annotations

from typing import Any, Final, Literal

Reason = Literal["not_json", "not_object", "not_audit_event", "too_large"]

REASONS: Final[dict[Reason, str]] = {
    "not_json": "not JSON",
    "not_object": "not a JSON object",
    "not_audit_event": "not an audit.k8s.io Event",
    "too_large": "too large",
}


class ParseError(ValueError):
    """The raw text is not one audit event; `reason` says which check failed."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason: Reason = reason
        self.detail = detail
        text = REASONS[reason]
        super().__init__(f"{text}: {detail}" if detail else text)


def is_error_document(doc: dict[str, Any]) -> bool:
    """True for what `error_document` makes: an event kept although it did not parse."""
    own = doc.get("kubetrail")
    return isinstance(own, dict) and "parse_error" in own


def error_document(message: str, error: ParseError) -> dict[str, Any]:
    """What the pipeline keeps for an event that did not parse: the text and the reason."""
    return {
        "message": message,
        "kubetrail": {"parse_error": str(error), "parse_reason": error.reason},
    }
