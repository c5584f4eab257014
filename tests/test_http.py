"""Cache headers, conditional requests, CORS, and what every bad request returns."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import pytest

from gigatile.http.edge import repeated_key

TILE = "/api/v1/image/tile"
META = "/api/v1/image/meta"
GOOD = {"path": "pyr.tif", "level": 5, "x": 2, "y": 3}


def test_health_reports_versions(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["libvips"].count(".") == 2 and body["pyvips"] and body["gigatile"]


def test_tile_cache_headers(client):
    resp = client.get(TILE, params=GOOD)
    assert resp.headers["cache-control"] == "public, max-age=86400, s-maxage=86400"
    assert resp.headers["etag"].startswith('"') and len(resp.headers["etag"]) == 34
    assert resp.headers["last-modified"].endswith(" GMT")
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "X-Tile-Width" in resp.headers["access-control-expose-headers"]


def test_versioned_url_is_immutable(client):
    version = client.get(META, params={"path": "pyr.tif"}).json()["version"]
    pinned = client.get(TILE, params={**GOOD, "v": version})
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = client.get(TILE, params={**GOOD, "v": "not-the-version"})
    assert "immutable" not in stale.headers["cache-control"]


def test_configured_lifetimes_and_origin(configure):
    client = configure(GIGATILE_MAX_AGE=60, GIGATILE_S_MAXAGE=600, GIGATILE_CORS_ORIGIN="https://viewer.example")
    resp = client.get(TILE, params=GOOD)
    assert resp.headers["cache-control"] == "public, max-age=60, s-maxage=600"
    assert resp.headers["access-control-allow-origin"] == "https://viewer.example"
    error = client.get(TILE, params={**GOOD, "path": "nope.tif"})
    assert error.headers["access-control-allow-origin"] == "https://viewer.example"


def test_etag_depends_on_every_rendering_parameter(client):
    etags = {
        client.get(TILE, params={**GOOD, **extra}).headers["etag"]
        for extra in ({}, {"x": 1}, {"y": 1}, {"level": 4}, {"format": "png"}, {"quality": 50}, {"tile_size": 128})
    }
    assert len(etags) == 7


def test_if_none_match_gives_304_without_reading_pixels(client, s3):
    first = client.get(TILE, params={**GOOD, "x": 9, "y": 9})
    s3.proxy.reset()
    again = client.get(TILE, params={**GOOD, "x": 9, "y": 9}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert s3.proxy.gets() == []
    other = client.get(TILE, params={**GOOD, "x": 9, "y": 9}, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_meta_is_conditional_too(client):
    first = client.get(META, params={"path": "pyr.tif"})
    assert first.headers["cache-control"] == "public, max-age=300, s-maxage=300"
    again = client.get(META, params={"path": "pyr.tif"}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_preflight(client):
    resp = client.options(TILE, headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"})
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "GET" in resp.headers["access-control-allow-methods"]


# What each bad request returns: (params or path overrides, status, error code).
BAD = [
    ({"path": "nope.tif"}, 404, "image_not_found"),
    ({"path": "nested/nope.jpg"}, 404, "image_not_found"),
    ({"level": 6}, 404, "tile_not_found"),
    ({"level": 10**12}, 404, "tile_not_found"),
    ({"x": 12}, 404, "tile_not_found"),
    ({"y": 20}, 404, "tile_not_found"),
    ({"level": -1}, 400, "invalid_parameter"),
    ({"x": -5}, 400, "invalid_parameter"),
    ({"x": "abc"}, 400, "invalid_parameter"),
    ({"y": "1.5"}, 400, "invalid_parameter"),
    ({"tile_size": 63}, 400, "invalid_parameter"),
    ({"tile_size": 1025}, 400, "invalid_parameter"),
    ({"quality": 0}, 400, "invalid_parameter"),
    ({"quality": 101}, 400, "invalid_parameter"),
    ({"format": "gif"}, 400, "invalid_parameter"),
    ({"format": "x" * 50}, 400, "invalid_parameter"),
    ({"path": ""}, 400, "invalid_parameter"),
    ({"path": "../secret/hidden.jpg"}, 400, "invalid_image_id"),
    ({"path": "nested/../../secret/hidden.jpg"}, 400, "invalid_image_id"),
    ({"path": "/secret/hidden.jpg"}, 400, "invalid_image_id"),
    ({"path": "s3://other-bucket/x.tif"}, 400, "invalid_image_id"),
    ({"path": "nested\\..\\pyr.tif"}, 400, "invalid_image_id"),
    ({"path": "pyr.tif\x00.jpg"}, 400, "invalid_image_id"),
    ({"path": "a//b.tif"}, 400, "invalid_image_id"),
    ({"path": "x" * 1025}, 400, "invalid_parameter"),
    ({"path": "page.html"}, 415, "unsupported_image"),
    ({"path": "truncated.jpg", "level": 0, "x": 0, "y": 0}, 415, "unsupported_image"),
    ({"path": "empty.tif"}, 415, "unsupported_image"),
]


@pytest.mark.parametrize("override,status,code", BAD, ids=[repr(b[0])[:40] for b in BAD])
def test_bad_requests(client, override, status, code):
    resp = client.get(TILE, params={**GOOD, **override})
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"] and "Traceback" not in resp.text
    assert resp.headers["cache-control"] == "public, max-age=60"
    # …and the instance keeps serving.
    assert client.get(TILE, params=GOOD).status_code == 200


def test_missing_parameters_and_unknown_routes(client):
    resp = client.get(TILE, params={"path": "pyr.tif"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_parameter"
    resp = client.get("/no/such/route")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = client.post(TILE, params=GOOD)
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"


def test_unreachable_s3_is_503_and_recovers(configure, s3):
    client = configure(AWS_ENDPOINT_URL_S3="http://127.0.0.1:9")  # nothing listens on port 9
    resp = client.get(TILE, params=GOOD)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "upstream_unavailable"
    assert resp.headers["cache-control"] == "no-store"
    client = configure()
    assert client.get(TILE, params=GOOD).status_code == 200


def test_local_source_refuses_symlinks_that_leave_the_folder(configure, images, tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(images["photo.jpg"].read_bytes())
    os.symlink(images["photo.jpg"], folder / "escape.jpg")
    client = configure(GIGATILE_SOURCE=str(folder))
    assert client.get(TILE, params={"path": "ok.jpg", "level": 0, "x": 0, "y": 0}).status_code == 200
    resp = client.get(TILE, params={"path": "escape.jpg", "level": 0, "x": 0, "y": 0})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"


def test_concurrent_requests_match_serial_bytes(client):
    requests = [("pyr.tif", lv, x, y) for lv in (3, 4, 5) for x in range(3) for y in range(3)]
    requests += [("photo.jpg", 2, x, y) for x in range(3) for y in range(3)]

    def fetch(req):
        image, level, x, y = req
        resp = client.get(TILE, params={"path": image, "level": level, "x": x, "y": y, "format": "png"})
        assert resp.status_code == 200, resp.text
        return resp.content

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(fetch, requests * 3))
    serial = [fetch(r) for r in requests]
    assert parallel == serial * 3


def test_viewer_page(client):
    resp = client.get("/viewer/nested/dir photo.jpg")
    assert resp.status_code == 200
    assert "openseadragon.min.js" in resp.text and ".dzi" in resp.text
    script = client.get("/static/openseadragon/openseadragon.min.js")
    assert script.status_code == 200 and "OpenSeadragon" in script.text[:2000]


def test_origin_secret_blocks_requests_that_bypass_the_cdn(configure):
    client = configure(GIGATILE_ORIGIN_SECRET="s3cret-from-cloudfront")
    resp = client.get(TILE, params=GOOD)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    resp = client.get(TILE, params=GOOD, headers={"X-Origin-Verify": "wrong"})
    assert resp.status_code == 403
    resp = client.get(TILE, params=GOOD, headers={"X-Origin-Verify": "s3cret-from-cloudfront"})
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "accept,hint,media",
    [
        ("image/avif,image/webp,image/apng,*/*;q=0.8", "", "image/avif"),
        ("image/webp,*/*", "", "image/webp"),
        ("*/*", "", "image/jpeg"),
        ("image/avif,image/webp,*/*", "webp", "image/webp"),  # the CDN's normalized class wins
    ],
)
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/image/tile?path=pyr.tif&level=4&x=1&y=1&format=auto",
        "/dzi/pyr.tif_files/12/1_1.auto",
        "/iiif/3/pyr.tif/0,0,512,512/256,/0/default.auto",
    ],
)
def test_format_auto_follows_accept_and_varies(client, url, accept, hint, media):
    headers = {"Accept": accept} | ({"X-Image-Format": hint} if hint else {})
    resp = client.get(url, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == media
    assert "Accept" in resp.headers["vary"]
    from infra.pixels import decode

    assert decode(resp.content).width == 256


def test_explicit_formats_never_vary(client):
    resp = client.get(TILE, params={**GOOD, "format": "webp"}, headers={"Accept": "image/avif"})
    assert resp.headers["content-type"] == "image/webp" and "vary" not in resp.headers
    avif = client.get(TILE, params={**GOOD, "format": "avif"})
    assert avif.headers["content-type"] == "image/avif" and avif.content[4:12] == b"ftypavif"


def test_deepzoom_descriptor_can_ask_for_auto_tiles(client):
    assert 'Format="auto"' in client.get("/dzi/pyr.tif.dzi", params={"format": "auto"}).text


def test_slow_s3_ends_in_504_not_a_hang_and_the_instance_recovers(configure, s3):
    client = configure(GIGATILE_DEADLINE_MS=300)
    s3.proxy.delay_ms = 400  # each S3 request: opening the image alone takes 2 of them
    try:
        resp = client.get(TILE, params=GOOD)
    finally:
        s3.proxy.delay_ms = 0
    assert resp.status_code == 504 and resp.json()["error"]["code"] == "deadline_exceeded"
    assert client.get(TILE, params=GOOD).status_code == 200


@pytest.mark.parametrize(
    "query",
    ["", "a=1", "a=1&b=2", "a=1&a=2", "a&a=", "a=1&%61=2", "a+b=1&a%20b=2", "a=%26&b=1", "&&a=1&&", "a=1;a=2",
     "x=1&y=2&x", "k%3D=1&k%3d=2", "%ZZ=1&%ZZ=2", "é=1&%C3%A9=2"],
)  # fmt: skip
def test_repeated_key_reads_keys_as_starlette_does(query):
    raw = query.encode()
    keys = [k for k, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)]  # Starlette's QueryParams
    expected = next((k for k in keys if keys.count(k) > 1), None)
    assert repeated_key(raw) == expected
