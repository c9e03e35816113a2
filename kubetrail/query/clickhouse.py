"""The ClickHouse dialect: `%(pN)s` placeholders (clickhouse-driver and clickhouse-connect's
client-side binding), JSONExtract* functions on the `doc String` column, LIKE for wildcards.

JSON path elements are bound parameters like every value. Assumed table (a later issue creates
it): the hot columns of `HOT_FIELDS`, text ones as non-nullable `LowCardinality(String)` (so
"is set" means not empty), `status_code Nullable(UInt16)`, `ts DateTime64(6)`, `parse_error
UInt8`, `doc String`, `message String`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import orjson

from kubetrail.query.dialect import Bind, Dialect, Json, Params, Scalar
from kubetrail.query.fields import HotType
from kubetrail.query.tree import Piece, Wild

_LIKE_LITERAL = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
_LIKE_WILD = {Wild.ANY: "%", Wild.ONE: "_"}


class ClickHouseDialect(Dialect):
    name: ClassVar[str] = "clickhouse"

    def placeholder(self, index: int) -> str:
        return f"%(p{index})s"

    def params(self, values: Sequence[object]) -> Params:
        return {f"p{index}": value for index, value in enumerate(values)}

    def column_is_set(self, column: str, type_: HotType) -> str:
        return f"{column} != ''" if type_ == "text" else f"{column} IS NOT NULL"

    def time_value(self, placeholder: str) -> str:
        return f"fromUnixTimestamp64Micro({placeholder})"

    def as_text(self, expr: str) -> str:
        return f"toString({expr})"

    def _args(self, value: Json, bind: Bind) -> str:
        return ", ".join([value.source, *(bind(part) for part in value.path)])

    def json_equals(self, value: Json, candidates: Sequence[Scalar], bind: Bind) -> str:
        # the raw JSON text of the value against each candidate encoded as JSON: one test
        # that keeps types apart ("403" the string, 403 the number, true the boolean)
        raw = f"JSONExtractRaw({self._args(value, bind)})"
        encoded = [bind(orjson.dumps(c).decode()) for c in candidates]
        if len(encoded) == 1:
            return f"{raw} = {encoded[0]}"
        return f"{raw} IN ({', '.join(encoded)})"

    def json_as_text(self, value: Json, bind: Bind) -> str:
        return self.json_text(value, bind)

    def json_text(self, value: Json, bind: Bind) -> str:
        return f"JSONExtract({self._args(value, bind)}, 'Nullable(String)')"

    def json_number(self, value: Json, bind: Bind) -> str:
        return f"JSONExtract({self._args(value, bind)}, 'Nullable(Float64)')"

    def json_exists(self, value: Json, bind: Bind) -> str:
        if not value.path:  # an element of a list: present, so set unless null
            return f"{value.source} != 'null'"
        return f"JSONHas({self._args(value, bind)})"

    def any_element(self, array: Json, alias: str, predicate: Callable[[], str], bind: Bind) -> str:
        test = predicate()
        return f"arrayExists({alias} -> {test}, JSONExtractArrayRaw({self._args(array, bind)}))"

    @staticmethod
    def like(pieces: Sequence[Piece]) -> str:
        return "".join(
            _LIKE_WILD[p] if isinstance(p, Wild) else p.translate(_LIKE_LITERAL) for p in pieces
        )

    def matches(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        return f"{expr} LIKE {bind(self.like(pieces))}"

    def matches_ignoring_case(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        return f"{expr} ILIKE {bind(self.like(pieces))}"

    def contains_ignoring_case(self, expr: str, text: str, bind: Bind) -> str:
        return f"positionCaseInsensitiveUTF8({expr}, {bind(text)}) > 0"

    def negate(self, predicate: str) -> str:
        return f"NOT ifNull({predicate}, 0)"
