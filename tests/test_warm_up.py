"""`gigatile serve`'s warm-up (cli.WARM_PATHS): one request into every route but the top
collections, so that no route does its first-request work in a client's request; each
refused before anything is read from the source."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.routing import APIRoute
from starlette.routing import Match

from gigatile.app import create_app
from gigatile.cli import WARM_PATHS
from gigatile.config import Settings

# Any existing folder does as the source: every warm-up request is refused before a read.
APP = create_app(Settings.from_env({"GIGATILE_SOURCE": str(Path(__file__).parent)}))


def route_of(path: str) -> str:
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return next(route.path for route in APP.routes if route.matches(scope)[0] == Match.FULL)


def status_of(path: str) -> int:
    """The status of GET `path` sent as the warm-up sends it: the raw path, no client
    normalising `/./` away."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
    }  # fmt: skip
    sent: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    asyncio.run(APP(scope, receive, send))
    return sent[0]


def test_the_warm_up_reaches_every_route_but_the_top_collections():
    routes = {route.path for route in APP.routes if isinstance(route, APIRoute)}
    top_collections = {"/iiif/3/collection.json", "/iiif/2/collection.json"}
    assert top_collections <= routes
    reached = [route_of(path) for path in WARM_PATHS]
    assert len(set(reached)) == len(reached)  # one request a route
    assert set(reached) == routes - top_collections


def test_the_warm_up_requests_are_refused_but_health_and_the_viewer_page():
    statuses = {path: status_of(path) for path in WARM_PATHS}
    assert statuses == {path: 200 if path in ("/health", "/viewer/-") else 400 for path in WARM_PATHS}
