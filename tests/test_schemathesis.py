"""Schemathesis against the app's own OpenAPI schema: generated requests for every
operation; no response may be a 500 (a 502/503/504 would be an S3 or deadline answer,
which the local source here never gives), and every error is the JSON error body."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gigatile.app import app

FIXTURES = Path(__file__).resolve().parent / "fuzz" / "corpus" / "images"


def _load_schema():
    """Fetch /openapi.json with a source that exists (the default folder may not)."""
    import os

    from gigatile.config import get_settings

    saved = os.environ.get("GIGATILE_SOURCE")
    os.environ["GIGATILE_SOURCE"] = str(FIXTURES)
    get_settings.cache_clear()
    try:
        return schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        if saved is None:
            os.environ.pop("GIGATILE_SOURCE")
        else:
            os.environ["GIGATILE_SOURCE"] = saved
        get_settings.cache_clear()


schema = _load_schema()


@pytest.fixture(autouse=True)
def local_source(monkeypatch):
    from gigatile.config import get_settings
    from gigatile.service import get_tiler

    monkeypatch.setenv("GIGATILE_SOURCE", str(FIXTURES))
    get_settings.cache_clear()
    get_tiler.cache_clear()
    yield
    get_settings.cache_clear()
    get_tiler.cache_clear()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
    if response.status_code >= 400:
        assert response.json()["error"]["code"]
