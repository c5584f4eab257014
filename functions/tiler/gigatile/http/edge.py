"""The app's edge, as pure ASGI middleware (a BaseHTTPMiddleware cost about half of the
event loop's time per tile): the CDN origin check, one value per query key, CORS
preflight, CORS and nosniff headers on every response, HEAD answered as GET without the
body (every route answers both), and the last resort that turns a bug into a JSON 500 (the
traceback goes to the logs) while the next request is served."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import unquote_plus

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..observability import logger
from .errors import error_response
from .responses import PREFLIGHT, cors_headers


class Edge:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.secret = settings.origin_secret.encode()
        cors = cors_headers(settings)
        self.vary = cors.pop("Vary", "").encode()
        self.headers = [(k.lower().encode(), v.encode()) for k, v in cors.items()]
        self.headers.append((b"x-content-type-options", b"nosniff"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        head = scope["method"] == "HEAD"
        if head:  # every GET route answers HEAD: routed as GET, sent without the body
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": self._add_headers(message.get("headers", []))}
            elif head and message["type"] == "http.response.body":
                # The same headers, Content-Length included, and no body.
                message = {**message, "body": b""}
            await send(message)

        early = self._refusal(scope)
        if early is not None:
            await early(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:  # a bug, not bad input: log it, answer JSON, keep serving
            logger.exception("unhandled error", extra={"path": scope.get("path")})
            if started:
                raise
            await error_response(500, "internal_error", "internal error")(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        """What is answered here, before any route: a request that bypasses the CDN, a
        repeated query key, a CORS preflight."""
        if self.secret:
            sent = next((v for k, v in scope["headers"] if k == b"x-origin-verify"), b"")
            if not hmac.compare_digest(sent, self.secret):
                return error_response(403, "forbidden", "requests must come through the CDN")
        repeated = repeated_key(scope.get("query_string", b""))
        if repeated is not None:
            # One value per key: a CDN caches by the query string, and two readings of one URL
            # (first value here, last there) must not exist.
            return error_response(400, "invalid_parameter", f"{repeated} is repeated")
        if scope["method"] == "OPTIONS":
            return Response(status_code=204, headers=PREFLIGHT)
        return None

    def _add_headers(self, sent: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        headers = list(sent)
        if self.vary:
            for i, (key, value) in enumerate(headers):
                if key.lower() == b"vary":
                    headers[i] = (key, value + b", " + self.vary)
                    break
            else:
                headers.append((b"vary", self.vary))
        return headers + self.headers


def repeated_key(query: bytes) -> str | None:
    """The first key that `query` gives twice, keys read as Starlette reads them (parse_qsl,
    blank values kept), without decoding any value: parse_qsl cost ≈ 10 µs per tile URL."""
    names = [pair.partition("=")[0] for pair in query.decode("latin-1").split("&") if pair]
    names = [unquote_plus(n) if "%" in n or "+" in n else n for n in names]
    if len(set(names)) == len(names):
        return None
    return next(n for n in names if names.count(n) > 1)
