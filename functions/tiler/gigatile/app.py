"""The FastAPI app: one code path for `gigatile serve` (uvicorn) and Lambda (Mangum)."""

from __future__ import annotations

import contextlib
import hmac
from importlib import resources

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from . import __version__
from .config import ConfigError, get_settings
from .http import errors as http_errors
from .http.caching import cors_headers
from .observability import logger
from .protocols import deepzoom, iiif, simple
from .vips import versions

PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "If-None-Match, Range, Content-Type",
    "Access-Control-Max-Age": "86400",
}


def _from_origin(request: Request) -> bool:
    secret = get_settings().origin_secret
    return not secret or hmac.compare_digest(request.headers.get("x-origin-verify", ""), secret)


def _repeated_parameter(request: Request) -> str | None:
    keys = [key for key, _ in request.query_params.multi_items()]
    return next((key for key in keys if keys.count(key) > 1), None)


def create_app() -> FastAPI:
    app = FastAPI(title="gigatile", version=__version__, docs_url="/docs", redoc_url=None)
    http_errors.install(app)
    app.include_router(simple.router)
    app.include_router(deepzoom.router)
    app.include_router(iiif.router)

    @app.middleware("http")
    async def edge(request: Request, call_next):
        """Origin check, CORS preflight, and the last resort that keeps tracebacks in the logs."""
        try:
            repeated = _repeated_parameter(request)
            if not _from_origin(request):
                response = http_errors.error_response(403, "forbidden", "requests must come through the CDN")
            elif repeated:
                # One value per key: a CDN caches by the query string, and two readings of one URL
                # (first value here, last there) must not exist.
                response = http_errors.error_response(400, "invalid_parameter", f"{repeated} is repeated")
            elif request.method == "OPTIONS":
                response = Response(status_code=204, headers=PREFLIGHT)
            else:
                response = await call_next(request)
        except ConfigError as exc:
            response = http_errors.error_response(500, "misconfigured", str(exc))
        except Exception:  # a bug, not bad input: log it, answer JSON, keep serving
            logger.exception("unhandled error", extra={"path": request.url.path})
            response = http_errors.error_response(500, "internal_error", "internal error")
        response.headers["X-Content-Type-Options"] = "nosniff"
        with contextlib.suppress(ConfigError):  # broken settings: the error body already says so
            for key, value in cors_headers(get_settings()).items():
                if key == "Vary" and "vary" in response.headers:
                    value = f"{response.headers['vary']}, {value}"
                response.headers[key] = value
        return response

    @app.get("/health")
    def health():
        settings = get_settings()
        body = {"status": "ok", "gigatile": __version__, **versions(), "source": settings.source.describe()}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/viewer/{image_id:path}", response_class=HTMLResponse)
    def viewer(image_id: str):  # the page reads the id from its own URL
        page = resources.files("gigatile").joinpath("static/viewer.html").read_text()
        return HTMLResponse(page, headers={"Cache-Control": "public, max-age=300"})

    static = resources.files("gigatile").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    return app


app = create_app()
