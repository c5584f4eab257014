"""Cache headers for successful responses, conditional requests, and CORS."""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime

from fastapi import Request, Response

from ..config import Settings
from ..sources.base import ObjectVersion

EXPOSED = "ETag, Last-Modified, X-Tile-Width, X-Tile-Height, Content-Length"


def cache_headers(settings: Settings, etag: str, version: ObjectVersion, pinned: bool, max_age: int | None = None):
    """Cache-Control, ETag, Last-Modified. `pinned`: the URL names the source version, so
    its bytes can never change and may be kept for a year."""
    if pinned:
        control = "public, max-age=31536000, immutable"
    else:
        age = settings.max_age if max_age is None else max_age
        s_age = settings.s_maxage if max_age is None else max_age
        control = f"public, max-age={age}, s-maxage={s_age}"
    headers = {"Cache-Control": control, "ETag": etag}
    if version.last_modified is not None:
        headers["Last-Modified"] = format_datetime(version.last_modified.astimezone(UTC), usegmt=True)
    return headers


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def not_modified_response(headers: dict) -> Response:
    return Response(status_code=304, headers=headers)


def cors_headers(settings: Settings) -> dict:
    headers = {
        "Access-Control-Allow-Origin": settings.cors_origin,
        "Access-Control-Expose-Headers": EXPOSED,
    }
    if settings.cors_origin != "*":
        headers["Vary"] = "Origin"
    return headers
