"""Signed access (optional): an HMAC-SHA256 token per image id or id prefix, with an expiry.

Token: `EXP.SIG` for one image id, `EXP.SIG.PREFIX` for every id under PREFIX (base64url,
ends with "/"); SIG is HMAC-SHA256(key, "EXP:SCOPE"), base64url, 32 characters. All keys in
GIGATILE_SIGNING_KEYS verify (rotation: add the new key first, drop the old one after the
longest token lifetime); the first one signs. Viewers carry the token in the `token` query
key of every URL (OpenSeadragon copies the .dzi URL's query to its tiles), or as the first
path segment `t:TOKEN` of IIIF URLs, which info.json then keeps in its `id`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from fastapi import Request

from ..config import Settings
from ..errors import AccessDenied
from ..sources.ids import validate_image_id

SIG_CHARS = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _sig(key: str, expires: int, scope: str) -> str:
    return _b64(hmac.new(key.encode(), f"{expires}:{scope}".encode(), hashlib.sha256).digest())[:SIG_CHARS]


def sign(key: str, scope: str, expires: int) -> str:
    """A token for one image id, or for every id under `scope` when it ends with "/"."""
    token = f"{expires}.{_sig(key, expires, scope)}"
    return f"{token}.{_b64(scope.encode())}" if scope.endswith("/") else token


def verify(keys: tuple[str, ...], token: str | None, image_id: str, now: float | None = None) -> None:
    """Raise AccessDenied unless `token` is valid for `image_id` under one of `keys`."""
    if not token:
        raise AccessDenied("this image needs a token")
    parts = token.split(".")
    try:
        expires = int(parts[0])
        scope = _unb64(parts[2]) if len(parts) == 3 else image_id
    except (ValueError, UnicodeDecodeError):
        raise AccessDenied("malformed token") from None
    if len(parts) not in (2, 3) or (len(parts) == 3 and not scope.endswith("/")):
        raise AccessDenied("malformed token")
    if not image_id.startswith(scope):
        raise AccessDenied("the token is for another image")
    # Every key is tried, whatever matches, so timing tells nothing about which one did.
    matches = [hmac.compare_digest(_sig(key, expires, scope), parts[1]) for key in keys]
    if not any(matches):
        raise AccessDenied("invalid token")
    if expires < (time.time() if now is None else now):
        raise AccessDenied("the token has expired")


def require_access(settings: Settings, request: Request, image_id: str, token: str | None = None) -> None:
    """With signing keys configured, the request's token (path or `token` query key) must
    cover this image id; without keys, access is open."""
    keys = settings.signing_keys
    if keys:
        verify(keys, token or request.query_params.get("token"), validate_image_id(image_id))


def split_path_token(path: str) -> tuple[str | None, str]:
    """`t:TOKEN/REST` → (TOKEN, REST); any other path → (None, path)."""
    if path.startswith("t:") and "/" in path:
        first, rest = path.split("/", 1)
        return first[2:], rest
    return None, path
