"""Validation of image ids: a key relative to the source prefix, and nothing more."""

from __future__ import annotations

from ..errors import InvalidImageId

MAX_ID_LENGTH = 1024


def validate_image_id(image_id: str) -> str:
    """Refuse anything that could leave the prefix or confuse a store; return the id."""
    if not image_id:
        raise InvalidImageId("image id is empty")
    if len(image_id) > MAX_ID_LENGTH:
        raise InvalidImageId(f"image id is longer than {MAX_ID_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in image_id):
        raise InvalidImageId("image id contains control characters")
    if "\\" in image_id:
        raise InvalidImageId("image id contains a backslash")
    if image_id.startswith("/") or "://" in image_id:
        raise InvalidImageId("image id must be relative to the source prefix")
    if any(part in ("", ".", "..") for part in image_id.split("/")):
        raise InvalidImageId("image id has an empty, '.' or '..' path segment")
    return image_id
