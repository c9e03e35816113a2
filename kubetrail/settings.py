"""Every setting of the kubetrail service, in one table, with units in the names.

A value comes from, in order of precedence: the command-line flag, the environment variable
`KUBETRAIL_<NAME>` (upper case), the config file (`--config FILE`, TOML, `name = value` at top
level), the default. Unknown config-file keys and values of the wrong type are errors that name
the key: a typo must not silently leave a default in place.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from kubetrail.detect.rules import LEVELS


class SettingsError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: Final = (
    Setting("data_dir", "data", "Folder of the embedded store (events.db, state.db)."),
    Setting(
        "events_url", "", "Events store: empty = embedded SQLite, or clickhouse://host:9000/db."
    ),
    Setting("state_url", "", "State store: empty = embedded SQLite, or postgresql://user@host/db."),
    Setting("host", "127.0.0.1", "Address to listen on."),
    Setting("port", 8080, "TCP port to listen on."),
    Setting("retention_days", 30, "Events older than this (by their own time) are deleted hourly."),
    Setting("max_event_bytes", 256_000, "Largest accepted event (250 KiB); larger: 413."),
    Setting("max_request_bytes", 16 * 1024 * 1024, "Largest request body, decompressed: 413."),
    Setting("query_time_limit_ms", 10_000, "A search running longer is stopped (503)."),
    Setting("facet_time_limit_ms", 3_000, "A facet or histogram running longer is stopped."),
    Setting("max_pending_events", 200_000, "Events waiting for the writer before 503."),
    Setting(
        "parse_workers",
        1,
        "Processes parsing incoming events, on the embedded store and on replicas "
        "(0: the writer parses).",
    ),
    Setting("detection_rules_dir", "", "Extra Sigma rules folder, added to the built-in pack."),
    Setting(
        "detection_defer_ms",
        10_000,
        "Embedded store: while the intake is saturated, detection waits up to this long, "
        "then catches up.",
    ),
    Setting(
        "detection_lag_ms",
        5_000,
        "With shared state: fleet-wide rules read events this long after their time.",
    ),
    Setting("alert_webhook_url", "", "POST new alerts as JSON to this URL (empty: off)."),
    Setting("alert_webhook_min_level", "medium", "Lowest alert level sent to the webhook."),
    Setting("log_format", "text", "Log format: text or json."),
)
_BY_NAME: Final = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    data_dir: str = "data"
    events_url: str = ""
    state_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    retention_days: int = 30
    max_event_bytes: int = 256_000
    max_request_bytes: int = 16 * 1024 * 1024
    query_time_limit_ms: int = 10_000
    facet_time_limit_ms: int = 3_000
    max_pending_events: int = 200_000
    parse_workers: int = 1
    detection_rules_dir: str = ""
    detection_defer_ms: int = 10_000
    detection_lag_ms: int = 5_000
    alert_webhook_url: str = ""
    alert_webhook_min_level: str = "medium"
    log_format: str = "text"
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def _coerce(name: str, value: Any, origin: str) -> Any:
    default = _BY_NAME[name].default
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise SettingsError(f"{name} ({origin}): expected a whole number, got {value!r}")
    if not isinstance(value, str):
        raise SettingsError(f"{name} ({origin}): expected text, got {value!r}")
    return value


def load(flags: dict[str, Any], config_file: str | None = None) -> Config:
    """The effective configuration: flags over environment over config file over defaults."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file:
        try:
            with open(config_file, "rb") as handle:
                from_file = tomllib.load(handle)
        except OSError as exc:
            raise SettingsError(f"config file {config_file}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config_file}: {exc}") from exc
        for name, value in from_file.items():
            if name not in _BY_NAME:
                known = ", ".join(sorted(_BY_NAME))
                raise SettingsError(
                    f"config file {config_file}: unknown setting {name!r} (known: {known})"
                )
            values[name] = _coerce(name, value, f"config file {config_file}")
            sources[name] = "file"
    for name in _BY_NAME:
        env = os.environ.get(f"KUBETRAIL_{name.upper()}")
        if env is not None and env != "":
            values[name] = _coerce(name, env, f"KUBETRAIL_{name.upper()}")
            sources[name] = "env"
    for name, value in flags.items():
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
            sources[name] = "flag"
    config = Config(**values, sources=sources)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    for item in fields(config):
        value = getattr(config, item.name)
        if item.name.endswith(("_ms", "_bytes", "_days", "_events")) and value <= 0:
            raise SettingsError(f"{item.name}: must be positive, got {value}")
    if not 0 < config.port < 65536:
        raise SettingsError(f"port: must be 1-65535, got {config.port}")
    if config.alert_webhook_min_level not in LEVELS:
        raise SettingsError(
            f"alert_webhook_min_level: must be one of {', '.join(LEVELS)}, "
            f"got {config.alert_webhook_min_level!r}"
        )
    if config.log_format not in ("text", "json"):
        raise SettingsError(f"log_format: must be text or json, got {config.log_format!r}")


def markdown_table() -> str:
    """The settings as the README documents them (a test keeps the two in step)."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | `KUBETRAIL_{s.name.upper()}` | `{s.default}` | {s.help} |")
    return "\n".join(rows)
