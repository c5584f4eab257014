"""Pages and frames: a multi-page TIFF that is not a pyramid, an animated GIF and an animated
WebP, served from the S3 server on loopback through every protocol with `page`."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from infra.local_stack import animation, pattern
from infra.pixels import decode, psnr, to_array
from tests.conftest import BUCKET, PREFIX

# Unrelated sizes, but page 1 is exactly half of page 0: only the last page tells that these
# are not the levels of one pyramid. Page 0 has a half-size SubIFD: its own pyramid.
PAGE_SIZES = [(1200, 900), (600, 450), (2000, 300)]
FRAMES = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _array(image) -> np.ndarray:
    return to_array(image).astype(np.uint8)


@pytest.fixture(scope="module")
def page_files(s3, tmp_path_factory):
    from gigatile.vips import vips

    vips()  # libvips set up as the app does
    folder = tmp_path_factory.mktemp("pages")
    pages = [pattern(w, h, seed=10 + i) for i, (w, h) in enumerate(PAGE_SIZES)]
    with tifffile.TiffWriter(folder / "multi.tif") as tif:
        first = _array(pages[0])
        tif.write(first, photometric="rgb", tile=(256, 256), compression="zlib", subifds=1)
        tif.write(first[::2, ::2], photometric="rgb", tile=(256, 256), compression="zlib", subfiletype=1)
        tif.write(_array(pages[1]), photometric="rgb", compression="zlib")  # strips
        tif.write(_array(pages[2]), photometric="rgb", tile=(256, 256), compression="zlib")

    frames = animation(FRAMES, 300, 200)
    frames.gifsave(str(folder / "anim.gif"))
    frames.webpsave(str(folder / "anim.webp"), Q=90)
    for name in ("multi.tif", "anim.gif", "anim.webp"):
        s3.bucket_client.upload_file(str(folder / name), BUCKET, f"{PREFIX}/pages/{name}")
    return pages


def meta(client, name, page=None):
    params = {"path": f"pages/{name}"} | ({} if page is None else {"page": page})
    return client.get("/api/v1/image/meta", params=params)


def test_multi_page_tiff_pages_are_separate_images(client, page_files):
    for page, (width, height) in enumerate(PAGE_SIZES):
        body = meta(client, "multi.tif", page).json()
        assert (body["width"], body["height"], body["pages"], body["page"]) == (width, height, 3, page)
    assert meta(client, "multi.tif").json()["width"] == 1200  # page 0 by default
    assert meta(client, "multi.tif", 0).json()["source_levels"] == 2  # its SubIFD
    assert meta(client, "multi.tif", 2).json()["source_levels"] == 1


def test_a_pyramid_of_pages_is_still_one_image(client):
    body = client.get("/api/v1/image/meta?path=pages.tif").json()
    assert (body["width"], body["height"], body["pages"]) == (3000, 5000, 1)
    assert body["source_levels"] > 1
    assert client.get("/api/v1/image/meta?path=pages.tif&page=1").status_code == 404


@pytest.mark.parametrize("page", [0, 1, 2])
def test_tiles_of_each_page_are_that_pages_pixels(client, page_files, page):
    width, height = PAGE_SIZES[page]
    level = meta(client, "multi.tif", page).json()["max_level"]
    params = {"path": "pages/multi.tif", "level": level, "x": 1, "y": 1, "format": "png", "page": page}
    response = client.get("/api/v1/image/tile", params=params)
    assert response.status_code == 200, response.text
    tile = decode(response.content)
    expected = page_files[page].crop(256, 256, min(256, width - 256), min(256, height - 256))
    assert psnr(tile, expected) == float("inf")  # lossless source, no resampling at full size


def test_a_reduced_page_reads_its_own_subifd(client, s3, page_files):
    """Page 0's half-size SubIFD serves level max-1: the same pixels tifffile wrote there."""
    level = meta(client, "multi.tif", 0).json()["max_level"] - 1
    response = client.get(
        "/api/v1/image/tile", params={"path": "pages/multi.tif", "level": level, "x": 0, "y": 0, "format": "png"}
    )
    half = _array(page_files[0])[::2, ::2][:256, :256]
    assert np.array_equal(_array(decode(response.content)), half)


@pytest.mark.parametrize("name", ["anim.gif", "anim.webp"])
def test_animation_frames(client, page_files, name):
    body = meta(client, name).json()
    assert (body["width"], body["height"], body["pages"]) == (300, 200, 3)
    for page, colour in enumerate(FRAMES):
        params = {"path": f"pages/{name}", "level": 1, "x": 0, "y": 0, "format": "png", "page": page}
        tile = decode(client.get("/api/v1/image/tile", params=params).content)
        assert [round(v) for v in tile.getpoint(100, 100)[:3]] == pytest.approx(list(colour), abs=3)
    # Thumbnails: the first frame unless a page is named, as PNG or JPEG.
    first = client.get("/api/v1/image/thumbnail", params={"path": f"pages/{name}", "width": 64, "format": "png"})
    third = client.get(
        "/api/v1/image/thumbnail", params={"path": f"pages/{name}", "width": 64, "format": "jpeg", "page": 2}
    )
    assert first.headers["content-type"] == "image/png" and third.headers["content-type"] == "image/jpeg"
    assert [round(v) for v in decode(first.content).getpoint(30, 20)[:3]] == pytest.approx([255, 0, 0], abs=3)
    assert [round(v) for v in decode(third.content).getpoint(30, 20)[:3]] == pytest.approx([0, 0, 255], abs=8)
    assert first.headers["etag"] != client.get(
        "/api/v1/image/thumbnail", params={"path": f"pages/{name}", "width": 64, "format": "png", "page": 1}
    ).headers.get("etag")


def test_deepzoom_page_query(client, page_files):
    dzi = client.get("/dzi/pages/multi.tif.dzi?page=2&overlap=1")
    assert 'Width="2000" Height="300"' in dzi.text and 'Overlap="1"' in dzi.text
    # OpenSeadragon repeats the descriptor's query on tiles; level 11 is full size (2048 ≥ 2000).
    tile = client.get("/dzi/pages/multi.tif_files/11/1_0.png?page=2&overlap=1")
    assert tile.status_code == 200
    assert psnr(decode(tile.content), page_files[2].crop(255, 0, 258, 257)) == float("inf")
    assert client.get("/dzi/pages/multi.tif.dzi?page=3").status_code == 404


def test_iiif_page_segment(client, page_files):
    info = client.get("/iiif/3/page:2/pages%2Fmulti.tif/info.json").json()
    assert (info["width"], info["height"]) == (2000, 300)
    assert info["id"].endswith("/iiif/3/page:2/pages%2Fmulti.tif")
    region = client.get("/iiif/3/page:2/pages%2Fmulti.tif/0,0,256,256/max/0/default.png")
    assert psnr(decode(region.content), page_files[2].crop(0, 0, 256, 256)) == float("inf")
    redirect = client.get("/iiif/3/page:1/pages%2Fmulti.tif", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].endswith("/page:1/pages%2Fmulti.tif/info.json")
    assert client.get("/iiif/3/pages%2Fmulti.tif/info.json").json()["width"] == 1200


def test_a_manifest_has_one_canvas_per_page(client, page_files):
    from iiif_prezi3 import Manifest

    doc = client.get("/iiif/3/pages%2Fmulti.tif/manifest.json").json()
    canvases = Manifest.model_validate(doc).items
    assert [(c.width, c.height) for c in canvases] == PAGE_SIZES
    services = [c["items"][0]["items"][0]["body"]["service"][0]["id"] for c in doc["items"]]
    assert services[0].endswith("/iiif/3/pages%2Fmulti.tif") and services[2].endswith(
        "/iiif/3/page:2/pages%2Fmulti.tif"
    )
    v2 = client.get("/iiif/2/pages%2Fmulti.tif/manifest.json").json()
    assert [(c["width"], c["height"]) for c in v2["sequences"][0]["canvases"]] == PAGE_SIZES


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/image/meta?path=pages/multi.tif&page=3",
        "/api/v1/image/tile?path=pages/anim.gif&level=0&x=0&y=0&page=3",
        "/api/v1/image/thumbnail?path=pages/anim.webp&width=10&page=3",
        "/dzi/pages/anim.gif_files/0/0_0.jpeg?page=9",
        "/iiif/3/page:3/pages%2Fmulti.tif/info.json",
    ],
)
def test_missing_pages_are_404(client, page_files, url):
    response = client.get(url)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "page_not_found"
    assert client.get("/api/v1/image/meta?path=pages/multi.tif&page=2").status_code == 200


@pytest.mark.parametrize("page", ["-1", "x", "65536", "1.5"])
def test_malformed_page_is_400(client, page_files, page):
    response = client.get(f"/api/v1/image/meta?path=pages/multi.tif&page={page}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
