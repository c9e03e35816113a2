"""Raw Kubernetes audit events -> ECS documents.

normalize(message) -> dict        one raw event; raises ParseError
normalize_or_error(message)       never raises: the ECS document, or an error document
describe(doc) -> str              the one-line description shown to analysts
read_events(stream)               the raw events of a log, EventList or .gz, streaming
"""

from kubetrail.parse.describe import describe
from kubetrail.parse.ecs import MAX_EVENT_BYTES, decode, exec_command, normalize, normalize_event
from kubetrail.parse.errors import ParseError, error_document, is_error_document
from kubetrail.parse.reader import RawEvent, read_events


def normalize_or_error(message: str | bytes) -> dict[str, object]:
    """The ECS document of `message`, or the error document that keeps its text."""
    try:
        return normalize(message)
    except ParseError as exc:
        return error_document(decode(message), exc)


__all__ = [
    "MAX_EVENT_BYTES",
    "ParseError",
    "RawEvent",
    "decode",
    "describe",
    "error_document",
    "exec_command",
    "is_error_document",
    "normalize",
    "normalize_event",
    "normalize_or_error",
    "read_events",
]
