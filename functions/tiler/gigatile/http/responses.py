"""The one response path: protocols hand over data and a cache policy, this builds the
Response with every header (Cache-Control, ETag, Last-Modified, 304, the X-* sizes, Vary,
Link). The edge middleware adds CORS and nosniff to every response, errors included,
with `cors_headers`, whose expose list is made from the same header names the responses
here send, so the two cannot drift; it also answers HEAD as GET without the body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..config import Settings
from ..sources.base import ObjectVersion

TILE_WIDTH, TILE_HEIGHT = "X-Tile-Width", "X-Tile-Height"  # a tile's size (edge tiles are smaller)
IMAGE_WIDTH, IMAGE_HEIGHT = "X-Image-Width", "X-Image-Height"  # a thumbnail's size
# Every response header that browser code may need to read, beyond the CORS-safelisted ones.
EXPOSED: tuple[str, ...] = ("ETag", "Last-Modified", "Content-Length", "Link", "Retry-After")
EXPOSED += (TILE_WIDTH, TILE_HEIGHT, IMAGE_WIDTH, IMAGE_HEIGHT)
PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "If-None-Match, Range, Content-Type",
    "Access-Control-Max-Age": "86400",
}


@dataclass(frozen=True)
class Cache:
    """How a response may be cached. `max_age` None: the tile lifetimes (settings.max_age in
    browsers, s_maxage in the CDN); `pinned`: the URL names the source version, so its bytes
    can never change and may be kept for a year."""

    etag: str
    version: ObjectVersion
    max_age: int | None = None
    pinned: bool = False

    def headers(self, settings: Settings) -> dict[str, str]:
        if self.pinned:
            control = "public, max-age=31536000, immutable"
        else:
            age = settings.max_age if self.max_age is None else self.max_age
            s_age = settings.s_maxage if self.max_age is None else self.max_age
            control = f"public, max-age={age}, s-maxage={s_age}"
        headers = {"Cache-Control": control, "ETag": self.etag}
        if self.version.last_modified is not None:
            headers["Last-Modified"] = http_date(self.version.last_modified)
        return headers


@functools.lru_cache(maxsize=4096)
def http_date(moment: datetime) -> str:
    """An HTTP date, made once per source version (format_datetime: ≈ 6 µs per request)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@dataclass(frozen=True)
class Body:
    """What a route produced: bytes or a JSON-able value, and headers of its own."""

    content: bytes | dict[str, object]
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def tile_size_headers(width: int, height: int) -> dict[str, str]:
    return {TILE_WIDTH: str(width), TILE_HEIGHT: str(height)}


def image_size_headers(width: int, height: int) -> dict[str, str]:
    return {IMAGE_WIDTH: str(width), IMAGE_HEIGHT: str(height)}


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def respond(
    request: Request, settings: Settings, cache: Cache, make: Callable[[], Body], headers: dict[str, str] | None = None
) -> Response:
    """304 when the client holds this ETag (nothing is read or rendered), else the body
    `make()` produces; `headers` (Vary, Link) go on both."""
    common = cache.headers(settings) | (headers or {})
    if not_modified(request, cache.etag):
        return Response(status_code=304, headers=common)
    body = make()
    common |= body.headers
    if isinstance(body.content, dict):
        return JSONResponse(body.content, headers=common, media_type=body.media_type)
    return Response(body.content, headers=common, media_type=body.media_type)


def cors_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": settings.cors_origin,
        "Access-Control-Expose-Headers": ", ".join(EXPOSED),
    }
    if settings.cors_origin != "*":
        headers["Vary"] = "Origin"
    return headers
