"""Output format of a request: explicit, or `auto` chosen from Accept (and then Vary)."""

from __future__ import annotations

from fastapi import Request

from ..imaging.encode import AUTO, negotiate, normalize_format


def output_format(request: Request, name: str) -> tuple[str, dict]:
    """(format, extra response headers). Explicit formats never vary."""
    fmt = normalize_format(name, allow_auto=True)
    if fmt != AUTO:
        return fmt, {}
    chosen = negotiate(request.headers.get("accept", ""), request.headers.get("x-image-format", ""))
    return chosen, {"Vary": "Accept, X-Image-Format"}
