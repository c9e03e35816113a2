"""Templates to HTML responses, with the headers every page carries.

Event content is untrusted: Jinja2's autoescape is on for every template, nothing is marked
safe, and the Content-Security-Policy allows only the package's own script and style files,
so even a missed escape could not run inline script or load anything from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from starlette.responses import HTMLResponse

from kubetrail.store.sqlite.events import iso_us

HERE: Final = Path(__file__).parent
STATIC_DIR: Final = HERE / "static"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _url(path: str, params: dict[str, Any]) -> str:
    """`path?params` without the empty ones: short, shareable URLs."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept, doseq=True)}" if kept else path


def events_url(state: dict[str, Any], path: str = "/events", **changes: Any) -> str:
    """The events page of the search `state` with some of its parameters changed."""
    return _url(path, {**state, **changes})


ENV: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its file name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals["url"] = _url
ENV.globals["events_url"] = events_url
ENV.filters["iso"] = iso_us


def html(name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    body = ENV.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
