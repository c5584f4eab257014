"""Encoders for the output formats, with the content type each produces."""

from __future__ import annotations

from ..errors import InvalidParameter

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
ALIASES = {"jpg": "jpeg"}


def normalize_format(name: str) -> str:
    fmt = ALIASES.get(name.lower(), name.lower())
    if fmt not in MEDIA_TYPES:
        raise InvalidParameter(f"format must be one of {', '.join(MEDIA_TYPES)}, got {name!r}")
    return fmt


def encode(image, fmt: str, quality: int) -> bytes:
    """Encode with metadata stripped; JPEG has no alpha, so it is flattened onto white."""
    if fmt == "jpeg":
        if image.bands in (2, 4):
            image = image.flatten(background=255)
        return image.jpegsave_buffer(Q=quality, keep="none")
    if fmt == "png":
        return image.pngsave_buffer(compression=6, keep="none")
    return image.webpsave_buffer(Q=quality, keep="none")
