"""S3 request counts, seen from outside by the counting proxy in front of the S3 server."""

from __future__ import annotations

import pytest

TILE = "/api/v1/image/tile"
META = "/api/v1/image/meta"


def tile(client, image, level, x, y):
    resp = client.get(TILE, params={"path": image, "level": level, "x": x, "y": y})
    assert resp.status_code == 200, resp.text
    return resp


def gets(s3):
    return s3.proxy.gets("/imgs/")


# Cold opens, by layout. libvips writes each level's IFD after that level's data: with
# SubIFDs the main chain is one IFD (header block + that IFD's block); with one page per
# level, libvips walks every page's IFD at open, and they are spread over the file.
@pytest.mark.parametrize("image,expected", [("pyr.tif", 2), ("pages.tif", 4), ("photo.jpg", 1)])
def test_cold_open_costs(client, s3, image, expected):
    assert client.get(META, params={"path": image}).status_code == 200
    records = gets(s3)
    assert len(records) == expected, records
    # The first GET is a ranged read of the open window, blocks 0–1 (no HEAD: its
    # Content-Range gives the size).
    assert records[0].range == "bytes=0-524287"
    assert not [r for r in s3.proxy.records if r.method == "HEAD"]


@pytest.mark.parametrize("image", ["pyr.tif", "pages.tif"])
def test_new_full_resolution_tile_is_one_exact_get_and_a_repeat_is_none(client, s3, image):
    tile(client, image, 5, 0, 0)  # opens the image and its full-resolution level
    for x, y in [(7, 13), (2, 18), (11, 4), (5, 9)]:
        s3.proxy.reset()
        resp = tile(client, image, 5, x, y)
        records = gets(s3)
        assert len(records) == 1, records
        # Exactly the tile's compressed bytes, not a block around them.
        start, end = map(int, records[0].range.removeprefix("bytes=").split("-"))
        assert records[0].bytes == end - start + 1 < 256 * 1024
        s3.proxy.reset()
        assert tile(client, image, 5, x, y).content == resp.content
        assert gets(s3) == []


def test_every_read_after_the_first_is_pinned_to_its_etag(client, s3):
    tile(client, "pyr.tif", 5, 1, 1)
    first, *rest = s3.proxy.gets("/imgs/pyr.tif")
    assert first.if_match is None and first.etag
    assert rest and all(r.if_match == first.etag for r in rest)


def test_overwritten_object_is_503_then_the_new_version_never_mixed(client, s3, images):
    key = "imgs/replaced.tif"
    s3.bucket_client.upload_file(str(images["pyr.tif"]), "gigatile-test", key)
    try:
        before = client.get(META, params={"path": "replaced.tif"}).json()
        assert before["width"] == 3000
        tile(client, "replaced.tif", 5, 0, 0)
        s3.bucket_client.upload_file(str(images["photo.jpg"]), "gigatile-test", key)
        s3.proxy.reset()
        # A new tile needs a read pinned to the old ETag: S3 answers 412 and the request ends
        # as 503 source_changed (its ETag was chosen from the old version), never with bytes
        # of the new object.
        resp = client.get(TILE, params={"path": "replaced.tif", "level": 2, "x": 0, "y": 0})
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "source_changed"
        assert resp.headers["cache-control"] == "no-store"
        assert [r.status for r in s3.proxy.records] == [412]
        # Everything of the old version was dropped: the next requests read the new one.
        after = client.get(META, params={"path": "replaced.tif"}).json()
        assert (after["width"], after["height"], after["format"]) == (2000, 1500, "jpeg")
        assert after["version"] != before["version"]
        resp = tile(client, "replaced.tif", 2, 0, 0)
        assert (resp.headers["x-tile-width"], resp.headers["x-tile-height"]) == ("256", "256")
    finally:
        s3.bucket_client.delete_object(Bucket="gigatile-test", Key=key)
