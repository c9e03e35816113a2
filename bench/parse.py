"""Parser throughput against a bare orjson round trip of the same lines, in the same run.

    python bench/parse.py [--events 200000] [--rounds 5] [--rss-gb 1]

The corpus is kubetrail's demo generator run over several simulated hours with different
seeds: leases, node status patches, pod creations with full request/response bodies, exec with
two stages, impersonation, denied requests, kubectl/browser/controller user agents. Each round
times both contenders on the same slice, alternating, and the best round of each is kept: the
machines are shared, and the best round is the least disturbed one.

With --rss-gb N, it also writes an N GB audit log and reports the peak RSS of
`kubetrail parse` over it (the goal is under 150 MB for 1 GB).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from kubetrail.demo.generate import lines
from kubetrail.parse import normalize


def corpus(count: int) -> list[bytes]:
    """`count` audit lines: consecutive simulated hours, each with its own seed."""
    out: list[bytes] = []
    for seed in itertools.count(1):
        start = datetime(2025, 9, 14, 9, tzinfo=UTC) + timedelta(hours=seed - 1)
        out.extend(itertools.islice(lines(minutes=60, seed=seed, start=start), count - len(out)))
        if len(out) >= count:
            return out
    raise AssertionError("unreachable")


def rate(fn: Callable[[bytes], object], items: list[bytes]) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def ours(line: bytes) -> bytes:
    return orjson.dumps(normalize(line))


def baseline(line: bytes) -> bytes:
    return orjson.dumps(orjson.loads(line))


def peak_rss_mib(gigabytes: float, sample: list[bytes]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "audit.log")
        with open(path, "wb") as log:
            written = 0
            while written < gigabytes * 1e9:
                for line in sample:
                    log.write(line + b"\n")
                    written += len(line) + 1
        # measured through a small intermediate process: a child forked from this one (which
        # holds the corpus) would report this process's memory as its own peak
        script = (
            "import resource, subprocess, sys\n"
            f"subprocess.run([sys.executable, '-m', 'kubetrail', 'parse', {path!r}],"
            " stdout=subprocess.DEVNULL, check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        child = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
    return int(child.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rss-gb", type=float, default=0.0)
    args = parser.parse_args()

    print(f"generating {args.events:,} events ...", flush=True)
    data = corpus(args.events)
    size = sum(map(len, data)) / len(data)
    with_body = sum(b'"requestObject"' in line for line in data) / len(data)
    print(
        f"corpus: {len(data):,} events, {size:,.0f} bytes each on average, "
        f"{with_body:.1%} with a request body"
    )
    for line in data[:5000]:  # warm the user-agent and address caches, as a service would be
        ours(line)
    best_ours = best_base = 0.0
    for round_ in range(args.rounds):
        a, b = rate(ours, data), rate(baseline, data)
        best_ours, best_base = max(best_ours, a), max(best_base, b)
        print(f"  round {round_ + 1}: normalize+dumps {a:,.0f} ev/s, round trip {b:,.0f} ev/s")
    ratio = best_ours / best_base
    print(f"normalize + orjson.dumps: {best_ours:,.0f} events/s")
    print(f"orjson.loads + orjson.dumps (baseline): {best_base:,.0f} events/s")
    print(f"ratio: {ratio:.2f} (goal >= 0.50)")
    if args.rss_gb:
        print(
            f"peak RSS of `kubetrail parse` over {args.rss_gb:g} GB: "
            f"{peak_rss_mib(args.rss_gb, data[:20000]):,.0f} MiB (goal < 150)"
        )


if __name__ == "__main__":
    main()
