"""IIIF Image API 2.1 at /iiif/2 beyond the validator: info.json's 2.1 shape, its size
syntax (`full`, upscaling without `^`), content types, and the same pixels as 3.0."""

from __future__ import annotations

from infra.pixels import decode, psnr

BASE = "/iiif/2/pyr.tif"


def test_info_json_2_1(client):
    resp = client.get(f"{BASE}/info.json")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    # The profile, and (plain JSON) where its JSON-LD context is.
    assert '<http://iiif.io/api/image/2/level2.json>;rel="profile"' in resp.headers["link"]
    assert (
        '<http://iiif.io/api/image/2/context.json>;rel="http://www.w3.org/ns/json-ld#context"' in resp.headers["link"]
    )
    info = resp.json()
    assert info["@context"] == "http://iiif.io/api/image/2/context.json"
    assert info["@id"] == "http://testserver/iiif/2/pyr.tif" and "id" not in info and "type" not in info
    assert info["protocol"] == "http://iiif.io/api/image"
    assert (info["width"], info["height"]) == (3000, 5000)
    level, extra = info["profile"]
    assert level == "http://iiif.io/api/image/2/level2.json"
    assert set(extra["qualities"]) == {"default", "color", "gray", "bitonal"} and "webp" in extra["formats"]
    assert {"mirroring", "rotationArbitrary", "sizeAboveFull"} <= set(extra["supports"])
    assert (extra["maxWidth"], extra["maxArea"]) == (10000, 16_000_000)
    assert info["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [1, 2, 4, 8, 16, 32]}]
    assert info["sizes"] == [{"width": -(-3000 // f), "height": -(-5000 // f)} for f in (32, 16, 8, 4, 2, 1)]


def test_json_ld_on_request_and_the_base_uri_redirects(client):
    ld = client.get(f"{BASE}/info.json", headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == 'application/ld+json;profile="http://iiif.io/api/image/2/context.json"'
    bare = client.get(BASE, follow_redirects=False)
    assert bare.status_code == 303 and bare.headers["location"] == "http://testserver/iiif/2/pyr.tif/info.json"


def test_sizes_read_as_2_1(client):
    def size(path):
        resp = client.get(f"{BASE}/{path}")
        assert resp.status_code == 200, resp.text
        image = decode(resp.content)
        return image.width, image.height

    assert size("0,0,300,200/full/0/default.png") == (300, 200)  # full: the region's size
    assert size("0,0,300,200/max/0/default.png") == (300, 200)
    assert size("0,0,300,200/600,/0/default.png") == (600, 400)  # upscaled without ^ (sizeAboveFull)
    assert size("0,0,300,200/!100,100/0/default.png") == (100, 67)
    assert client.get(f"{BASE}/0,0,300,200/^600,/0/default.png").status_code == 400  # 3.0 syntax


def test_same_pixels_as_3_0(client):
    tile = "512,768,256,256/256,/0/default.png"
    two, three = client.get(f"{BASE}/{tile}"), client.get(f"/iiif/3/pyr.tif/{tile}")
    assert two.status_code == three.status_code == 200
    assert psnr(decode(two.content), decode(three.content)) == float("inf")
    assert two.headers["link"] == '<http://iiif.io/api/image/2/level2.json>;rel="profile"'
    assert two.headers["etag"] != three.headers["etag"]
