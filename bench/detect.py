"""Detection throughput: `normalize` alone against `normalize` + the engine, in the same run.

    python bench/detect.py [--events 120000] [--rounds 3]

The corpus is the demo generator over several simulated hours and seeds. The engine runs the
built-in pack (kubetrail/detect/rules) with the built-in lists; when the pack is absent it runs
the test fixture rules instead and says so. The engine's side includes decoding the raw event
(orjson), which the service needs anyway for the raw-path fields.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import orjson

from kubetrail.demo.generate import lines
from kubetrail.detect import BUILTIN_RULES, Engine, load
from kubetrail.parse import normalize

FIXTURES = Path(__file__).parent.parent / "tests" / "detect" / "data"


def corpus(count: int) -> list[bytes]:
    out: list[bytes] = []
    for seed in itertools.count(1):
        out.extend(itertools.islice(lines(minutes=60, seed=seed), count - len(out)))
        if len(out) >= count:
            return out
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if any(BUILTIN_RULES.rglob("*.yml")) if BUILTIN_RULES.exists() else False:
        ruleset, which = load(), "the built-in pack"
    else:
        ruleset = load([FIXTURES / "rules"], [FIXTURES / "lists"], builtin=False)
        which = "the test fixture rules (built-in pack absent)"
    rules = len(ruleset.rules) + len(ruleset.correlations)
    print(f"rules: {rules} from {which}, {len(ruleset.errors)} invalid")
    data = corpus(args.events)
    print(f"corpus: {len(data):,} events")
    best_norm = best_full = 0.0
    matches = 0
    for round_ in range(args.rounds):
        start = time.perf_counter()
        for line in data:
            normalize(line)
        norm = len(data) / (time.perf_counter() - start)
        engine = Engine(ruleset)  # fresh state each round: same work every round
        matches = 0
        start = time.perf_counter()
        for n, line in enumerate(data):
            matches += len(engine.process(orjson.loads(line), normalize(line), str(n)))
        full = len(data) / (time.perf_counter() - start)
        best_norm, best_full = max(best_norm, norm), max(best_full, full)
        print(f"  round {round_ + 1}: normalize {norm:,.0f} ev/s, + detect {full:,.0f} ev/s")
    print(f"normalize alone: {best_norm:,.0f} events/s")
    print(f"normalize + detect: {best_full:,.0f} events/s ({matches:,} matches; goal >= 50,000)")
    print(f"ratio: {best_full / best_norm:.2f}")


if __name__ == "__main__":
    main()
