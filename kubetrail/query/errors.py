"""The exceptions of the query language, rooted in one type.

    QueryError
      QuerySyntaxError   the text is not a query, or names a field or value it cannot use

Every error carries the 0-based character position of the problem, so that a search box can
point at it; `caret()` renders the query with a `^` under that position.
"""

from __future__ import annotations


class QueryError(ValueError):
    """A query that cannot be run; the root of the query language's errors."""


class QuerySyntaxError(QueryError):
    """`text` is not a valid query: `message` says why, `position` (0-based) says where.

    For a query that ends too early the position is `len(text)`.
    """

    def __init__(self, message: str, position: int, text: str = "") -> None:
        self.message = message
        self.position = max(0, min(position, len(text))) if text else max(0, position)
        self.text = text
        super().__init__(f"{message} at position {self.position}")

    def caret(self) -> str:
        """The query on one line and a `^` under the position, for a terminal or a <pre>."""
        line = self.text.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * self.position}^"
