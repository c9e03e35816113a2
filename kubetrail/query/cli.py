"""`kubetrail query explain`: what a query means and the SQL it runs, without a store.

For writing a query before running it, and for a bug report: the sentence, the SQL condition
and its parameters for either backend; a malformed query is shown with a caret at the problem.
"""

from __future__ import annotations

import sys

import click
import orjson

from kubetrail.query import ClickHouseDialect, QueryError, QuerySyntaxError, SqliteDialect
from kubetrail.query import compile_query as compile_text
from kubetrail.query.dialect import Dialect

DIALECTS: dict[str, type[Dialect]] = {"sqlite": SqliteDialect, "clickhouse": ClickHouseDialect}


@click.group()
def query() -> None:
    """The query language: field:value, "phrases", wild*cards, field:[a TO b], field:>=n,
    field:* (is set), AND / OR / NOT and parentheses; bare words search the raw event."""


@query.command()
@click.argument("text")
@click.option(
    "--dialect",
    type=click.Choice(sorted(DIALECTS)),
    default="sqlite",
    show_default=True,
    help="The SQL backend to compile for.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def explain(text: str, dialect: str, as_json: bool) -> None:
    """Show what query TEXT means and the SQL condition it compiles to."""
    try:
        compiled = compile_text(text, DIALECTS[dialect]())
    except QuerySyntaxError as exc:
        click.echo(f"error: {exc}\n{exc.caret()}", err=True)
        sys.exit(2)
    except QueryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        out = {"description": compiled.description, "where": compiled.where}
        sys.stdout.buffer.write(orjson.dumps({**out, "params": compiled.params}) + b"\n")
        return
    click.echo(compiled.description)
    click.echo(f"WHERE {compiled.where}")
    click.echo(f"params: {orjson.dumps(compiled.params).decode()}")
