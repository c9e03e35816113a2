"""Agent throughput, memory and latency: file -> `kubetrail agent` process -> HTTP intake.

    python -m bench.agent [--events 300000] [--latency-seconds 10]   (from the repository root)

1. Throughput: the events are written to audit.log first, then the agent is started; events/s
   is the count over the time until the intake stored the last one. The baseline, measured in
   the same run against the same intake, is the least any shipper must do: read the file and
   POST the same batches with one httpx client, no buffer, no checkpoint (goal >= 50k/s, and
   the ratio says what the agent's durability costs).
2. Peak RSS of the agent process (VmHWM; goal < 60 MB).
3. Latency at 1k events/s: a writer appends 1k lines/s; for each, from write to stored in the
   intake; p50/p99 (goal p99 < 2 s).

4. The issue's end-to-end figure: file -> agent -> a real `kubetrail serve` on loopback ->
   its embedded store, counted in events.db, on the same machine (so the agent, the service
   and its parse worker share its cores).

Runs 1-3 use the test suite's loopback fake intake (tests/agent/fake_intake.py), which keeps
the intake's cost small and the same for the agent and the baseline: they measure the agent.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from kubetrail.demo.generate import lines as demo_lines
from kubetrail.server.process import ServeProcess, cli, free_port
from tests.agent.fake_intake import FakeIntake
from tests.agent.harness import wait_for, write_config


def corpus(count: int) -> list[bytes]:
    out: list[bytes] = []
    for seed in itertools.count(1):
        for line in itertools.islice(demo_lines(minutes=60, seed=seed), count - len(out)):
            event = orjson.loads(line)
            event["auditID"] = f"bench-{len(out):09d}"
            out.append(orjson.dumps(event))
        if len(out) >= count:
            return out
    raise AssertionError("unreachable")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def agent_run(
    tmp: Path,
    url: str,
    key: str,
    stored: Callable[[], int],
    data: list[bytes],
    **settings: Any,
) -> tuple[float, float]:
    logdir = tmp / "log"
    logdir.mkdir(parents=True)
    (logdir / "audit.log").write_bytes(b"".join(line + b"\n" for line in data))
    config = write_config(tmp, url, key, logdir, **settings)
    argv = [sys.executable, "-m", "kubetrail", "agent", "--config", str(config)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: stored() >= len(data), timeout=600, step=0.05)
        elapsed = time.perf_counter() - start
        rss = peak_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    return len(data) / elapsed, rss


def baseline_run(intake: FakeIntake, data: list[bytes], batch: int = 2000) -> float:
    start = time.perf_counter()
    with httpx.Client(base_url=intake.url) as client:
        for i in range(0, len(data), batch):
            body = gzip.compress(b"\n".join(data[i : i + batch]), compresslevel=1)
            headers = {"X-SEKOIAIO-INTAKE-KEY": intake.key, "Content-Encoding": "gzip"}
            client.post("/plain/batch", content=body, headers=headers).raise_for_status()
    return len(data) / (time.perf_counter() - start)


def latency_run(tmp: Path, intake: FakeIntake, data: list[bytes], seconds: int) -> list[float]:
    logdir = tmp / "log"
    logdir.mkdir(parents=True)
    config = write_config(tmp, intake.url, intake.key, logdir, flush_interval=0.25)
    argv = [sys.executable, "-m", "kubetrail", "agent", "--config", str(config)]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    written: dict[str, float] = {}
    try:
        time.sleep(1.0)
        with open(logdir / "audit.log", "ab") as log:
            start = time.monotonic()
            for i, line in enumerate(data[: seconds * 1000]):
                due = start + i / 1000
                if (pause := due - time.monotonic()) > 0:
                    time.sleep(pause)
                log.write(line + b"\n")
                log.flush()
                digest = hashlib.sha256(intake.key.encode() + b"\0" + line).hexdigest()
                written[digest] = time.monotonic()
        wait_for(lambda: all(d in intake.stored_at for d in written), timeout=60)
    finally:
        proc.terminate()
        proc.wait(30)
    return sorted(intake.stored_at[d] - t for d, t in written.items() if d in intake.stored_at)


def real_intake_run(tmp: Path, data: list[bytes], **settings: Any) -> float:
    folder = tmp / "service"
    key = cli(folder, "intakes", "create", "bench")
    server = ServeProcess(folder, free_port(), env={"KUBETRAIL_RETENTION_DAYS": "36500"}).start()
    events = sqlite3.connect(folder / "events.db")

    def stored() -> int:
        count: int = events.execute("SELECT count(*) FROM events").fetchone()[0]
        return count

    try:
        rate, _ = agent_run(tmp / "agent", server.url, key, stored, data, **settings)
    finally:
        events.close()
        server.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--batch-max-lines", type=int, help="agent setting (default: its own)")
    parser.add_argument("--batch-max-bytes", type=int, help="agent setting (default: its own)")
    args = parser.parse_args()
    print(f"generating {args.events:,} events ...", flush=True)
    data = corpus(args.events)
    print(f"corpus: {sum(map(len, data)) / len(data):,.0f} bytes per event on average")
    with tempfile.TemporaryDirectory() as tmp:
        base_intake = FakeIntake()
        base_intake.start()
        base = baseline_run(base_intake, data)
        base_intake.stop()
        intake = FakeIntake()
        intake.start()
        settings = {k: v for k, v in vars(args).items() if k.startswith("batch_") and v is not None}
        ours, rss = agent_run(
            Path(tmp) / "throughput",
            intake.url,
            intake.key,
            lambda: len(intake.store),
            data,
            **settings,
        )
        intake.stop()
        print(f"agent (file -> disk buffer -> intake): {ours:,.0f} events/s (goal >= 50,000)")
        print(f"baseline (read + POST, no durability): {base:,.0f} events/s")
        print(f"ratio: {ours / base:.2f}")
        print(f"agent peak RSS: {rss:,.1f} MiB (goal < 60)")
        intake = FakeIntake()
        intake.start()
        delays = latency_run(Path(tmp) / "latency", intake, data, args.latency_seconds)
        intake.stop()
        real = real_intake_run(Path(tmp) / "real", data, **settings)
        print(
            f"file -> agent -> kubetrail serve -> embedded store: {real:,.0f} events/s "
            "(same machine)"
        )
    if delays:
        p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99)]
        print(
            f"latency at 1k events/s over {len(delays):,} events: p50 {p50 * 1000:,.0f} ms,"
            f" p99 {p99 * 1000:,.0f} ms (goal p99 < 2000 ms)"
        )


if __name__ == "__main__":
    main()
