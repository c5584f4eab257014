"""S3 request counts, seen from outside by the counting proxy in front of the S3 server."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import tifffile

from infra.counting_proxy import sequential_rounds
from tests.conftest import BUCKET, PREFIX

TILE = "/api/v1/image/tile"
META = "/api/v1/image/meta"


def tile(client, image, level, x, y):
    resp = client.get(TILE, params={"path": image, "level": level, "x": x, "y": y})
    assert resp.status_code == 200, resp.text
    return resp


def gets(s3):
    return s3.proxy.gets("/imgs/")


# Cold opens, by layout. libvips writes each level's IFD after that level's data: with
# SubIFDs the main chain is one IFD; with one page per level, libvips walks every page's
# IFD at open, and they are spread over the file. Both read the header, then the first
# IFD's window and the file's tail together (formats.tiff.directory_windows): two round
# trips. (Before: SubIFDs 2 GETs; pages 4 GETs one after another.)
@pytest.mark.parametrize("image,expected", [("pyr.tif", 3), ("pages.tif", 3), ("photo.jpg", 1)])
def test_cold_open_costs(client, s3, image, expected):
    assert client.get(META, params={"path": image}).status_code == 200
    records = gets(s3)
    assert len(records) == expected, records
    # The first GET is a ranged read of the open window, blocks 0–1 (no HEAD: its
    # Content-Range gives the size).
    assert records[0].range == "bytes=0-524287"
    assert not [r for r in s3.proxy.records if r.method == "HEAD"]


@pytest.fixture(scope="module")
def wide(s3, tmp_path_factory):
    """A 20,000 × 1,500 libvips SubIFD pyramid (JPEG Q 85, YCbCr): its first row of tiles is
    over 512 KiB, so page 0's first tile lies beyond the open window, and so does the IFD."""
    from infra.local_stack import make_pyramid

    path = make_pyramid(tmp_path_factory.mktemp("wide") / "wide.tif", 20000, 1500, subifd=True, quality=85, grain=6)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].dataoffsets[0] >= 512 * 1024 and tif.pages[0].offset >= 512 * 1024
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/wide.tif")
    return "wide.tif"


def test_info_json_of_a_libvips_pyramid_is_two_round_trips(client, s3, wide, monkeypatch):
    """info.json describes a TIFF from its parsed directories, and libvips checks page 0's
    header without reading a pixel: page 0's first tile, which libtiff reads with a
    JPEG-coded YCbCr directory, was a third round trip. The simple API's meta reports
    libvips' pixel type: it opens page 0 and reads that tile."""
    # S3's first-byte latency, so that GETs sent together are seen in flight together.
    monkeypatch.setattr(s3.proxy, "delay_ms", 50)
    assert client.get(f"/iiif/3/{wide}/info.json").status_code == 200
    records = gets(s3)
    # The open window; then the first IFD's window and the tail, in parallel.
    assert (len(records), sequential_rounds(records)) == (3, 2), records
    s3.proxy.reset()
    assert client.get(META, params={"path": wide}).status_code == 200
    assert len(gets(s3)) == 1  # page 0's first tile


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
        resp = client.get(TILE, params={"path": "replaced.tif", "level": 5, "x": 7, "y": 13})
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


# Renders that read several stored tiles fetch them first (imaging/prefetch.py): tiles
# that lie within 64 KiB of each other in the file come in one GET, the GETs in parallel.
# Before, libvips read them one GET per tile, one after another.


def stored_ranges(path, page: int, cols: range, rows: range) -> list[tuple[int, int]]:
    """(offset, length) of the stored tiles of one page in those columns and rows (those
    inside the page), read by tifffile (not our parser)."""
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[page].tags
        across = math.ceil(tags["ImageWidth"].value / tags["TileWidth"].value)
        down = math.ceil(tags["ImageLength"].value / tags["TileLength"].value)
        offsets, counts = tags["TileOffsets"].value, tags["TileByteCounts"].value
        inside = [(r, c) for r in rows for c in cols if r < down and c < across]
        return [(offsets[r * across + c], counts[r * across + c]) for r, c in inside]


@pytest.fixture(scope="module")
def one_level(s3, tmp_path_factory):
    """A 2000 × 1500 tiled JPEG TIFF without reduced levels (48 tiles of 256 px, ~9 MiB)."""
    from infra.local_stack import pattern

    path = tmp_path_factory.mktemp("flat") / "flat.tif"
    pattern(2000, 1500, seed=5, grain=6).tiffsave(str(path), tile=True, tile_width=256, tile_height=256, Q=90)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/flat.tif")
    return path


def test_low_zoom_of_a_one_level_tiff_reads_its_tiles_in_one_get(client, s3, one_level):
    assert client.get(META, params={"path": "flat.tif"}).status_code == 200
    opened = gets(s3)
    s3.proxy.reset()
    tile(client, "flat.tif", 0, 0, 0)  # 1/8: the whole image from its 48 stored tiles
    records = gets(s3)
    # The tiles lie one after another: those not in the blocks the open read are one range.
    assert len(records) == 1, records
    # Exactly the tiles not wholly in the open's first read, from the first to the last.
    head_end = int(opened[0].range.split("-")[1]) + 1
    missing = [(o, n) for o, n in stored_ranges(one_level, 0, range(8), range(6)) if o + n > head_end]
    assert records[0].range == f"bytes={min(o for o, _ in missing)}-{max(o + n for o, n in missing) - 1}"
    s3.proxy.reset()
    tile(client, "flat.tif", 0, 0, 0)
    assert gets(s3) == []


@pytest.fixture(scope="module")
def slide(s3, tmp_path_factory):
    """A 4800 × 3600 Aperio slide (levels 4×, 16×; 240 px tiles)."""
    from infra.local_stack import pattern
    from tests.slide_files import aperio_svs

    width, height = 4800, 3600
    levels = [pattern(width, height, seed=3, grain=6)] + [pattern(width // d, height // d, seed=3 + d) for d in (4, 16)]
    blank = np.zeros((100, 100, 3), np.uint8)
    path = aperio_svs(tmp_path_factory.mktemp("svs") / "merge.svs", levels, blank, blank)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/merge.svs")
    return path


# 1/2 reads full resolution. (Its 1/8 zoom reads the 4× level, which on a slide this small
# lies in the blocks the open read: the 16,000 × 12,000 slide of test_slides.py shows it.)
@pytest.mark.parametrize("zoom,page", [(2, 0)])
def test_a_zoom_between_slide_levels_reads_a_get_per_row_of_stored_tiles(configure, s3, slide, zoom, page):
    """A 240 px DeepZoom tile 1/2 (1/8) of the slide is 480 px of the full-resolution
    (4×) level and Lanczos3's margin: up to 4 × 4 stored tiles, each row one range (rows
    lie a whole row of the level apart: too far to merge)."""
    client = configure()
    top = math.ceil(math.log2(4800))
    assert client.get("/dzi/merge.svs.dzi?tile_size=240&overlap=0").status_code == 200
    s3.proxy.reset()
    col, row = 1, 1  # a margin on every side (the 4× level ends at row 3)
    resp = client.get(f"/dzi/merge.svs_files/{top - int(math.log2(zoom))}/{col}_{row}.jpeg?tile_size=240&overlap=0")
    assert resp.status_code == 200
    records = gets(s3)
    # The view is level pixels 480 … 960 both ways (1/2 of the finer level, whose
    # downsample is 1 or 4), and the kernel reaches 6 level pixels beyond: stored columns
    # and rows 1…4 of 240 px.
    tiles = stored_ranges(slide, page, range(1, 5), range(1, 5))
    assert len(records) <= 4 < len(tiles), records
    assert sum(r.bytes for r in records) <= sum(n for _, n in tiles)


def test_a_new_rendered_pyramid_tile_is_still_one_get(client, s3):
    tile(client, "pyr.tif", 5, 0, 0)  # opens the image and the level
    s3.proxy.reset()
    resp = client.get(TILE, params={"path": "pyr.tif", "level": 5, "x": 3, "y": 5, "format": "png"})
    assert resp.status_code == 200
    assert len(gets(s3)) == 1


# -- the ranged GETs themselves: presigned URLs, kept per key, sent by urllib3 -------------
def _query(record) -> dict[str, str]:
    return dict(part.split("=", 1) for part in record.path.split("?", 1)[1].split("&"))


def test_ranged_gets_are_one_presigned_url_per_key_with_unsigned_range_and_if_match(client, s3):
    for x, y in [(0, 0), (4, 7), (9, 2)]:
        tile(client, "pyr.tif", 5, x, y)
    records = gets(s3)
    assert len(records) >= 4
    queries = [_query(r) for r in records]
    # SigV4 query signing of `host` alone: Range and If-Match travel as plain headers.
    assert all(q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and q["X-Amz-SignedHeaders"] == "host" for q in queries)
    assert all(r.range and r.range.startswith("bytes=") for r in records)
    assert all(r.if_match == records[0].etag for r in records[1:])
    # One URL for the key, kept across requests: the same signature on every GET.
    assert len({q["X-Amz-Signature"] for q in queries}) == 1


def test_a_kept_url_is_signed_again_after_its_reuse_time(client, s3, monkeypatch):
    from gigatile.sources import s3 as s3_source

    monkeypatch.setattr(s3_source, "URL_REUSE", 1.0)
    tile(client, "pyr.tif", 5, 3, 3)
    first = {_query(r)["X-Amz-Date"] for r in gets(s3)}
    time.sleep(1.2)  # X-Amz-Date has a resolution of one second
    s3.proxy.reset()
    tile(client, "pyr.tif", 5, 8, 8)
    (again,) = gets(s3)
    assert len(first) == 1 and _query(again)["X-Amz-Date"] not in first


def test_a_refused_url_is_signed_again_once_then_forbidden(client, s3):
    good = tile(client, "pyr.tif", 5, 6, 6).content  # the image open, its URL kept
    s3.proxy.reset()
    s3.proxy.faults = ["denied"]  # e.g. a URL whose credentials were revoked
    assert tile(client, "pyr.tif", 5, 1, 2).status_code == 200
    assert [r.status for r in gets(s3)] == [403, 206]
    s3.proxy.reset()
    s3.proxy.faults = ["denied", "denied"]
    resp = client.get(TILE, params={"path": "pyr.tif", "level": 5, "x": 2, "y": 3})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert [r.status for r in gets(s3)] == [403, 403]
    s3.proxy.faults = []
    assert tile(client, "pyr.tif", 5, 6, 6).content == good


def test_stored_bytes_come_back_as_stored_whatever_their_content_encoding(configure, s3):
    import gzip

    from gigatile.sources.s3 import S3Store

    configure()  # the store below reads through the proxy, with the tests' credentials
    body = gzip.compress(bytes(range(256)) * 64)
    key = f"{PREFIX}/encoded.bin"
    s3.bucket_client.put_object(Bucket=BUCKET, Key=key, Body=body, ContentEncoding="gzip")
    store = S3Store(BUCKET, f"{PREFIX}/")
    data, version = store.fetch(key, 0, len(body) + 100, None)
    assert data == body and version.size == len(body)
    assert store.fetch(key, 10, 19, version.etag)[0] == body[10:20]


def test_a_bucket_in_another_region_is_signed_for_its_region(configure, s3):
    client = configure(AWS_DEFAULT_REGION="us-east-1")
    s3.proxy.faults = ["moved"]  # S3's 301 for a bucket elsewhere, with its region
    good = tile(client, "pyr.tif", 5, 2, 2)
    moved, *rest = gets(s3)
    assert moved.status == 301 and rest
    assert "/us-east-1/" in _query(moved)["X-Amz-Credential"].replace("%2F", "/")
    assert all("/eu-west-1/" in _query(r)["X-Amz-Credential"].replace("%2F", "/") for r in rest)
    assert tile(client, "pyr.tif", 5, 2, 2).content == good.content


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:4569"},  # a local S3: path addressing
        {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_SESSION_TOKEN": "token/+="},  # AWS: virtual host, a role's token
        {"AWS_DEFAULT_REGION": "cn-north-1"},  # another partition's domain
        {},  # us-east-1: botocore's global endpoint
        {"AWS_DEFAULT_REGION": None},  # no region at all
        {"AWS_DEFAULT_REGION": None, "AWS_REGION": "eu-central-1"},  # as Lambda sets it
        {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_USE_FIPS_ENDPOINT": "true"},
        {"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
        {"AWS_ENDPOINT_URL": "https://minio.example.org:9000/s3"},  # a configured endpoint with a path
        {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:4569", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
        # The shared config file's S3 settings.
        {"config": "s3 =\n  addressing_style = virtual\n", "AWS_ENDPOINT_URL_S3": "http://localhost:4569"},
        {"config": "s3 =\n  addressing_style = path\n", "AWS_DEFAULT_REGION": "eu-west-1"},
        {"config": "s3 =\n  us_east_1_regional_endpoint = regional\n"},
    ],
)
def test_urls_are_signed_as_the_botocore_client_signs_them(monkeypatch, tmp_path, env):
    """The store signs without a client (sources/s3.UrlSigner); botocore's own presigner,
    at the same instant, is the oracle: the same URL, byte for byte, for awkward keys."""
    import datetime

    import botocore.auth

    from gigatile.sources.s3 import URL_EXPIRES, UrlSigner, make_client

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env = dict(env)
    config = tmp_path / "config"
    config.write_text("[default]\n" + env.pop("config", ""))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    instant = datetime.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: instant)
    client = make_client(4)  # boto3's client, as listing uses
    for bucket in ("my-bucket", "my.dotted.bucket"):  # dots: no virtual host over TLS
        signer = UrlSigner(bucket)
        for key in ["a.tif", "dir/sub dir/ü+%20=&?#~*.tif", "//double//slash", "-"]:
            expected = client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_EXPIRES
            )
            assert signer.url(key, URL_EXPIRES) == expected
