"""`kubetrail demo`: realistic sample data, to try kubetrail without a cluster."""

from __future__ import annotations

import gzip
import sys
from contextlib import ExitStack
from typing import IO

import click

from kubetrail.demo.generate import lines


@click.group()
def demo() -> None:
    """Sample data for trying kubetrail out."""


@demo.command()
@click.option("--minutes", default=60, show_default=True, help="How much cluster time to generate.")
@click.option("--seed", default=42, show_default=True, help="Same seed, same events.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    default="-",
    show_default=True,
    help="Where to write the audit log (.gz compresses).",
)
def generate(minutes: int, seed: int, out: str) -> None:
    """Write an audit log of a small cluster's life, with an attack woven in.

    Controllers, kubelets, a CI bot and humans with kubectl; at 60% of the time an intruder
    execs into a pod, reads secrets, creates a privileged pod and binds cluster-admin.
    """
    with ExitStack() as stack:
        sink: IO[bytes] = sys.stdout.buffer
        if out.endswith(".gz"):
            sink = stack.enter_context(gzip.open(out, "wb"))  # type: ignore[arg-type]
        elif out != "-":
            sink = stack.enter_context(open(out, "wb"))
        for line in lines(minutes, seed):
            sink.write(line + b"\n")
