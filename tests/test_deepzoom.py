"""DeepZoom matches `vips dzsave` of the same source: same levels, same tile sizes, and
pixels within 30 dB PSNR (dzsave shrinks with its own filter; gigatile reads pyramid
levels and resizes with Lanczos3)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gigatile.vips import vips
from infra.pixels import decode, psnr

NS = "{http://schemas.microsoft.com/deepzoom/2008}"


@pytest.fixture(scope="module", params=[0, 1])
def dzsave(request, images, tmp_path_factory):
    overlap = request.param
    out = tmp_path_factory.mktemp(f"dz{overlap}") / "pyr"
    vips().Image.new_from_file(str(images["pyr.tif"])).dzsave(
        str(out), tile_size=256, overlap=overlap, suffix=".png", depth="onepixel"
    )
    return overlap, Path(f"{out}_files")


def test_descriptor(client):
    resp = client.get("/dzi/pyr.tif.dzi", params={"overlap": 1, "tile_size": 254})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == f"{NS}Image"
    assert (root.get("TileSize"), root.get("Overlap"), root.get("Format")) == ("254", "1", "jpeg")
    size = root.find(f"{NS}Size")
    assert (size.get("Width"), size.get("Height")) == ("3000", "5000")
    assert resp.headers["etag"] and resp.headers["access-control-allow-origin"] == "*"


def test_levels_tile_counts_sizes_and_pixels_match_dzsave(client, dzsave):
    overlap, files = dzsave
    levels = sorted(int(p.name) for p in files.iterdir() if p.is_dir())
    assert levels == list(range(14))  # ceil(log2(5000)) = 13: levels 0 … 13
    for level in levels:
        tiles = sorted(files.joinpath(str(level)).glob("*.png"))
        cols = 1 + max(int(t.stem.split("_")[0]) for t in tiles)
        rows = 1 + max(int(t.stem.split("_")[1]) for t in tiles)
        assert len(tiles) == cols * rows
        # Beyond the last column or row, gigatile answers 404 as dzsave has no file there.
        url = f"/dzi/pyr.tif_files/{level}/{cols}_0.png"
        assert client.get(url, params={"overlap": overlap}).status_code == 404
        for col, row in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            resp = client.get(f"/dzi/pyr.tif_files/{level}/{col}_{row}.png", params={"overlap": overlap})
            assert resp.status_code == 200, resp.text
            got = decode(resp.content)
            want = vips().Image.new_from_file(str(files / str(level) / f"{col}_{row}.png"))
            assert (got.width, got.height) == (want.width, want.height), (level, col, row)
            if min(got.width, got.height) >= 8:  # tiny levels are a few averaged pixels
                assert psnr(got, want) >= 30, (level, col, row)


@pytest.mark.parametrize(
    "path,status,code",
    [
        ("/dzi/nope.tif.dzi", 404, "image_not_found"),
        ("/dzi/pyr.tif_files/14/0_0.jpeg", 404, "tile_not_found"),
        ("/dzi/pyr.tif_files/13/99_0.jpeg", 404, "tile_not_found"),
        ("/dzi/pyr.tif_files/13/0_0.gif", 400, "invalid_parameter"),
        ("/dzi/pyr.tif_files/13/a_0.jpeg", 400, "invalid_parameter"),
        ("/dzi/pyr.tif", 400, "invalid_parameter"),
        ("/dzi/../secret/hidden.jpg.dzi", 404, "not_found"),
        ("/dzi/nested%2F..%2F..%2Fsecret%2Fhidden.jpg.dzi", 400, "invalid_image_id"),
        ("/dzi/pyr.tif.dzi?overlap=3", 400, "invalid_parameter"),
        ("/dzi/pyr.tif.dzi?tile_size=32", 400, "invalid_parameter"),
    ],
)
def test_bad_deepzoom_requests(client, path, status, code):
    resp = client.get(path)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


def test_formats_and_ids_with_slashes(client):
    for fmt, magic in (("jpeg", b"\xff\xd8"), ("jpg", b"\xff\xd8"), ("png", b"\x89P"), ("webp", b"RI")):
        resp = client.get(f"/dzi/nested%2Fdir%20photo.jpg_files/10/1_1.{fmt}")
        assert resp.status_code == 200, resp.text
        assert resp.content.startswith(magic)


def test_layout_defaults_from_settings_and_conditional_tiles(configure):
    client = configure(GIGATILE_DZ_TILE_SIZE=254, GIGATILE_DZ_OVERLAP=1)
    root = ET.fromstring(client.get("/dzi/pyr.tif.dzi").content)
    assert (root.get("TileSize"), root.get("Overlap")) == ("254", "1")
    tile = client.get("/dzi/pyr.tif_files/13/1_1.jpeg")
    assert (tile.headers["x-tile-width"], tile.headers["x-tile-height"]) == ("256", "256")  # 254 + 2 × 1
    assert tile.headers["cache-control"] == "public, max-age=86400, s-maxage=86400"
    again = client.get("/dzi/pyr.tif_files/13/1_1.jpeg", headers={"If-None-Match": tile.headers["etag"]})
    assert again.status_code == 304
