"""IIIF Image API 3.0 beyond the validator: info.json contents, ids behind a proxy, limits,
bad requests, and shared caches with DeepZoom."""

from __future__ import annotations

import pytest

from infra.pixels import decode, psnr

BASE = "/iiif/3/pyr.tif"


def test_info_json(client):
    resp = client.get(f"{BASE}/info.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["access-control-allow-origin"] == "*"
    info = resp.json()
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == "http://testserver/iiif/3/pyr.tif"
    assert (info["type"], info["protocol"], info["profile"]) == ("ImageService3", "http://iiif.io/api/image", "level2")
    assert (info["width"], info["height"]) == (3000, 5000)
    # OpenLayers needs the tile height; viewers pair sizes with scale factors.
    assert info["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [1, 2, 4, 8, 16, 32]}]
    assert info["sizes"] == [{"width": -(-3000 // f), "height": -(-5000 // f)} for f in (32, 16, 8, 4, 2, 1)]
    assert info["maxArea"] == 16_000_000 and info["maxWidth"] == info["maxHeight"] == 10000
    assert set(info["extraQualities"]) == {"color", "gray", "bitonal"} and "webp" in info["extraFormats"]
    assert "mirroring" in info["extraFeatures"]


def test_info_json_sizes_stay_within_the_output_limits(configure):
    info = configure(GIGATILE_MAX_OUTPUT_PIXELS=4_000_000).get(f"{BASE}/info.json").json()
    assert info["maxArea"] == 4_000_000
    # 3000 × 5000 (15 Mpx) is over maxArea: the sizes start at factor 2 (1500 × 2500).
    assert info["sizes"] == [{"width": -(-3000 // f), "height": -(-5000 // f)} for f in (32, 16, 8, 4, 2)]
    assert info["tiles"][0]["scaleFactors"] == [1, 2, 4, 8, 16, 32]


def test_info_json_as_json_ld_and_ids_behind_a_proxy(configure):
    client = configure()
    resp = client.get(
        "/iiif/3/nested%2Fdir%20photo.jpg/info.json",
        headers={"Accept": "application/ld+json", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "tiles.example"},
    )
    assert resp.headers["content-type"] == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    assert resp.json()["id"] == "https://tiles.example/iiif/3/nested%2Fdir%20photo.jpg"
    configured = configure(GIGATILE_PUBLIC_URL="https://cdn.example/")
    assert configured.get(f"{BASE}/info.json").json()["id"] == "https://cdn.example/iiif/3/pyr.tif"


def test_base_uri_redirects_to_info(client):
    resp = client.get(BASE, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "http://testserver/iiif/3/pyr.tif/info.json"
    assert client.get("/iiif/3/nope.tif", follow_redirects=False).status_code == 404


def test_a_iiif_tile_equals_its_deepzoom_tile_and_costs_no_extra_get(client, s3):
    dz = client.get("/dzi/pyr.tif_files/12/3_5.png")  # DeepZoom level 12 = scale 2
    s3.proxy.reset()
    iiif = client.get(f"{BASE}/1536,2560,512,512/256,/0/default.png")
    assert iiif.status_code == 200
    assert s3.proxy.gets() == []
    assert psnr(decode(iiif.content), decode(dz.content)) == float("inf")


def test_full_max_of_a_pyramid_reads_a_small_level(client, s3):
    resp = client.get(f"{BASE}/full/!300,300/0/default.jpg")
    assert resp.status_code == 200
    image = decode(resp.content)
    assert (image.width, image.height) == (180, 300)
    # The file is 11 MB, 9 MB of it full resolution. The open reads the header, the first
    # IFD's window and the file's tail (where the small levels lie) in 256 KiB blocks.
    assert sum(r.bytes for r in s3.proxy.gets()) < 2_500_000


@pytest.mark.parametrize(
    "suffix,size",
    [
        ("full/pct:20/90/default.png", (1000, 600)),
        ("full/pct:10/!0/default.png", (300, 500)),
        ("square/100,/0/gray.png", (100, 100)),
        ("0,0,100,50/max/180/bitonal.png", (100, 50)),
        ("pct:50,50,50,50/^pct:150/0/default.jpg", (2250, 3750)),
        ("full/!100,100/45/default.png", (113, 113)),
    ],
)
def test_sizes_rotations_qualities(client, suffix, size):
    resp = client.get(f"{BASE}/{suffix}")
    assert resp.status_code == 200, resp.text
    image = decode(resp.content)
    assert (image.width, image.height) == size
    if "gray" in suffix or "bitonal" in suffix:
        assert image.bands == 1
    if "bitonal" in suffix:
        assert set(image.hist_find().numpy().nonzero()[1]) <= {0, 255}


def test_mirroring_flips(client):
    plain = decode(client.get(f"{BASE}/0,0,200,100/max/0/default.png").content)
    mirrored = decode(client.get(f"{BASE}/0,0,200,100/max/!0/default.png").content)
    assert psnr(plain.fliphor(), mirrored) == float("inf")


@pytest.mark.parametrize(
    "suffix,status,code",
    [
        ("full/max/0/default.gif", 400, "invalid_parameter"),
        ("full/max/0/default.tif", 400, "invalid_parameter"),
        ("full/max/0/sepia.jpg", 400, "invalid_parameter"),
        ("full/max/361/default.jpg", 400, "invalid_parameter"),
        ("full/max/-90/default.jpg", 400, "invalid_parameter"),
        ("full/max/abc/default.jpg", 400, "invalid_parameter"),
        ("0,0,0,10/max/0/default.jpg", 400, "invalid_parameter"),
        ("3000,0,10,10/max/0/default.jpg", 400, "invalid_parameter"),
        ("0,5000,10,10/max/0/default.jpg", 400, "invalid_parameter"),
        ("1,2,3/max/0/default.jpg", 400, "invalid_parameter"),
        ("pct:0,0,0,0/max/0/default.jpg", 400, "invalid_parameter"),
        ("full/0,/0/default.jpg", 400, "invalid_parameter"),
        ("full/,/0/default.jpg", 400, "invalid_parameter"),
        ("full/!100,/0/default.jpg", 400, "invalid_parameter"),
        ("full/4000,/0/default.jpg", 400, "invalid_parameter"),
        ("full/pct:101/0/default.jpg", 400, "invalid_parameter"),
        ("full/^20000,/0/default.jpg", 413, "too_large"),
        ("full/^pct:200/0/default.jpg", 413, "too_large"),
    ],
)
def test_bad_iiif_requests(client, suffix, status, code):
    resp = client.get(f"{BASE}/{suffix}")
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert client.get(f"{BASE}/full/64,/0/default.jpg").status_code == 200


def test_unknown_image_and_bad_id(client):
    assert client.get("/iiif/3/nope.tif/full/max/0/default.jpg").json()["error"]["code"] == "image_not_found"
    resp = client.get("/iiif/3/a%2F..%2F..%2Fsecret%2Fhidden.jpg/full/max/0/default.jpg")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_image_id"


def test_iiif_images_are_cacheable_and_conditional(client):
    first = client.get(f"{BASE}/full/200,/0/default.jpg")
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "level2" in first.headers["link"]
    again = client.get(f"{BASE}/full/200,/0/default.jpg", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_an_encoded_image_over_the_response_limit_is_413(configure):
    client = configure(GIGATILE_MAX_RESPONSE_BYTES=100_000)  # Lambda's limit, scaled down
    resp = client.get(f"{BASE}/full/pct:20/0/default.png")  # 600 × 1000 PNG, about 1 MB
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
    assert client.get(f"{BASE}/full/64,/0/default.png").status_code == 200


def test_a_render_over_the_deadline_is_504_and_the_next_request_works(configure):
    client = configure(GIGATILE_DEADLINE_MS=100)
    resp = client.get(f"{BASE}/full/max/0/default.png")  # 15 Mpx to decode and PNG-encode
    assert resp.status_code == 504 and resp.json()["error"]["code"] == "deadline_exceeded"
    assert resp.headers["cache-control"] == "no-store"
    assert client.get(f"{BASE}/full/64,/0/default.jpg").status_code == 200
