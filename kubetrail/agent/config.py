"""The agent's YAML configuration, validated as a whole: every problem is reported at once.

intake_url: http://127.0.0.1:8080
state_dir: /var/lib/kubetrail-agent
logfiles:
  - filepath: /var/log/kubernetes/apiserver/audit.log   # globs allowed
    intakekey: KEY              # or intakekey_env: NAME (the key from the environment)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import yaml

from kubetrail.agent.errors import ConfigError
from kubetrail.policy import Policy, PolicyError, load_policy

# the intake refuses a single event over 250 KiB
INTAKE_EVENT_LIMIT: Final = 250 * 1024
# the intake refuses a request body over 16 MiB; a batch stays well below
INTAKE_REQUEST_LIMIT: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class LogFile:
    filepath: str
    intakekey: str = field(repr=False)  # a secret: never printed


@dataclass(frozen=True)
class AgentConfig:
    intake_url: str
    logfiles: tuple[LogFile, ...]
    state_dir: Path = Path("/var/lib/kubetrail-agent")
    batch_max_lines: int = 2000
    batch_max_bytes: int = 2 * 1024 * 1024
    flush_interval: float = 0.25
    max_in_flight: int = 2  # batches sent at once: the intake parses one while it commits another
    poll_interval: float = 0.1
    buffer_max_bytes: int = 256 * 1024 * 1024
    read_from: Literal["beginning", "end"] = "beginning"
    max_line_bytes: int = INTAKE_EVENT_LIMIT
    ca_file: Path | None = None
    tls_verify: bool = True
    compression: Literal["gzip", "none"] = "gzip"
    request_timeout: float = 30.0
    retry_initial: float = 0.2
    retry_max: float = 30.0
    rotate_wait: float = 1.0
    lost_after: float = 30.0
    shutdown_timeout: float = 5.0
    log_format: Literal["text", "json"] = "text"
    metrics_port: int | None = None
    # an audit Policy applied before shipping, for clusters whose apiserver policy cannot be
    # changed: events it would not have written are dropped, bodies cut to its level
    policy: Policy | None = field(default=None, repr=False)


_NUMBERS: Final[dict[str, tuple[type, float, float]]] = {
    # key: (type, minimum, maximum)
    "batch_max_lines": (int, 1, 1_000_000),
    "batch_max_bytes": (int, 1024, INTAKE_REQUEST_LIMIT),
    "flush_interval": (float, 0.01, 60),
    "max_in_flight": (int, 1, 16),
    "poll_interval": (float, 0.01, 60),
    "buffer_max_bytes": (int, 1024 * 1024, 1 << 50),
    "max_line_bytes": (int, 1024, INTAKE_EVENT_LIMIT),
    "request_timeout": (float, 0.1, 3600),
    "retry_initial": (float, 0.001, 3600),
    "retry_max": (float, 0.001, 86400),
    "rotate_wait": (float, 0.0, 3600),
    "lost_after": (float, 0.0, 86400),
    "shutdown_timeout": (float, 0.0, 3600),
    "metrics_port": (int, 0, 65535),
}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "read_from": ("beginning", "end"),
    "compression": ("gzip", "none"),
    "log_format": ("text", "json"),
}
_KNOWN: Final = {
    "intake_url", "logfiles", "state_dir", "ca_file", "tls_verify", "policy", *_NUMBERS,
    *_CHOICES,
}  # fmt: skip


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate `path`; raises ConfigError listing every problem."""
    source = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(source, [f"cannot read: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    return parse_config(raw, source)


def parse_config(raw: Any, source: str = "config") -> AgentConfig:
    """Validate an already-loaded mapping; raises ConfigError listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the file must be a mapping of keys (intake_url, logfiles)"])
    problems: list[str] = []
    values: dict[str, Any] = {}
    problems += [f"{key}: unknown key" for key in sorted(set(map(str, raw)) - _KNOWN)]

    url = raw.get("intake_url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if url is None:
        problems.append("intake_url: missing (the kubetrail service, e.g. http://127.0.0.1:8080)")
    elif parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"intake_url: {url!r} is not an http:// or https:// URL")
    else:
        values["intake_url"] = url.rstrip("/")

    values["logfiles"] = _logfiles(raw.get("logfiles"), problems)
    for key in ("state_dir", "ca_file"):
        if raw.get(key) is not None:
            if isinstance(raw[key], str) and raw[key]:
                values[key] = Path(raw[key])
            else:
                problems.append(f"{key}: must be a path")
    if isinstance(values.get("ca_file"), Path) and not values["ca_file"].is_file():
        problems.append(f"ca_file: {values['ca_file']} is not a readable file")
    if "tls_verify" in raw:
        if isinstance(raw["tls_verify"], bool):
            values["tls_verify"] = raw["tls_verify"]
        else:
            problems.append("tls_verify: must be true or false")
    for key, (kind, low, high) in _NUMBERS.items():
        if raw.get(key) is None:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key}: must be a number, got {value!r}")
        elif kind is int and not isinstance(value, int):
            problems.append(f"{key}: must be a whole number, got {value!r}")
        elif not low <= value <= high:
            problems.append(f"{key}: {value} is out of range [{low:g}, {high:g}]")
        else:
            values[key] = kind(value)
    if raw.get("policy") is not None:
        values["policy"] = _policy(raw["policy"], problems)
    for key, choices in _CHOICES.items():
        if key in raw:
            if raw[key] in choices:
                values[key] = raw[key]
            else:
                problems.append(f"{key}: {raw[key]!r} is not one of {', '.join(choices)}")
    if problems:
        raise ConfigError(source, problems)
    return AgentConfig(**values)


def _policy(path: Any, problems: list[str]) -> Policy | None:
    if not isinstance(path, str) or not path:
        problems.append("policy: must be the path of an audit.k8s.io Policy file")
        return None
    try:
        return load_policy(path)
    except OSError as exc:
        problems.append(f"policy: cannot read {path}: {exc.strerror or exc}")
    except PolicyError as exc:
        problems.append(f"policy: {path} is not a valid audit policy: {exc}")
    return None


def _logfiles(raw: Any, problems: list[str]) -> tuple[LogFile, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append("logfiles: must be a non-empty list of {filepath, intakekey}")
        return ()
    out: list[LogFile] = []
    for i, item in enumerate(raw):
        where = f"logfiles[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping with filepath and intakekey")
            continue
        unknown = sorted(set(map(str, item)) - {"filepath", "intakekey", "intakekey_env"})
        problems += [f"{where}.{key}: unknown key" for key in unknown]
        filepath = item.get("filepath")
        if not isinstance(filepath, str) or not filepath.startswith("/"):
            problems.append(f"{where}.filepath: must be an absolute path or glob")
        key = item.get("intakekey")
        env = item.get("intakekey_env")
        if key is None and isinstance(env, str):
            key = os.environ.get(env)
            if not key:
                problems.append(f"{where}.intakekey_env: environment variable {env} is not set")
                continue
        if not isinstance(key, str) or not key.strip():
            problems.append(f"{where}.intakekey: missing (or give intakekey_env)")
            continue
        if isinstance(filepath, str):
            out.append(LogFile(filepath, key.strip()))
    return tuple(out)
