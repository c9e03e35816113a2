"""`kubetrail parse` on the inputs operators have: logs, rotated .gz, EventList, stdin."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.demo.generate import lines
from tests.conftest import BRIEF_CASES, load_case

MESSAGES = [load_case(name)["input"]["message"].rstrip("\n") for name in BRIEF_CASES]
IDS = [orjson.loads(m)["auditID"] for m in MESSAGES]


def run(*args: str, stdin: bytes | None = None) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(cli, ["parse", *args], input=stdin)
    docs = [orjson.loads(line) for line in result.stdout_bytes.splitlines() if line.strip()]
    return result.exit_code, docs, result.stderr


def codes(docs: list[dict[str, object]]) -> list[object]:
    return [d.get("event", {}).get("code") for d in docs]  # type: ignore[attr-defined]


def test_a_log_of_one_event_per_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("\n".join(MESSAGES) + "\n")
    status, docs, _ = run(str(log))
    assert status == 0
    assert codes(docs) == IDS
    assert docs[0]["message"] == MESSAGES[0] + "\n"


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    rotated = tmp_path / "audit-2025-01-23T14-56-02.000.log"  # no .gz suffix
    rotated.write_bytes(gzip.compress(("\n".join(MESSAGES) + "\n").encode()))
    status, docs, _ = run(str(rotated))
    assert status == 0
    assert codes(docs) == IDS


@pytest.mark.parametrize("indent", [False, True])
def test_an_eventlist_document(tmp_path: Path, indent: bool) -> None:
    event_list = {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": [orjson.loads(m) for m in MESSAGES],
    }
    path = tmp_path / "webhook-batch.json"
    path.write_bytes(orjson.dumps(event_list, option=orjson.OPT_INDENT_2 if indent else 0))
    status, docs, _ = run(str(path))
    assert status == 0
    assert codes(docs) == IDS


def test_stdin_when_no_file() -> None:
    status, docs, _ = run(stdin=("\n".join(MESSAGES)).encode())
    assert status == 0
    assert codes(docs) == IDS


def test_errors_are_kept_counted_and_located(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(f"{MESSAGES[0]}\nnot json at all\n{MESSAGES[1]}\n[1,2]\n")
    status, docs, stderr = run(str(log))
    assert status == 0
    assert len(docs) == 4
    assert docs[1]["message"] == "not json at all\n"
    assert docs[1]["kubetrail"]["parse_error"].startswith("not JSON")  # type: ignore[index]
    assert f"{log}:2: not JSON" in stderr
    assert f"{log}:4: not a JSON object" in stderr
    assert "2 of 4 events did not parse" in stderr


def test_strict_fails_on_any_error(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(f"{MESSAGES[0]}\nnot json\n")
    assert run("--strict", str(log))[0] == 1
    log.write_text(f"{MESSAGES[0]}\n")
    assert run("--strict", str(log))[0] == 0


def test_describe_adds_the_sentence_under_kubetrail(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(MESSAGES[0] + "\n")
    _, docs, _ = run("--describe", str(log))
    assert "executed a command" in docs[0]["kubetrail"]["description"]  # type: ignore[index]


def test_missing_file_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["parse", "/nonexistent/audit.log"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_summary_counts_the_demo_log(tmp_path: Path) -> None:
    log = tmp_path / "demo.log.gz"
    with gzip.open(log, "wb") as out:
        for line in lines(minutes=5, seed=3):
            out.write(
                line + b"\nnot an event\n"
                if line.startswith(b"{") and b'"watch"' in line
                else line + b"\n"
            )
    result = CliRunner().invoke(cli, ["parse", "--summary", str(log)])
    assert result.exit_code == 0
    assert "events per verb" in result.stdout
    assert "leases" in result.stdout
    assert "parse errors" in result.stdout


def test_the_console_script_streams_a_big_gz_in_constant_memory(tmp_path: Path) -> None:
    """200k events through the real command, measuring the child's peak RSS."""
    log = tmp_path / "big.log.gz"
    with gzip.open(log, "wb", compresslevel=1) as sink:
        for _ in range(16):
            for line in lines(minutes=60, seed=1):
                sink.write(line + b"\n")
    script = (
        "import resource, subprocess, sys\n"
        f"p = subprocess.run([sys.executable, '-m', 'kubetrail', 'parse', {str(log)!r}],"
        " stdout=subprocess.DEVNULL)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    code, max_rss_kib = map(int, out.stdout.split())
    assert code == 0
    assert max_rss_kib < 150 * 1024
