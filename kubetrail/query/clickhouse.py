"""The ClickHouse dialect: `%(pN)s` placeholders (clickhouse-driver's client-side binding),
the document as flattened arrays, LIKE for wildcards.

It is written for every ClickHouse from 18.16 (Debian's) on, which has no JSONExtract*, no
ILIKE and no DateTime64. So the table (kubetrail.store.clickhouse.schema) keeps the document
flattened: `doc_keys` holds the dotted path of every leaf (a list's elements under the list's
own path; an object also gets an entry, `{}`, so it "is set"), `doc_values` the leaf as JSON
text. A test on a JSON field is "some entry at this path passes": `arrayExists` over the pair
of arrays, which also gives the "any element" meaning of lists. Objects are listed apart, by
path, in `doc_objects`: only `field:*` asks about them, and a facet or a test on a leaf need
not read a dozen object entries per event.

The fields of every audit event (`PATH_COLUMNS`: the user agent, roles, request path, ...) have
their entries in a column of their own instead, `Array(String)` of the same JSON texts: a
facet or a test on one of them reads that column, not the pairs of every field of every event
(a facet on `user.roles` over 10M events: 4.5 s through the pairs). Hot text columns are
non-nullable `String` (so "is set" means not empty), `status_code Nullable(UInt16)`, `ts Int64`
microseconds, `parse_error UInt8`, `message String`. Paths and values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Final

from kubetrail.query.dialect import Bind, Dialect, Json, Params, Scalar
from kubetrail.query.fields import HotType, split_lists
from kubetrail.query.tree import Piece, Wild

_LIKE_LITERAL = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
_LIKE_WILD = {Wild.ANY: "%", Wild.ONE: "_"}
KEYS_COLUMN = "doc_keys"
VALUES_COLUMN = "doc_values"
OBJECTS_COLUMN = "doc_objects"  # the path of every object in the document
# field -> its column of JSON texts: `String` ('' when absent) for a field that crosses no
# list, `Array(String)` for one that does (`LIST_PATHS`). Never renamed (they hold stored
# rows), only added to. Each column costs ingest (a column per insert, on both ends of the
# wire): redundant fields (source.address, related.*, action.outcome) stay in the pairs.
PATH_COLUMNS: Final[dict[str, str]] = {
    path: "f_" + path.replace(".", "__")
    for path in (
        "event.start",
        "url.path",
        "user.id",
        "user.roles",
        "kubernetes.rbacreason",
        "kubernetes.api.group",
        "kubernetes.role.name",
        "kubernetes.spec.host_network",
        "kubernetes.spec.containers.image",
        "kubernetes.spec.containers.securityContext.privileged",
        "kubernetes.spec.volumes.hostPath.path",
        "user_agent.original",
        "user_agent.name",
        "user_agent.version",
        "user_agent.os.name",
        "user_agent.os.version",
        "user_agent.device.name",
        "kubetrail.level",
        "kubetrail.stage",
        "kubetrail.exec.command",
    )
}
LIST_PATHS: Final = frozenset(path for path in PATH_COLUMNS if len(split_lists(path)) > 1)


class ClickHouseDialect(Dialect):
    name: ClassVar[str] = "clickhouse"
    flattened: ClassVar[bool] = True

    def placeholder(self, index: int) -> str:
        return f"%(p{index})s"

    def params(self, values: Sequence[object]) -> Params:
        return {f"p{index}": value for index, value in enumerate(values)}

    def column_is_set(self, column: str, type_: HotType) -> str:
        return f"{column} != ''" if type_ == "text" else f"{column} IS NOT NULL"

    def as_text(self, expr: str) -> str:
        return f"toString({expr})"

    @staticmethod
    def _value(value: Json) -> str:
        # flattened: the compiler only asks about an entry's value (see `any_element`)
        assert value.element and not value.path, value
        return value.source

    @staticmethod
    def _string(raw: str) -> str:
        # a JSON string's text, decoded by the JSON reader every version has
        return f"visitParamExtractString(concat('{{\"v\":', {raw}, '}}'), 'v')"

    def json_equals(self, value: Json, candidates: Sequence[Scalar], bind: Bind) -> str:
        # the JSON text of the value against each candidate encoded as JSON: one test that
        # keeps types apart ("403" the string, 403 the number, true the boolean)
        raw = self._value(value)
        encoded = [bind(_json(c)) for c in candidates]
        if len(encoded) == 1:
            return f"{raw} = {encoded[0]}"
        return f"{raw} IN ({', '.join(encoded)})"

    def json_as_text(self, value: Json, bind: Bind) -> str:
        raw = self._value(value)
        return f"if(startsWith({raw}, '\"'), {self._string(raw)}, {raw})"

    def json_text(self, value: Json, bind: Bind) -> str:
        raw = self._value(value)
        return f"if(startsWith({raw}, '\"'), {self._string(raw)}, NULL)"

    def json_number(self, value: Json, bind: Bind) -> str:
        return f"toFloat64OrNull({self._value(value)})"  # NULL for strings, booleans, objects

    def json_exists(self, value: Json, bind: Bind) -> str:
        return f"{self._value(value)} != 'null'"

    def path_exists(self, field: str, bind: Bind) -> str:
        column = PATH_COLUMNS.get(field)
        if column is not None:
            if field in LIST_PATHS:
                return f"arrayExists(j -> j != 'null', {column})"
            return f"{column} NOT IN ('', 'null')"
        path = bind(field)
        # a leaf kept in the pairs, or an object (rows stored before `doc_objects` existed
        # have their objects in the pairs, as `{}`)
        return (
            f"(arrayExists((jk, j) -> jk = {path} AND j != 'null', {KEYS_COLUMN}, "
            f"{VALUES_COLUMN}) OR has({OBJECTS_COLUMN}, {path}))"
        )

    def any_element(self, array: Json, alias: str, predicate: Callable[[], str], bind: Bind) -> str:
        path_name = ".".join(array.path)
        column = PATH_COLUMNS.get(path_name)
        if column is not None:
            if path_name not in LIST_PATHS:  # the one value, when there is one
                column = f"if({column} = '', emptyArrayString(), [{column}])"
            return f"arrayExists({alias} -> ifNull({predicate()}, 0), {column})"
        path = bind(".".join(array.path))
        # ifNull: a lambda must return a plain UInt8 (a NULL comparison means "no")
        return (
            f"arrayExists(({alias}k, {alias}) -> {alias}k = {path} AND ifNull({predicate()}, 0),"
            f" {KEYS_COLUMN}, {VALUES_COLUMN})"
        )

    @staticmethod
    def like(pieces: Sequence[Piece]) -> str:
        return "".join(
            _LIKE_WILD[p] if isinstance(p, Wild) else p.translate(_LIKE_LITERAL) for p in pieces
        )

    def matches(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        return f"{expr} LIKE {bind(self.like(pieces))}"

    def matches_ignoring_case(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        return f"lowerUTF8({expr}) LIKE lowerUTF8({bind(self.like(pieces))})"

    def contains_ignoring_case(self, expr: str, text: str, bind: Bind) -> str:
        return f"positionCaseInsensitiveUTF8({expr}, {bind(text)}) > 0"

    def negate(self, predicate: str) -> str:
        return f"NOT ifNull({predicate}, 0)"


def _json(value: Scalar) -> str:
    import orjson

    return orjson.dumps(value).decode()
