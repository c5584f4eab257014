"""Encoders for the output formats, with the content type each produces."""

from __future__ import annotations

from ..errors import InvalidParameter

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
ALIASES = {"jpg": "jpeg"}
DEFAULT_QUALITY = 90  # when the request names none
AUTO = "auto"  # chosen per request from Accept: AVIF, else WebP, else JPEG


def normalize_format(name: str, allow_auto: bool = False) -> str:
    fmt = ALIASES.get(name.lower(), name.lower())
    if fmt not in MEDIA_TYPES and not (allow_auto and fmt == AUTO):
        names = [*MEDIA_TYPES, AUTO] if allow_auto else list(MEDIA_TYPES)
        raise InvalidParameter(f"format must be one of {', '.join(names)}, got {name!r}")
    return fmt


def negotiate(accept: str, hint: str = "") -> str:
    """The best format the client accepts. `hint` is a class a CDN already derived from
    Accept (X-Image-Format), so that its cache key holds three values, not every Accept."""
    if hint in ("avif", "webp", "jpeg"):
        return hint
    return "avif" if "image/avif" in accept else "webp" if "image/webp" in accept else "jpeg"


def encode(image, fmt: str, quality: int, keep_icc: bool = False) -> bytes:
    """Encode with metadata stripped (but for the ICC profile when `keep_icc`); JPEG has no
    alpha, so it is flattened onto white."""
    keep = "icc" if keep_icc else "none"
    if fmt == "jpeg":
        if image.bands in (2, 4):
            image = image.flatten(background=255)
        return image.jpegsave_buffer(Q=quality, keep=keep)
    if fmt == "png":
        return image.pngsave_buffer(compression=6, keep=keep)
    if fmt == "avif":
        # effort 2 of 0–9: AVIF's slowest settings cost seconds per tile.
        return image.heifsave_buffer(compression="av1", Q=quality, effort=2, keep=keep)
    return image.webpsave_buffer(Q=quality, keep=keep)
