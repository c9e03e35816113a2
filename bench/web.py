"""Server time of the events page on a large store, against the search API in the same run.

    python bench/web.py [--events 1000000] [--rounds 5] [--data data/bench-web]

The store is built once (the demo generator over as many simulated hours as needed, parsed and
appended as the intake would) and reused by later runs; delete `--data` to rebuild it. Each
request goes through the whole ASGI app in-process (session, search, template), so the time is
the server's, without network.
The page renders the table; its histogram and facets are separate fragments the page loads,
timed apart. The baseline is `GET /api/v1/events` with the same query and page size.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from starlette.testclient import TestClient

from kubetrail.auth import Role, new_secret, secret_hash
from kubetrail.demo.generate import lines
from kubetrail.ingest.pipeline import now_micros, prepare
from kubetrail.query import compile_query
from kubetrail.server.app import create_app
from kubetrail.settings import Config
from kubetrail.store.open import open_stores

SEARCHES = (
    ("everything, last 24 h", "*"),
    ("secrets", "kubernetes.resource:secrets"),
    ("denied", "event.outcome:forbid"),
    ("one user", "user.name:alice*"),
    ("exec by people", "kubernetes.subresource:exec AND NOT user.name:system*"),
)
PER_MINUTE = 200  # a little under what the demo cluster logs, so enough minutes are made


def build(config: Config, count: int) -> None:
    events, state = open_stores(config)
    try:
        have = events.count(compile_query("*", events.dialect), 0, 2**62)
        if have >= count:
            print(f"store: {have:,} events in {config.data_dir} (reused)")
            return
        minutes = count // PER_MINUTE + 1
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
        intake = state.create_intake(f"bench-{now_micros()}", secret_hash(new_secret("kti")))
        started = time.perf_counter()
        source = lines(minutes, 11, start)
        written = 0
        while written < count and (batch := list(islice(source, min(5000, count - written)))):
            now = now_micros()
            events.append([prepare(b.decode(), intake.id, intake.name, None, now) for b in batch])
            written += len(batch)
        took = time.perf_counter() - started
        print(f"store: built {written:,} events over {minutes / 60:.0f} h in {took:.0f} s")
    finally:
        events.close()
        state.close()


def timed(client: TestClient, path: str, params: dict[str, str], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        reply = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default="data/bench-web")
    args = parser.parse_args()
    config = Config(data_dir=args.data)
    Path(args.data).mkdir(parents=True, exist_ok=True)
    build(config, args.events)

    secret = new_secret("ktt")
    _, state = open_stores(config)
    state.create_token(f"bench-{now_micros()}", Role.VIEWER, secret_hash(secret))
    state.close()
    # detection off: its process would compete for the CPU with the requests measured
    app = create_app(config, detection=False)
    with TestClient(app, follow_redirects=False) as client:
        form = client.get("/login").text
        nonce = re.search(r'name="nonce" value="([^"]*)"', form)
        assert nonce is not None
        client.post("/login", data={"token": secret, "nonce": nonce.group(1)})
        api = {"Authorization": f"Bearer {secret}"}
        print(f"\n{'search':<24}{'page':>9}{'API':>9}{'ratio':>7}{'histogram':>11}{'facets':>9}")
        for name, query in SEARCHES:
            params = {"q": query, "from": "now-24h", "to": "now"}
            page = timed(client, "/events", params, args.rounds)
            client.headers.update(api)
            base = timed(client, "/api/v1/events", {**params, "limit": "50"}, args.rounds)
            del client.headers["Authorization"]
            hist = timed(client, "/events/histogram", params, args.rounds)
            facets = timed(client, "/events/facets", params, max(1, args.rounds // 2))
            print(
                f"{name:<24}{page:>7.1f}ms{base:>7.1f}ms{page / base:>6.2f}x"
                f"{hist:>9.1f}ms{facets:>7.0f}ms"
            )
    print("\n(median server time per request; page = table of 50 events with the drawer shut)")


if __name__ == "__main__":
    main()
