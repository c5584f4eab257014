"""Settings are read once, at start, by one set of rules; every GET route answers HEAD with
the same headers and no body; browsers may read every header the routes send."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gigatile.config import ConfigError, Settings

HERE = str(Path(__file__).parent)


def settings(**env) -> Settings:
    return Settings.from_env({"GIGATILE_SOURCE": HERE, **{f"GIGATILE_{k}": str(v) for k, v in env.items()}})


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "On", " on "])
def test_one_boolean_rule_true(raw):
    assert settings(PASSTHROUGH=raw).passthrough is True
    assert settings(WARM_ON_INIT=raw).warm_on_init is True
    assert settings(CONVERTER=raw).converter is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "OFF"])
def test_one_boolean_rule_false(raw):
    assert settings(PASSTHROUGH=raw).passthrough is False


def test_defaults():
    s = settings()
    assert (s.passthrough, s.converter, s.warm_on_init, s.vips_concurrency) == (True, False, False, 1)
    assert s.source.kind == "local" and s.max_decode_pixels == 64_000_000


@pytest.mark.parametrize(
    "env,named",
    [
        ({"PASSTHROUGH": "maybe"}, "GIGATILE_PASSTHROUGH"),
        ({"MAX_AGE": "a day"}, "GIGATILE_MAX_AGE"),
        ({"DZ_OVERLAP": "3"}, "GIGATILE_DZ_OVERLAP"),
        ({"VIPS_CONCURRENCY": "0"}, "GIGATILE_VIPS_CONCURRENCY"),
        ({"MAX_AGES": "60"}, "GIGATILE_MAX_AGES"),  # a typo is not ignored
        ({"SIGNING_KEYS": "short"}, "GIGATILE_SIGNING_KEYS"),
        ({"SOURCE": "ftp://x"}, "GIGATILE_SOURCE"),
    ],
)
def test_a_malformed_or_unknown_setting_is_refused_by_name(env, named):
    with pytest.raises(ConfigError, match=named):
        settings(**env)


def test_lambda_init_fails_with_the_setting_name():
    """The handler module reads the settings at import (Lambda's init phase)."""
    env = {**os.environ, "GIGATILE_SOURCE": HERE, "GIGATILE_PASSTHRU": "1", "POWERTOOLS_TRACE_DISABLED": "1"}
    out = subprocess.run([sys.executable, "-c", "import gigatile.handler"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "ConfigError: unknown setting GIGATILE_PASSTHRU" in out.stderr, out.stderr[-500:]
    env.pop("GIGATILE_PASSTHRU")
    ok = subprocess.run([sys.executable, "-c", "import gigatile.handler"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-500:]


def test_cli_refuses_a_bad_setting(monkeypatch, capsys):
    from gigatile.cli import main

    monkeypatch.setenv("GIGATILE_SOURCE", HERE)
    monkeypatch.setenv("GIGATILE_SIGNING_KEYS", "k" * 32)
    monkeypatch.setenv("GIGATILE_MAX_RENDERS", "many")
    with pytest.raises(SystemExit, match="GIGATILE_MAX_RENDERS"):
        main(["token", "x.tif"])


def test_passthrough_true_is_on(configure):
    """GIGATILE_PASSTHROUGH=true once answered 500 "misconfigured" (a second boolean rule)."""
    tile = configure(GIGATILE_PASSTHROUGH="true").get(
        "/api/v1/image/tile", params={"path": "pyr.tif", "level": 5, "x": 1, "y": 1}
    )
    assert tile.status_code == 200


ROUTES = [
    "/api/v1/image/meta?path=pyr.tif",
    "/api/v1/image/tile?path=pyr.tif&level=5&x=1&y=2",
    "/api/v1/image/thumbnail?path=photo.jpg&width=100",
    "/dzi/pyr.tif.dzi",
    "/dzi/pyr.tif_files/12/3_4.jpeg",
    "/iiif/3/pyr.tif/info.json",
    "/iiif/3/pyr.tif/0,0,512,512/256,/0/default.jpg",
    "/iiif/2/pyr.tif/info.json",
    "/iiif/3/pyr.tif/manifest.json",
    "/iiif/2/pyr.tif/0,0,512,512/256,/0/default.jpg",
    "/health",
    "/viewer/pyr.tif",
    "/api/v1/image/tile?path=nope.tif&level=0&x=0&y=0",  # an error: the same on HEAD
]
# What browsers may read without being told (CORS-safelisted), and CORS' own.
SAFELISTED = {"cache-control", "content-language", "content-type", "expires", "last-modified", "pragma"}


@pytest.mark.parametrize("url", ROUTES)
def test_head_is_get_without_a_body(client, url):
    get, head = client.get(url), client.head(url)
    assert head.status_code == get.status_code and head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    for name in ("content-type", "cache-control", "etag", "last-modified", "x-tile-width", "x-image-width"):
        assert head.headers.get(name) == get.headers.get(name), name


@pytest.mark.parametrize("url", ROUTES)
def test_every_header_a_route_sends_is_exposed(client, url):
    response = client.get(url)
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    own = {
        name
        for name in response.headers
        if not name.startswith("access-control-") and name not in SAFELISTED | {"vary", "x-content-type-options"}
    }
    assert own <= exposed, own - exposed


def test_retry_after_is_exposed(configure, s3, images):
    """A 503 + Retry-After (a large JPEG waiting for its pyramid) can be read by the viewer."""
    client = configure(GIGATILE_MAX_DECODE_PIXELS=100_000, GIGATILE_CONVERT_MIN_PIXELS=100_000, GIGATILE_CONVERTER=1)
    response = client.get("/api/v1/image/tile", params={"path": "photo.jpg", "level": 3, "x": 0, "y": 0})
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    assert "Retry-After" in response.headers["access-control-expose-headers"]


def test_preflight_names_head(client):
    resp = client.options("/iiif/3/pyr.tif/info.json", headers={"Origin": "https://a.example"})
    assert resp.status_code == 204 and "HEAD" in resp.headers["access-control-allow-methods"]
