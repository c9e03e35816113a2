"""The agent's counters, per configured log file, and a Prometheus text endpoint for them."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

COUNTERS: Final[dict[str, str]] = {
    "lines_read": "Lines read from the log files (error events included)",
    "lines_shipped": "Lines acknowledged by the intake",
    "error_events": "Lines sent as error events (too long or not UTF-8)",
    "intake_rejected": "Lines the intake refused individually",
    "retries": "Requests to the intake that failed and were retried",
    "files_lost": "Rotated files that vanished before they were read to their end",
    "errors": "Read errors",
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self.gauges: dict[str, Callable[[], float]] = {}

    def add(self, name: str, logfile: str = "", n: int = 1) -> None:
        with self._lock:
            self._counts[(name, logfile)] += n

    def get(self, name: str, logfile: str | None = None) -> int:
        with self._lock:
            return sum(
                v for (k, f), v in self._counts.items() if k == name and logfile in (None, f)
            )

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            counts = dict(self._counts)
        for name, help_ in COUNTERS.items():
            metric = f"kubetrail_agent_{name}_total"
            out += [f"# HELP {metric} {help_}", f"# TYPE {metric} counter"]
            for (key, logfile), value in sorted(counts.items()):
                if key == name:
                    label = logfile.replace("\\", "\\\\").replace('"', '\\"')
                    out.append(f'{metric}{{file="{label}"}} {value}')
        for name, fn in self.gauges.items():
            metric = f"kubetrail_agent_{name}"
            out += [f"# TYPE {metric} gauge", f"{metric} {fn():g}"]
        return "\n".join(out) + "\n"


def serve_metrics(metrics: Metrics, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104 - scraped from outside the pod
    """Serve /metrics on `port` from a daemon thread; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
