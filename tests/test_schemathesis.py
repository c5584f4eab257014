"""Schemathesis against the app's own OpenAPI schema: generated requests for every
operation; no response may be a 500 (a 502/503/504 would be an S3 or deadline answer,
which the local source here never gives), and every error is the JSON error body."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from gigatile.app import create_app
from gigatile.config import Settings

FIXTURES = Path(__file__).resolve().parent / "fuzz" / "corpus" / "images"


# The fixture images as the source (the default folder may not exist).
APP = create_app(Settings.from_env({"GIGATILE_SOURCE": str(FIXTURES)}))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
    if response.status_code >= 400 and case.method != "HEAD":  # HEAD: the same headers, no body
        assert response.json()["error"]["code"]
