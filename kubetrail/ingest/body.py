"""Read a request body within its size limit, gunzipping when asked, bounded both ways.

The limit applies to the decompressed size as well, and decompression stops as soon as it is
passed: a small gzip bomb never becomes a large allocation.
"""

from __future__ import annotations

import zlib

from starlette.requests import Request

from kubetrail.api.errors import ApiError

# content types a JSON route refuses (415): what is clearly not a JSON body
_NOT_JSON = ("multipart/", "image/", "audio/", "video/", "application/xml", "text/html")


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip(body, max_bytes)
    raise ApiError(
        415,
        "unsupported_encoding",
        f"Content-Encoding {encoding!r} is not supported: send identity or gzip",
    )


def gunzip(data: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ApiError(400, "bad_gzip", f"the body is not valid gzip: {exc}") from None
    if len(out) > max_bytes:
        raise _too_large(max_bytes, decompressed=True)
    if not inflater.eof:
        raise ApiError(400, "bad_gzip", "the gzip body is truncated")
    return out


def _too_large(max_bytes: int, decompressed: bool = False) -> ApiError:
    what = "decompressed body" if decompressed else "body"
    return ApiError(
        413,
        "request_too_large",
        f"the {what} is over the {max_bytes}-byte limit",
        limit_bytes=max_bytes,
    )


def check_json_content_type(request: Request) -> None:
    kind = request.headers.get("content-type", "").lower()
    if kind.startswith(_NOT_JSON):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"this route takes a JSON body, not {kind.split(';')[0]!r}",
        )
