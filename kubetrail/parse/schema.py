"""The part of `audit.k8s.io` Event that the ECS mapping reads, as typed msgspec structs.

Decoding straight into these structs validates types in C and skips every field the mapping
does not read (most of a RequestResponse body), which is what keeps the parser within a small
factor of a bare JSON round trip. An event whose fields have unexpected types fails that strict
decode; `lenient` then rebuilds the struct field by field from the plain JSON value, dropping
only what has the wrong type, so one odd field never costs the rest of the event.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Final, Literal, TypeVar, Union, get_args, get_origin

import msgspec

# gc=False: these structs hold only decoded JSON and never form cycles, so the garbage
# collector need not track the millions of them the parser creates.
# JSON allows integers of any size; documents are stored and serialized as 64-bit integers
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Quantity = str | Int64 | float  # Kubernetes quantities arrive as "500m" or as bare numbers


class Metadata(msgspec.Struct, gc=False):
    name: str = ""


class ResponseObject(msgspec.Struct, gc=False):
    metadata: Metadata | None = None


class RoleRef(msgspec.Struct, gc=False):
    name: str = ""


class Port(msgspec.Struct, gc=False):
    containerPort: Int64 | None = None
    hostPort: Int64 | None = None
    protocol: str = ""


class Amounts(msgspec.Struct, gc=False):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(msgspec.Struct, gc=False):
    limits: Amounts | None = None
    requests: Amounts | None = None


class SecurityContext(msgspec.Struct, gc=False):
    privileged: bool | None = None


class VolumeMount(msgspec.Struct, gc=False):
    mountPath: str = ""
    name: str = ""


class Container(msgspec.Struct, gc=False):
    command: list[str] = []
    image: str = ""
    imagePullPolicy: str = ""
    name: str = ""
    ports: list[Port] = []
    resources: Resources | None = None
    securityContext: SecurityContext | None = None
    terminationMessagePath: str = ""
    terminationMessagePolicy: str = ""
    volumeMounts: list[VolumeMount] = []


class HostPath(msgspec.Struct, gc=False):
    path: str = ""
    type: str = ""


class Volume(msgspec.Struct, gc=False):
    name: str = ""
    hostPath: HostPath | None = None


class Spec(msgspec.Struct, gc=False):
    hostNetwork: bool | None = None
    containers: list[Container] = []
    volumes: list[Volume] = []


class RequestObject(msgspec.Struct, gc=False):
    spec: Spec | None = None
    roleRef: RoleRef | None = None


class ObjectRef(msgspec.Struct, gc=False):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    apiGroup: str = ""


class UserInfo(msgspec.Struct, gc=False):
    username: str = ""
    uid: str = ""
    groups: list[str] = []


class Status(msgspec.Struct, gc=False):
    code: Int64 | None = None


class Annotations(
    msgspec.Struct,
    gc=False,
    rename={"decision": "authorization.k8s.io/decision", "reason": "authorization.k8s.io/reason"},
):
    decision: str = ""
    reason: str = ""


# What an audit event says it is, when it says: the strict decode refuses anything else, and
# `ecs` checks the same on the lenient path (which would drop a wrong value, not refuse it).
AuditKind = Literal["Event", ""]
AuditApiVersion = Literal["audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1", ""]


class Event(msgspec.Struct, gc=False):
    kind: AuditKind = ""
    apiVersion: AuditApiVersion = ""
    level: str = ""
    auditID: str = ""
    stage: str = ""
    requestURI: str = ""
    verb: str = ""
    user: UserInfo | None = None
    impersonatedUser: UserInfo | None = None
    sourceIPs: list[str] = []
    userAgent: str = ""
    objectRef: ObjectRef | None = None
    responseStatus: Status | None = None
    requestObject: RequestObject | None = None
    responseObject: ResponseObject | None = None
    requestReceivedTimestamp: str = ""
    annotations: Annotations | None = None


DECODER: Final = msgspec.json.Decoder(Event)

S = TypeVar("S", bound=msgspec.Struct)
_DROP: Final = object()


def lenient(data: dict[str, Any], struct: type[S]) -> S:
    """`struct` built from `data`, keeping every field whose value has the right type."""
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(struct):
        if field.encode_name in data:
            value = _value(data[field.encode_name], field.type)
            if value is not _DROP:
                values[field.name] = value
    return struct(**values)


def _value(raw: object, annotation: Any) -> Any:
    try:
        return msgspec.convert(raw, annotation)
    except msgspec.ValidationError:
        pass
    if get_origin(annotation) is list and isinstance(raw, list):
        (item_type,) = get_args(annotation)
        return [v for v in (_value(item, item_type) for item in raw) if v is not _DROP]
    struct = _struct_in(annotation)
    if struct is not None and isinstance(raw, dict):
        return lenient(raw, struct)
    return _DROP


def _struct_in(annotation: Any) -> type[msgspec.Struct] | None:
    """The struct type in `annotation` (itself, or the struct of `T | None`)."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
                return arg
    return None
