"""IIIF Presentation manifests generated for every image: Presentation 3.0 validated by
iiif-prezi3's models (a well-kept library, not ours), 2.1 checked for its required shape;
one canvas per page, each painted by that page's image service, which answers. Collections
of a folder, listed from the S3 server, validated the same way."""

from __future__ import annotations

from functools import partial

import pytest
from iiif_prezi3 import Collection, Manifest

from tests.conftest import BUCKET, PREFIX, VALIDATOR_ID

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


# -- collections of a folder -------------------------------------------------------------
# conftest's images under the prefix whose names say "image" (other tests add their own);
# page.html is not one, empty.tif is empty and the validator's image has no extension.
IMAGES = {"alpha.png", "pages.tif", "photo.jpg", "pyr.tif", "small.webp", "truncated.jpg"}
NOT_IMAGES = {"page.html", "empty.tif", VALIDATOR_ID}
C3 = "/iiif/3/collection.json"


def _listings(s3) -> list[str]:
    return [r.path for r in s3.proxy.records if "list-type=2" in r.path]


def test_presentation_3_collection_of_the_top_folder_validates(client, s3):
    s3.proxy.reset()
    resp = client.get(C3)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    Collection.model_validate(doc)  # iiif-prezi3: raises on anything Presentation 3 forbids
    assert (doc["@context"], doc["id"]) == (
        "http://iiif.io/api/presentation/3/context.json",
        "http://testserver/iiif/3/collection.json",
    )
    manifests = {i["label"]["none"][0]: i["id"] for i in doc["items"] if i["type"] == "Manifest"}
    folders = {i["label"]["none"][0]: i["id"] for i in doc["items"] if i["type"] == "Collection"}
    assert set(manifests) >= IMAGES and not NOT_IMAGES & set(manifests) and "summary" not in doc
    assert "nested/" in folders and folders["nested/"] == "http://testserver/iiif/3/nested/collection.json"
    # One ListObjectsV2 call, no object opened (the listing decides by name); "secret/" is
    # outside the source prefix.
    assert len(_listings(s3)) == 1 and [r.path for r in s3.proxy.gets()] == _listings(s3)
    assert "prefix=imgs%2F" in _listings(s3)[0] and "delimiter=%2F" in _listings(s3)[0]
    manifest = client.get(manifests["pyr.tif"].removeprefix("http://testserver"))
    assert Manifest.model_validate(manifest.json()).items[0].width == 3000


def test_a_sub_folder_is_its_own_collection(client):
    top = client.get(C3).json()
    (nested,) = [i["id"] for i in top["items"] if i["label"] == {"none": ["nested/"]}]
    doc = client.get(nested.removeprefix("http://testserver")).json()
    Collection.model_validate(doc)
    assert doc["label"] == {"none": ["nested/"]}
    (item,) = doc["items"]
    assert item == {
        "id": "http://testserver/iiif/3/nested%2Fdir%20photo.jpg/manifest.json",
        "type": "Manifest",
        "label": {"none": ["dir photo.jpg"]},
    }
    manifest = client.get("/iiif/3/nested%2Fdir%20photo.jpg/manifest.json")
    assert manifest.status_code == 200 and manifest.json()["id"] == item["id"]


def test_presentation_2_1_collection(client):
    doc = client.get("/iiif/2/collection.json").json()
    assert (doc["@context"], doc["@id"], doc["@type"]) == (
        "http://iiif.io/api/presentation/2/context.json",
        "http://testserver/iiif/2/collection.json",
        "sc:Collection",
    )
    labels = {m["label"] for m in doc["manifests"]}
    assert labels >= IMAGES and not NOT_IMAGES & labels
    assert all(m["@type"] == "sc:Manifest" and "/iiif/2/" in m["@id"] for m in doc["manifests"])
    assert {
        "@id": "http://testserver/iiif/2/nested/collection.json",
        "@type": "sc:Collection",
        "label": "nested/",
    } in doc["collections"]
    pyr = next(m["@id"] for m in doc["manifests"] if m["label"] == "pyr.tif")
    assert client.get(pyr.removeprefix("http://testserver")).json()["@type"] == "sc:Manifest"


def test_collection_caching_follows_the_listing(client, s3):
    url = "/iiif/3/fresh/collection.json"
    assert client.get(url).status_code == 404
    put = partial(s3.bucket_client.put_object, Bucket=BUCKET, Body=b"not opened: a listing reads names")
    put(Key=f"{PREFIX}/fresh/one.jpg")
    try:
        first = client.get(url)
        assert first.status_code == 200 and "max-age=300" in first.headers["cache-control"]
        assert first.headers["last-modified"]
        assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
        head = client.head(url)
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]
        put(Key=f"{PREFIX}/fresh/two.png")
        second = client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
        assert [i["label"]["none"][0] for i in second.json()["items"]] == ["one.jpg", "two.png"]
    finally:
        for name in ("one.jpg", "two.png"):
            s3.bucket_client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/fresh/{name}")


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/iiif/3/nope/collection.json", 404, "image_not_found"),  # no such folder
        ("/iiif/3/pyr.tif/collection.json", 404, "image_not_found"),  # an image, not a folder
        ("/iiif/2/nope/collection.json", 404, "image_not_found"),
        ("/iiif/3/..%2Fsecret/collection.json", 400, "invalid_image_id"),
        ("/iiif/3/a%2F%2Fb/collection.json", 400, "invalid_image_id"),
    ],
)
def test_collection_errors(client, url, status, code):
    resp = client.get(url)
    assert resp.status_code == status and resp.json()["error"]["code"] == code
    assert resp.headers["cache-control"] == "public, max-age=60"


def test_a_large_folder_is_capped_and_says_so(client, s3, monkeypatch):
    from gigatile.protocols import collection

    # "/x.jpg" makes a sub-folder with an empty name, which no id can name: left out.
    names = ["a.jpg", "b.png", "c/x.tif", "d.gif", "/x.jpg"]
    for name in names:
        s3.bucket_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/capped/{name}", Body=b"listed, not opened")
    try:
        monkeypatch.setattr(collection, "MAX_ITEMS", 3)
        doc = client.get("/iiif/3/capped/collection.json").json()
        Collection.model_validate(doc)
        assert [i["label"]["none"][0] for i in doc["items"]] == ["a.jpg", "b.png", "c/"]
        assert "at most 3 items" in doc["summary"]["none"][0]
        monkeypatch.setattr(collection, "MAX_ITEMS", 4)
        assert "summary" not in client.get("/iiif/3/capped/collection.json").json()
    finally:
        for name in names:
            s3.bucket_client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/capped/{name}")


def test_signed_collections_need_a_prefix_token(configure):
    import time as clock

    from gigatile.http.signing import sign

    key = "k" * 32
    client = configure(GIGATILE_SIGNING_KEYS=key)
    assert client.get("/iiif/3/nested/collection.json").status_code == 403
    token = sign(key, "nested/", int(clock.time()) + 60)
    doc = client.get(f"/iiif/3/t:{token}/nested/collection.json").json()
    (item,) = doc["items"]
    assert item["id"] == f"http://testserver/iiif/3/t:{token}/nested%2Fdir%20photo.jpg/manifest.json"
    assert client.get(item["id"].removeprefix("http://testserver")).status_code == 200
    other = sign(key, "pyr.tif", int(clock.time()) + 60)
    assert client.get(f"/iiif/3/t:{other}/nested/collection.json").status_code == 403


def test_local_folder_listing(tmp_path):
    from gigatile.errors import Forbidden
    from gigatile.sources.local import LocalStore

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.jpg").write_bytes(b"12")
    (tmp_path / "a.jpg").write_bytes(b"1")
    (tmp_path / ".hidden.jpg").write_bytes(b"1")
    store = LocalStore(tmp_path)
    listed = list(store.list(""))
    assert [(e.name, e.version is None) for e in listed] == [("a.jpg", False), ("sub", True)]
    assert listed[0].version is not None and listed[0].version.size == 1
    assert [e.name for e in store.list("sub/")] == ["x.jpg"]
    assert list(store.list("missing/")) == []
    with pytest.raises(Forbidden):
        list(store.list("../"))
