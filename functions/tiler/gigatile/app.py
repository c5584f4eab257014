"""The FastAPI app: one code path for `gigatile serve` (uvicorn) and Lambda (Mangum).

`create_app(settings)` builds the app around one Tiler; routes reach it (and its
Settings) through `protocols.params.tiler_of(request)`, so nothing reads the environment
per request.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig

from . import __version__
from .config import Settings
from .http import errors as http_errors
from .http.edge import Edge
from .protocols import collection, deepzoom, iiif, simple
from .protocols.params import tiler_of
from .service import Tiler
from .vips import versions


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over `settings` (default: read from the environment now; a malformed or
    unknown GIGATILE_* variable raises ConfigError naming it)."""
    settings = Settings.from_env() if settings is None else settings
    # FastAPI's own OpenTelemetry off: gigatile traces with X-Ray and logs with Powertools
    # (observability.py), and with it on FastAPI asks OpenTelemetry for its providers on
    # every request (docs/performance.md, "Request path").
    telemetry = TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    app = FastAPI(title="gigatile", version=__version__, docs_url="/docs", redoc_url=None, telemetry=telemetry)
    app.state.tiler = Tiler(settings)
    http_errors.install(app)
    # The protocols' routes go straight into the app's own list (their paths already carry
    # their router's prefix and tags): this FastAPI keeps an included router as a branch
    # that it matches twice per request (docs/performance.md, "Request path"). They go
    # first, before FastAPI's own /openapi.json and /docs: routes are tried in order
    # (≈ 0.8 µs each). The IIIF catch-all routes after the collections.
    routers = [simple.router, deepzoom.router, *collection.routers, *iiif.routers]
    app.router.routes[:0] = [route for router in routers for route in router.routes]
    app.add_middleware(Edge, settings=settings)

    @app.get("/health")
    def health(request: Request):
        tiler = tiler_of(request)
        body = {"status": "ok", "gigatile": __version__, **versions(), "source": tiler.settings.source.describe()}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/viewer/{image_id:path}", response_class=HTMLResponse)
    def viewer(image_id: str):  # the page reads the id from its own URL
        page = resources.files("gigatile").joinpath("static/viewer.html").read_text()
        return HTMLResponse(page, headers={"Cache-Control": "public, max-age=300"})

    static = resources.files("gigatile").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
