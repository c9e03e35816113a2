"""One raw `audit.k8s.io` Event -> one ECS document.

The mapping (the contract is field for field):

    message                      the input text, verbatim
    event.code / .action / .start   auditID / verb / requestReceivedTimestamp (UTC, `Z`)
    event.outcome, action.outcome   annotation authorization.k8s.io/decision
    kubernetes.rbacreason        annotation authorization.k8s.io/reason
    http.response.status_code    responseStatus.code
    url.path                     requestURI, query string included
    user.id                      user.uid
    user.name / .roles           username / groups, of impersonatedUser when set, else of user
    source.ip, .address          first of sourceIPs, when it is an IP address
    related.user / .ip           [user.name] / [source.ip]
    kubernetes.*                 objectRef, and roleRef / hostNetwork / containers / volumes of the
                                 request body
    user_agent.*                 userAgent, parsed with uap-core
    kubetrail.*                  what kubetrail adds: level, stage, the decoded exec command

Empty values (missing, null, "", [], {}) are left out. The document is built with only
non-empty values rather than pruned afterwards: this function runs on every event.
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import datetime
from typing import Any, Final, TypeVar, get_args
from urllib.parse import parse_qsl

import msgspec

from kubetrail.parse import schema
from kubetrail.parse.errors import ParseError
from kubetrail.parse.timestamps import to_rfc3339_utc
from kubetrail.parse.useragent import _cache as _ua_cache
from kubetrail.parse.useragent import user_agent

try:  # the usual event's mapping in C (kubetrail/parse/_speedups.c); see `_document`
    from kubetrail.parse import _speedups
except ImportError:  # installed where no C compiler was found: every event is mapped here
    _speedups = None  # type: ignore[assignment]

# A RequestResponse event of a large list can reach megabytes; past this it is not an event a
# person could read, and parsing it would let one sender hold the parser.
MAX_EVENT_BYTES: Final = 4 * 1024 * 1024

AUDIT_API_VERSIONS: Final = frozenset(get_args(schema.AuditApiVersion)) - {""}

# A dotted-quad IPv4 address that inet_pton accepts is already canonical (it refuses leading
# zeros, octets over 255 and anything around the address): checked in C, with no cache to
# grow or to miss. Other forms (IPv6, invalid) go through `ipaddress`, remembered.
_inet_pton: Final = socket.inet_pton
_AF_INET: Final = socket.AF_INET
_ip_cache: dict[str, str | None] = {}
_IP_CACHE_SIZE: Final = 4096
# checks the apiserver's time form in C: a third of a regular expression's cost, on every event
_fromisoformat: Final = datetime.fromisoformat
_decode: Final = schema.DECODER.decode


def normalize(message: str | bytes) -> dict[str, Any]:
    """The ECS document of one raw audit event. Raises `ParseError` when it is not one."""
    if _speedups is not None:  # the usual event, decoded and mapped without a Python frame
        usual: dict[str, Any] | None = _speedups.normalize(message)
        if usual is not None:
            return usual
    if len(message) > MAX_EVENT_BYTES:
        raise ParseError("too_large", f"{len(message)} bytes, limit {MAX_EVENT_BYTES}")
    text = message if isinstance(message, str) else decode(message)
    try:
        event = _decode(text)
    except msgspec.ValidationError:
        event = _lenient_event(text)
    except msgspec.DecodeError as exc:
        raise ParseError("not_json", str(exc)) from None
    return _document(event, text)


def normalize_event(event: object, message: str) -> dict[str, Any]:
    """The ECS document of an already decoded JSON value; `message` is its raw text."""
    return _document(_lenient(event), message)


def decode(message: str | bytes) -> str:
    """Raw input as text. Invalid UTF-8 is kept visibly (`\\xff`) rather than lost."""
    if isinstance(message, str):
        return message
    try:
        return message.decode()
    except UnicodeDecodeError:
        return message.decode("utf-8", "backslashreplace")


def _lenient_event(text: str) -> schema.Event:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:  # a typed decode may stop at a type before a syntax error
        raise ParseError("not_json", str(exc)) from None
    return _lenient(value)


def _lenient(value: object) -> schema.Event:
    """The event of a JSON value that the strict decode refused, keeping what has the right type."""
    if not isinstance(value, dict):
        raise ParseError("not_object", f"a JSON {_json_type(value)}")
    kind, api_version = value.get("kind"), value.get("apiVersion")
    if isinstance(kind, str) and kind not in ("", "Event"):
        raise ParseError("not_audit_event", f"kind is {kind[:64]!r}")
    if isinstance(api_version, str) and api_version and api_version not in AUDIT_API_VERSIONS:
        raise ParseError("not_audit_event", f"apiVersion is {api_version[:64]!r}")
    return schema.lenient(value, schema.Event)


def _json_type(value: object) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null"
    )


def _document(ev: schema.Event, message: str) -> dict[str, Any]:
    """The ECS document of a decoded event.

    The usual event (no body, no exec, a known user agent, level and outcome...: see
    _speedups.c) is mapped in C, at under half the cost; the C code returns None for any
    other, and the Python mapping, `_mapped`, is the reference that both follow: the tests
    check that they agree (tests/test_parse_speedups.py).
    """
    if _speedups is not None:
        doc: dict[str, Any] | None = _speedups.document(ev, message)
        if doc is not None:
            return doc
    return _mapped(ev, message)


def _mapped(ev: schema.Event, message: str) -> dict[str, Any]:
    # kind and apiVersion were checked by the decode (their types are literals)
    if not ev.auditID or not (ev.verb or ev.requestURI):
        raise ParseError("not_audit_event", "no auditID with a verb or requestURI")
    event: dict[str, Any] = {"code": ev.auditID}
    doc: dict[str, Any] = {"message": message, "event": event}
    if ev.verb:
        event["action"] = ev.verb
    received = ev.requestReceivedTimestamp
    if received:
        # the apiserver's own form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, passes as it is when it is a
        # valid time (its separators, then `fromisoformat`, in C) with a fraction that is not
        # all zeros; `to_rfc3339_utc` rewrites every other form
        try:
            canonical = (
                received[26:] == "Z"
                and received[4:20:3] == "--T::."
                and _fromisoformat(received).microsecond != 0
            )
        except ValueError:
            canonical = False
        if canonical:
            event["start"] = received
        else:
            start = to_rfc3339_utc(received)
            if start:
                event["start"] = start

    kubernetes: dict[str, Any] = {}
    annotations = ev.annotations
    if annotations is not None:
        decision = annotations.decision
        if decision:
            event["outcome"] = decision
            action = _actions.get(decision)
            doc["action"] = action or _remember(_actions, decision, {"outcome": decision})
        if annotations.reason:
            kubernetes["rbacreason"] = annotations.reason
    status = ev.responseStatus
    if status is not None and status.code is not None:
        http = _http.get(status.code)
        doc["http"] = http or _remember(
            _http, status.code, {"response": {"status_code": status.code}}
        )
    if ev.requestURI:
        doc["url"] = {"path": ev.requestURI}

    # the name and the roles are chosen independently: an impersonation may set only one
    real = ev.user or _NO_USER
    impersonated = ev.impersonatedUser or _NO_USER
    name = impersonated.username or real.username
    groups = impersonated.groups or real.groups
    ip: str | None = None
    if ev.sourceIPs:
        ip = ev.sourceIPs[0]
        try:
            _inet_pton(_AF_INET, ip)
        except (OSError, ValueError):
            ip = _ip_cache[ip] if ip in _ip_cache else _valid_ip(ip)
    if name and ip and groups and "" not in groups:  # the usual event, in one go
        doc["user"] = (
            {"id": real.uid, "name": name, "roles": groups}
            if real.uid
            else {"name": name, "roles": groups}
        )
        doc["source"] = {"ip": ip, "address": ip}
        doc["related"] = {"user": [name], "ip": [ip]}
    else:
        _who(doc, real.uid, name, groups, ip)

    ref = ev.objectRef
    if ref is not None:
        if ref.namespace:
            kubernetes["namespace"] = ref.namespace
        if ref.resource:
            kubernetes["resource"] = ref.resource
        if ref.subresource:
            kubernetes["subresource"] = ref.subresource
        if ref.apiGroup:
            kubernetes["api"] = {"group": ref.apiGroup}
        if ref.name:
            kubernetes["object"] = {"name": ref.name}
    if ev.requestObject is not None or ev.responseObject is not None:
        _bodies(ev, kubernetes)
    if kubernetes:
        doc["kubernetes"] = kubernetes
    if ev.userAgent:
        doc["user_agent"] = _ua_cache.get(ev.userAgent) or user_agent(ev.userAgent)

    own = _levels.get(ev.level, _NO_STAGES).get(ev.stage)
    if own is None:
        own = _present(level=ev.level, stage=ev.stage)
        _remember(_levels, ev.level, {**_levels.get(ev.level, {}), ev.stage: own})
    if "command=" in ev.requestURI:
        command = exec_command(ev.requestURI)
        if command:
            own = {**own, "exec": {"command": command}}
    if own:
        doc["kubetrail"] = own
    return doc


# Sub-objects that thousands of documents have in common are built once and shared, like the
# user agent's: documents are read-only once built. Each cache is bounded.
_actions: dict[str, dict[str, Any]] = {}
_http: dict[int, dict[str, Any]] = {}
_levels: dict[str, dict[str, dict[str, Any]]] = {}  # level -> stage -> {"level", "stage"}
_NO_STAGES: Final[dict[str, dict[str, Any]]] = {}
_SHARED_CACHE_SIZE: Final = 4096
K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    if len(cache) >= _SHARED_CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


_NO_USER: Final = schema.UserInfo()


def _configure_speedups() -> None:
    """Hand the C mapping the structs it reads and the caches of shared objects it uses."""
    if _speedups is not None:
        _speedups.configure(
            schema.Event,
            schema.UserInfo,
            schema.ObjectRef,
            schema.Status,
            schema.Annotations,
            _actions,
            _http,
            _levels,
            _ua_cache,
            _decode,
            MAX_EVENT_BYTES,
        )


_configure_speedups()


def _valid_ip(text: str) -> str | None:
    """`text` (not a dotted-quad IPv4) as a canonical IP address, or None; remembered."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        ip: str | None = None
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        # RFC 5952 §5: an IPv4-mapped address keeps its dotted quad
        ip = f"::ffff:{mapped}" if mapped else str(address)
    if len(_ip_cache) >= _IP_CACHE_SIZE:
        _ip_cache.clear()  # bounded: a sender cannot grow it with random addresses
    _ip_cache[text] = ip
    return ip


def _who(doc: dict[str, Any], uid: str, name: str, groups: list[str], ip: str | None) -> None:
    user: dict[str, Any] = {}
    if uid:
        user["id"] = uid
    if name:
        user["name"] = name
    roles = [g for g in groups if g]
    if roles:
        user["roles"] = roles
    if user:
        doc["user"] = user
    related: dict[str, Any] = {}
    if name:
        related["user"] = [name]
    if ip:
        doc["source"] = {"ip": ip, "address": ip}
        related["ip"] = [ip]
    if related:
        doc["related"] = related


def _bodies(ev: schema.Event, out: dict[str, Any]) -> None:
    """The fields taken from the request and response bodies (Request level and above)."""
    if "object" not in out and ev.responseObject is not None:
        metadata = ev.responseObject.metadata
        if metadata is not None and metadata.name:
            out["object"] = {"name": metadata.name}
    request = ev.requestObject
    if request is None:
        return
    if request.roleRef is not None and request.roleRef.name:
        out["role"] = {"name": request.roleRef.name}
    if request.spec is not None:
        spec = _spec(request.spec)
        if spec:
            out["spec"] = spec


def _spec(spec: schema.Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.hostNetwork is not None:
        out["host_network"] = spec.hostNetwork
    containers = [c for c in map(_container, spec.containers) if c]
    if containers:
        out["containers"] = containers
    volumes = [v for v in map(_volume, spec.volumes) if v]
    if volumes:
        out["volumes"] = volumes
    return out


def _container(container: schema.Container) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if container.command:
        out["command"] = container.command
    for key in (
        "image",
        "imagePullPolicy",
        "name",
        "terminationMessagePath",
        "terminationMessagePolicy",
    ):
        value = getattr(container, key)
        if value:
            out[key] = value
    ports = [p for p in map(_port, container.ports) if p]
    if ports:
        out["ports"] = ports
    if container.resources is not None:
        resources = {}
        for kind in ("limits", "requests"):
            amounts = _amounts(getattr(container.resources, kind))
            if amounts:
                resources[kind] = amounts
        if resources:
            out["resources"] = resources
    security = container.securityContext
    if security is not None and security.privileged is not None:
        out["securityContext"] = {"privileged": security.privileged}
    mounts = [_present(mountPath=m.mountPath, name=m.name) for m in container.volumeMounts]
    mounts = [m for m in mounts if m]
    if mounts:
        out["volumeMounts"] = mounts
    return out


def _port(port: schema.Port) -> dict[str, Any]:
    return _present(
        containerPort=port.containerPort, hostPort=port.hostPort, protocol=port.protocol
    )


def _amounts(amounts: schema.Amounts | None) -> dict[str, Any]:
    if amounts is None:
        return {}
    return _present(cpu=amounts.cpu, memory=amounts.memory)


def _volume(volume: schema.Volume) -> dict[str, Any]:
    out = _present(name=volume.name)
    if volume.hostPath is not None:
        host_path = _present(path=volume.hostPath.path, type=volume.hostPath.type)
        if host_path:
            out["hostPath"] = host_path
    return out


def _present(**values: Any) -> dict[str, Any]:
    """The keyword arguments that carry a value (not None, not an empty string)."""
    return {k: v for k, v in values.items() if v is not None and v != ""}


def exec_command(uri: str) -> str:
    """The command of an exec request, from its `command=` query parameters, decoded and joined.

    kubectl sends each argument as its own parameter: `?command=sh&command=-c&command=id`.
    """
    _, _, query = uri.partition("?")
    return " ".join(value for key, value in parse_qsl(query) if key == "command")
