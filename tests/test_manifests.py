"""IIIF Presentation manifests generated for every image: Presentation 3.0 validated by
iiif-prezi3's models (a well-kept library, not ours), 2.1 checked for its required shape;
one canvas per page, each painted by that page's image service, which answers."""

from __future__ import annotations

import pytest
from iiif_prezi3 import Manifest

M3 = "/iiif/3/pyr.tif/manifest.json"
M2 = "/iiif/2/pyr.tif/manifest.json"


def test_presentation_3_manifest_validates_and_points_at_a_working_service(client):
    resp = client.get(M3)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    manifest = Manifest.model_validate(doc)  # raises on anything Presentation 3 forbids
    assert doc["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert doc["id"] == "http://testserver/iiif/3/pyr.tif/manifest.json"
    assert doc["label"] == {"none": ["pyr.tif"]}
    (canvas,) = manifest.items
    assert (canvas.width, canvas.height) == (3000, 5000)
    body = doc["items"][0]["items"][0]["items"][0]["body"]
    assert doc["items"][0]["items"][0]["items"][0]["target"] == doc["items"][0]["id"]
    service = body["service"][0]
    assert service == {"id": "http://testserver/iiif/3/pyr.tif", "type": "ImageService3", "profile": "level2"}
    info = client.get(service["id"].removeprefix("http://testserver") + "/info.json").json()
    assert (info["width"], info["height"]) == (canvas.width, canvas.height)
    thumbnail = client.get(doc["thumbnail"][0]["id"].removeprefix("http://testserver"))
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"


def test_one_canvas_per_page(client):
    doc = client.get("/iiif/3/nested%2Fdir%20photo.jpg/manifest.json").json()
    Manifest.model_validate(doc)
    assert doc["label"] == {"none": ["dir photo.jpg"]}
    assert len(doc["items"]) == 1
    assert doc["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"].endswith(
        "/iiif/3/nested%2Fdir%20photo.jpg"
    )


def test_presentation_2_1_manifest(client):
    doc = client.get(M2).json()
    assert doc["@context"] == "http://iiif.io/api/presentation/2/context.json"
    assert (doc["@id"], doc["@type"], doc["label"]) == (
        "http://testserver/iiif/2/pyr.tif/manifest.json",
        "sc:Manifest",
        "pyr.tif",
    )
    (sequence,) = doc["sequences"]
    (canvas,) = sequence["canvases"]
    assert canvas["@type"] == "sc:Canvas" and (canvas["width"], canvas["height"]) == (3000, 5000)
    (image,) = canvas["images"]
    assert image["motivation"] == "sc:painting" and image["on"] == canvas["@id"]
    service = image["resource"]["service"]
    assert service["profile"] == "http://iiif.io/api/image/2/level2.json"
    assert client.get(service["@id"].removeprefix("http://testserver") + "/info.json").json()["@id"] == service["@id"]
    assert client.get(doc["thumbnail"]["@id"].removeprefix("http://testserver")).status_code == 200


def test_manifest_caching_json_ld_and_errors(client):
    first = client.get(M3)
    assert client.get(M3, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    assert "max-age=300" in first.headers["cache-control"]
    ld = client.get(M3, headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
    missing = client.get("/iiif/3/nope.tif/manifest.json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "image_not_found"


@pytest.mark.parametrize("url", [M3, M2])
def test_manifest_ids_follow_the_public_url(configure, url):
    doc = configure(GIGATILE_PUBLIC_URL="https://tiles.example").get(url).json()
    assert (doc.get("id") or doc.get("@id")).startswith("https://tiles.example/iiif/")
