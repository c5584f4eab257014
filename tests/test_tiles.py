"""Tiles from S3 match libvips reading the local file, cost the S3 GETs they should,
and carry the cache headers a CDN needs."""

from __future__ import annotations

import math

import pytest

from gigatile.vips import vips
from infra.pixels import decode, psnr

TILE = "/api/v1/image/tile"
META = "/api/v1/image/meta"


def reference_tile(path, level, x, y, tile_size=256, **load):
    """The tile rendered by libvips straight from the local file: the source level named by
    `load` (default: full resolution) resized with Lanczos3 to 1/scale of the source, its
    last column and row extended to the grid's rounded-up level size, then cropped."""
    full = vips().Image.new_from_file(str(path))
    image = vips().Image.new_from_file(str(path), **load) if load else full
    max_level = math.ceil(math.log2(max(full.width, full.height) / tile_size))
    scale = 2 ** (max_level - level)
    lw, lh = math.ceil(full.width / scale), math.ceil(full.height / scale)
    downsample = 2 ** round(math.log2(full.width / image.width))
    if downsample != scale:
        image = image.resize(downsample / scale, kernel="lanczos3")
    image = image.embed(0, 0, max(lw, image.width), max(lh, image.height), extend="copy").crop(0, 0, lw, lh)
    left, top = x * tile_size, y * tile_size
    return image.crop(left, top, min(tile_size, lw - left), min(tile_size, lh - top))


def pyramid_level(image, level, width=3000, height=5000, max_level=5, levels=6):
    """Load options of the level gigatile should read: the smallest whose downsample is at
    most the level's scale (the pyramids halve down to 1/32)."""
    k = min(max_level - level, levels - 1)
    if k == 0:
        return {}
    return {"subifd": k - 1} if image == "pyr.tif" else {"page": k}


def get_tile(client, image="pyr.tif", **params):
    params = {"path": image, "level": 0, "x": 0, "y": 0, **params}
    return client.get(TILE, params=params)


def test_meta_follows_the_contract(client):
    body = client.get(META, params={"path": "pyr.tif", "tile_size": 256}).json()
    assert (body["width"], body["height"], body["tile_size"]) == (3000, 5000, 256)
    assert body["max_level"] == math.ceil(math.log2(5000 / 256)) == 5
    assert body["format"] == "tiff"
    assert body["levels"][-1] == {"level": 5, "cols": 12, "rows": 20, "scale": 1}
    assert body["levels"][0] == {"level": 0, "cols": 1, "rows": 1, "scale": 32}
    assert body["levels"][3] == {"level": 3, "cols": 3, "rows": 5, "scale": 4}


@pytest.mark.parametrize("image", ["pyr.tif", "pages.tif"])
@pytest.mark.parametrize(
    "level,x,y",
    [(5, 0, 0), (5, 4, 7), (5, 11, 19), (4, 2, 3), (4, 5, 9), (3, 2, 4), (2, 1, 2), (1, 0, 0), (0, 0, 0)],
)
def test_tile_pixels_match_libvips_on_the_local_file(client, images, image, level, x, y):
    resp = get_tile(client, image, level=level, x=x, y=y, format="png")
    assert resp.status_code == 200, resp.text
    got = decode(resp.content)
    want = reference_tile(images[image], level, x, y, **pyramid_level(image, level))
    assert (got.width, got.height) == (want.width, want.height)
    assert (int(resp.headers["x-tile-width"]), int(resp.headers["x-tile-height"])) == (want.width, want.height)
    # Bytes read over S3 ranges decode to what libvips makes of the file itself…
    assert psnr(got, want) >= 40
    # …and reading a pyramid level stays close to resizing the full-resolution image
    # (the levels were box-filtered and JPEG-compressed by their writer: 30 dB, as dzsave).
    assert psnr(got, reference_tile(images[image], level, x, y)) >= 30


def test_edge_tiles_are_smaller(client):
    # Level 5 is 3000 × 5000: the last column is 3000 - 11 * 256 = 184 wide, the last row 5000 - 19 * 256 = 136.
    resp = get_tile(client, level=5, x=11, y=19)
    assert (resp.headers["x-tile-width"], resp.headers["x-tile-height"]) == ("184", "136")
    image = decode(resp.content)
    assert (image.width, image.height) == (184, 136)


@pytest.mark.parametrize(
    "fmt,media,magic",
    [
        ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
        ("jpg", "image/jpeg", b"\xff\xd8\xff"),
        ("png", "image/png", b"\x89PNG"),
        ("webp", "image/webp", b"RIFF"),
    ],
)
def test_formats(client, fmt, media, magic):
    resp = get_tile(client, level=4, x=1, y=1, format=fmt)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == media
    assert resp.content.startswith(magic)


def test_quality_changes_the_bytes(client):
    low = get_tile(client, level=5, x=3, y=3, quality=20)
    high = get_tile(client, level=5, x=3, y=3, quality=95)
    assert len(low.content) < len(high.content)
    assert low.headers["etag"] != high.headers["etag"]


def test_local_folder_source_serves_the_same_bytes(configure, images):
    from_s3 = get_tile(configure(), level=4, x=2, y=3).content
    local = configure(GIGATILE_SOURCE=str(images["pyr.tif"].parent))
    assert get_tile(local, level=4, x=2, y=3).content == from_s3


def test_jpeg_low_levels_use_shrink_on_load_and_full_res_over_budget_is_413(configure, images):
    client = configure(GIGATILE_MAX_DECODE_PIXELS=1_000_000)  # photo.jpg is 2000 × 1500 = 3 Mpx
    meta = client.get(META, params={"path": "photo.jpg"}).json()
    assert meta["format"] == "jpeg" and meta["max_level"] == 3
    # Level 2 is 1000 × 750 = 0.75 Mpx: shrink=2 on load fits the budget.
    resp = get_tile(client, "photo.jpg", level=2, x=1, y=1, format="png")
    assert resp.status_code == 200
    assert psnr(decode(resp.content), reference_tile(images["photo.jpg"], 2, 1, 1, shrink=2)) >= 40
    assert psnr(decode(resp.content), reference_tile(images["photo.jpg"], 2, 1, 1)) >= 35
    resp = get_tile(client, "photo.jpg", level=3, x=0, y=0)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("image", ["alpha.png", "small.webp", "nested/dir photo.jpg"])
def test_other_formats_and_ids_with_slashes(client, images, image):
    resp = get_tile(client, image, level=1, x=0, y=0, format="png")
    assert resp.status_code == 200, resp.text
    want = reference_tile(images[image], 1, 0, 0)
    got = decode(resp.content)
    assert got.bands == want.bands
    assert psnr(got, want) >= 35
