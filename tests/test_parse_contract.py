"""The parser against the three events of the product brief, field for field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kubetrail.parse import normalize
from tests.conftest import BRIEF_CASES, load_case


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def canon(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(
            (canon(v) for v in value), key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        )
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("name", BRIEF_CASES)
def test_brief_case_field_for_field(name: str) -> None:
    case = load_case(name)
    got = flatten(normalize(case["input"]["message"]))
    want = flatten(case["expected"])
    for field, value in want.items():
        assert field in got, f"missing {field}"
        assert canon(got[field]) == canon(value), field
    extra = {
        f for f in got.keys() - want.keys() if not f.startswith(("kubetrail.", "kubernetes.api."))
    }
    assert not extra, f"fields beyond the contract: {extra}"


@pytest.mark.parametrize("name", BRIEF_CASES)
def test_bytes_and_text_give_the_same_document(name: str) -> None:
    message = load_case(name)["input"]["message"]
    assert normalize(message.encode()) == normalize(message)
