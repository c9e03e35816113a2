"""`kubetrail serve`, `intakes`, `tokens` and `search`."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console
from rich.table import Table

from kubetrail.auth import Role, new_secret, secret_hash
from kubetrail.parse import describe
from kubetrail.query import QueryError, QuerySyntaxError, compile_query, parse_time
from kubetrail.settings import SETTINGS, Config, SettingsError, load
from kubetrail.store.base import StoreError
from kubetrail.store.open import open_events, open_state

F = TypeVar("F", bound=Callable[..., Any])
SETTING_NAMES = frozenset(s.name for s in SETTINGS)


def data_options(fn: F) -> F:
    """--data-dir and --config, for every command that touches data."""

    @click.option(
        "--data-dir",
        envvar="KUBETRAIL_DATA_DIR",
        type=click.Path(file_okay=False),
        help="Folder of the embedded store [env KUBETRAIL_DATA_DIR; default ./data].",
    )
    @click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False),
        envvar="KUBETRAIL_CONFIG",
        help="TOML file of settings (see the README).",
    )
    @functools.wraps(fn)
    def wrapper(*args: Any, data_dir: str | None, config_file: str | None, **kwargs: Any) -> Any:
        # options named like a setting (--port, --retention-days) go into the configuration
        flags = {"data_dir": data_dir}
        flags |= {name: kwargs.pop(name) for name in list(kwargs) if name in SETTING_NAMES}
        try:
            config = load(flags, config_file)
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from exc
        try:
            return fn(*args, config=config, **kwargs)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@click.command()
@data_options
@click.option("--host", help="Address to listen on [default 127.0.0.1].")
@click.option("--port", type=int, help="TCP port [default 8080].")
@click.option("--retention-days", type=int, help="Delete events older than this [default 30].")
@click.option(
    "--events",
    "events_url",
    help="Events store URL, e.g. clickhouse://host:9000/kubetrail [default: embedded].",
)
@click.option(
    "--state",
    "state_url",
    help="State store URL, e.g. postgresql://kubetrail@host/kubetrail [default: embedded].",
)
def serve(config: Config) -> None:
    """Run the kubetrail service: intake, search API, health and metrics.

    Settings come from these flags, then KUBETRAIL_* environment variables, then --config.
    """
    import uvicorn

    from kubetrail.server.app import create_app

    _logging(config.log_format)
    click.echo(
        f"kubetrail serving on http://{config.host}:{config.port} ({_where(config)})",
        err=True,
    )
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def _where(config: Config) -> str:
    """Where the stores are, for the start-up line: URLs without their credentials."""
    from urllib.parse import urlsplit

    def bare(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"

    events = bare(config.events_url) if config.events_url else "embedded"
    state = bare(config.state_url) if config.state_url else "embedded"
    if not (config.events_url and config.state_url):
        return f"events {events}, state {state}, data in {config.data_path.resolve()}"
    return f"events {events}, state {state}"


def _logging(fmt: str) -> None:
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(_JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        ).decode()


@click.group()
def intakes() -> None:
    """Create, list and revoke intake keys (what agents and clusters send with events)."""


@intakes.command("create")
@data_options
@click.argument("name")
def intakes_create(config: Config, name: str) -> None:
    """Create intake NAME; its key is printed once, on the last line."""
    key = new_secret("kti")
    intake = open_state(config).create_intake(name, secret_hash(key))
    click.echo(f"intake {intake.name!r} created; its key (shown only now):", err=True)
    click.echo(key)


@intakes.command("list")
@data_options
def intakes_list(config: Config) -> None:
    """List intakes (keys are never shown again)."""
    table = Table("name", "created", "revoked")
    for intake in open_state(config).list_intakes():
        table.add_row(intake.name, intake.created_at, intake.revoked_at or "")
    Console().print(table)


@intakes.command("revoke")
@data_options
@click.argument("name")
def intakes_revoke(config: Config, name: str) -> None:
    """Revoke intake NAME: its key stops working within seconds."""
    if not open_state(config).revoke_intake(name):
        raise click.ClickException(f"no live intake named {name!r}")
    click.echo(f"intake {name!r} revoked")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens (for the search API, CLI and web)."""


@tokens.command("create")
@data_options
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default="viewer",
    show_default=True,
    help="viewer reads; analyst also triages alerts; admin manages.",
)
def tokens_create(config: Config, name: str, role: str) -> None:
    """Create API token NAME; the token is printed once, on the last line."""
    secret = new_secret("ktt")
    token = open_state(config).create_token(name, Role(role), secret_hash(secret))
    click.echo(f"token {token.name!r} ({token.role.value}) created; shown only now:", err=True)
    click.echo(secret)


@tokens.command("list")
@data_options
def tokens_list(config: Config) -> None:
    """List API tokens and their roles."""
    table = Table("name", "role", "created", "revoked")
    for token in open_state(config).list_tokens():
        table.add_row(token.name, token.role.value, token.created_at, token.revoked_at or "")
    Console().print(table)


@tokens.command("revoke")
@data_options
@click.argument("name")
def tokens_revoke(config: Config, name: str) -> None:
    """Revoke API token NAME."""
    if not open_state(config).revoke_token(name):
        raise click.ClickException(f"no live token named {name!r}")
    click.echo(f"token {name!r} revoked")


@click.command()
@data_options
@click.argument("query", default="*")
@click.option("--since", default="24h", show_default=True, help="How far back: 15m, 24h, 7d.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One event per line, as stored.")
def search(config: Config, query: str, since: str, limit: int, as_json: bool) -> None:
    """Search stored events with the query language, newest first.

    \b
    Examples:
      kubetrail search 'kubernetes.resource:secrets AND event.action:get'
      kubetrail search 'user.name:alice* AND NOT event.outcome:allow' --since 7d
      kubetrail search '"cluster-admin"'          # a phrase anywhere in the raw event
    """
    store = open_events(config)
    now = datetime.now(UTC)
    try:
        compiled = compile_query(query, store.dialect, now)
    except QuerySyntaxError as exc:
        raise click.UsageError(f"{exc}\n{exc.caret()}") from exc
    except QueryError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        start = parse_time(f"now-{since}", now)
    except ValueError as exc:
        raise click.UsageError(f"--since {since!r}: {exc}") from exc
    page = store.search(compiled, start, parse_time("now", now) + 1, limit, None)
    if as_json:
        for event in page.events:
            sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
        return
    table = Table(
        "time",
        "user",
        "verb",
        "resource",
        "namespace/name",
        "status",
        "description",
        title=f"{compiled.description} (last {since}, newest first)",
        title_justify="left",
    )
    for event in page.events:
        kube = event.get("kubernetes", {})
        where = "/".join(
            x for x in (kube.get("namespace"), kube.get("object", {}).get("name")) if x
        )
        table.add_row(
            event["@timestamp"][:23],
            event.get("user", {}).get("name", ""),
            event.get("event", {}).get("action", ""),
            kube.get("resource", ""),
            where,
            str(event.get("http", {}).get("response", {}).get("status_code", "")),
            describe(event)[:120],
        )
    Console().print(table)
    more = " (more: raise --limit)" if page.next_cursor else ""
    click.echo(f"{len(page.events)} events in {page.took_ms:.0f} ms{more}", err=True)
