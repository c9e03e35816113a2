"""`kubetrail parse`: raw audit logs in, one ECS JSON document per line out."""

from __future__ import annotations

import sys

import click
import orjson
from rich.console import Console

from kubetrail.parse.stream import ParseStats, parse_paths, with_description
from kubetrail.parse.summary import Summary

# how many errors are reported one by one before only the count goes on
_ERRORS_SHOWN = 20


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--describe", is_flag=True, help="Add a one-line description (kubetrail.description)."
)
@click.option("--strict", is_flag=True, help="Exit with status 1 when any event fails to parse.")
@click.option("--summary", is_flag=True, help="Print counts per verb, resource and user instead.")
def parse(files: tuple[str, ...], describe: bool, strict: bool, summary: bool) -> None:
    """Normalize audit events from FILES (stdin when none) to ECS JSON, one document per line.

    FILES may be audit logs (one event per line), EventList documents as the webhook backend
    sends them, or gzip-compressed rotated logs; the format is detected from the content.
    Events that do not parse are still written, with kubetrail.parse_error set, and each is
    reported on stderr with its file and line.
    """
    stats = ParseStats()
    out = sys.stdout.buffer
    counts = Summary()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        for item in parse_paths(files or ("-",), stats):
            if item.error is not None and stats.errors <= _ERRORS_SHOWN:
                err.print(f"{item.source}:{item.line}: {item.error}", markup=False)
            if summary:
                counts.add(item.doc)
                continue
            doc = with_description(item.doc) if describe else item.doc
            out.write(orjson.dumps(doc) + b"\n")
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or 'input'}: {exc.strerror or exc}") from exc
    except BrokenPipeError:  # `kubetrail parse big.log | head` is normal use
        sys.stderr.close()
        return
    out.flush()
    if summary:
        counts.render(Console(highlight=False))
    if stats.errors:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(stats.error_reasons.items()))
        err.print(
            f"{stats.errors} of {stats.events} events did not parse ({reasons})", markup=False
        )
        if strict:
            sys.exit(1)
