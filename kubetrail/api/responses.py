"""JSON responses rendered by orjson.

Starlette's JSONResponse renders with the standard library's encoder: for a page of 100
events (~2 KB each) that took a few milliseconds of the event loop's time, and each intake
request's list of ids was encoded the same way. orjson writes the same compact JSON (UTF-8
kept as is) several times faster. A value it cannot write (an int past 64 bits, which an
event's body may hold) falls back to the standard encoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette import responses


class JSONResponse(responses.JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().render(content)
