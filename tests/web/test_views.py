"""The pieces of the pages that need no browser: query edits, sessions, export cells."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from kubetrail.query import SqliteDialect, compile_query
from kubetrail.web.events import bars, csv_rows, flatten, refine, top_values
from kubetrail.web.session import LIFETIME_S, SessionError, Signer, load_secret

HOSTILE_VALUES = [
    'a"b',
    "back\\slash",
    "<script>alert(1)</script>",
    "sys*",  # a wildcard in a clicked value is literal
    "two words",
    "x) OR (user.name:*",
    "",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("base", ["", "*", "verb:get OR verb:list"])
def test_a_clicked_value_becomes_exactly_that_value_in_the_query(base: str, value: str) -> None:
    compiled = compile_query(refine(base, "user.name", value), SqliteDialect())
    assert isinstance(compiled.params, list) and compiled.params[-1] == value
    assert compiled.where.endswith("user_name = ?)") or compiled.where == "user_name = ?"
    excluded = compile_query(refine(base, "user.name", value, exclude=True), SqliteDialect())
    assert isinstance(excluded.params, list) and excluded.params[-1] == value
    assert "NOT" in excluded.where


def test_a_number_is_compared_as_a_number() -> None:
    compiled = compile_query(refine("", "http.response.status_code", 403), SqliteDialect())
    assert compiled.params == [403]


def test_the_drawer_flattens_the_document_and_marks_what_can_be_filtered() -> None:
    doc: dict[str, Any] = {
        "message": "{}",
        "user": {"name": "alice", "roles": ["dev", "ops"]},
        "kubernetes": {"spec": {"containers": [{"image": "nginx"}]}},
        "kubetrail": {"event_id": "ab"},
    }
    fields = {f.name: f for f in flatten(doc)}
    assert "message" not in fields
    assert fields["user.name"].value == "alice" and fields["user.name"].filterable
    assert fields["user.roles"].value == "dev, ops"
    assert fields["kubernetes.spec.containers"].value == '[{"image":"nginx"}]'
    assert not fields["kubetrail.event_id"].filterable


def test_histogram_bars_are_placed_by_time_and_scaled_to_the_peak() -> None:
    start, step = 1_000_000_000, 10_000_000
    shown = bars([(start, 5), (start + 5 * step, 10)], start, start + 10 * step, step)
    assert [b.x for b in shown] == [0.0, 50.0]
    assert [b.height for b in shown] == [50.0, 100.0]
    assert bars([], start, start + step, step) == []


@pytest.mark.parametrize(
    ("user", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-cmd", "'-cmd"),
        ("@sum", "'@sum"),
        ("alice", "alice"),
    ],
)
def test_csv_export_keeps_formulas_as_text(user: str, cell: str) -> None:
    event = {
        "@timestamp": "2025-09-14T09:00:00.000000Z",
        "user": {"name": user},
        "kubetrail": {"event_id": "ab"},
    }
    text = "".join(csv_rows([event], ["time", "user"]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Time", "User", "event_id"]
    assert rows[1] == ["2025-09-14 09:00:00.000", cell, "ab"]


def test_csv_export_of_nothing_is_the_header() -> None:
    assert "".join(csv_rows([], ["time"])) == "Time,event_id\r\n"


def test_session_cookie_round_trips_and_refuses_forgery_and_age(tmp_path: Path) -> None:
    signer = Signer(load_secret(tmp_path))
    cookie = signer.issue("f" * 64, now=1000)
    session = signer.read(cookie, now=1001)
    assert session.token_hash == "f" * 64
    body, mac = cookie.rsplit(".", 1)
    forged = Signer(b"another key").issue("f" * 64, now=1000)
    for bad in ("", "garbage", body + ".AAAA", forged, body[:-2] + "xy." + mac):
        with pytest.raises(SessionError):
            signer.read(bad, now=1001)
    with pytest.raises(SessionError, match="expired"):
        signer.read(cookie, now=1000 + LIFETIME_S + 1)


def test_csrf_token_belongs_to_one_session(tmp_path: Path) -> None:
    signer = Signer(load_secret(tmp_path))
    one = signer.read(signer.issue("a" * 64))
    two = signer.read(signer.issue("a" * 64))
    signer.check_csrf(one, signer.csrf(one))
    for sent in (None, "", signer.csrf(two)):
        with pytest.raises(SessionError):
            signer.check_csrf(one, sent)


def test_the_signing_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    key = load_secret(tmp_path)
    assert load_secret(tmp_path) == key and len(key) == 32
    assert (tmp_path / "web-session.key").stat().st_mode & 0o077 == 0


def test_facet_values_count_list_elements_and_keep_numbers() -> None:
    events: list[dict[str, Any]] = [
        {"user": {"roles": ["dev", "ops"]}, "http": {"response": {"status_code": 403}}},
        {"user": {"roles": ["dev"]}, "http": {"response": {"status_code": 200}}},
        {"user": {}, "http": {"response": {"status_code": 403}}},
        {"kubetrail": {"intake": "prod"}},
    ]
    assert top_values(events, "user.roles") == [("dev", 2), ("ops", 1)]
    assert top_values(events, "http.response.status_code") == [(403, 2), (200, 1)]
    assert top_values(events, "intake") == [("prod", 1)]
    assert top_values(events, "user.roles", size=1) == [("dev", 2)]
