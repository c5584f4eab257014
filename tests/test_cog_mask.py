"""A GDAL COG with an internal mask, from the S3 server on loopback: the mask IFDs
(NewSubfileType 4 and 5, PhotometricInterpretation 4, 1 bit, one per level) are neither
pages nor levels; the image opens; each level's own mask becomes transparency in PNG and
WebP, and the background (white) in JPEG. Oracle: rasterio (GDAL) reading the same
windows, data and dataset mask. The file is written by GDAL itself, through rasterio's
wheel (GDAL_TIFF_INTERNAL_MASK=YES, then the COG driver)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import tifffile

from infra.pixels import decode
from tests.conftest import BUCKET, PREFIX
from tests.slide_files import cog_with_mask

W, H = 1500, 1100
ID = "cog/masked.tif"
TILE = "/api/v1/image/tile"


def pixels(image) -> np.ndarray:
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.fixture(scope="module")
def cog(s3, tmp_path_factory):
    yy, xx = np.mgrid[0:H, 0:W]
    # Smooth (as an orthophoto at this scale): JPEG decoders then agree within a few levels.
    data = np.stack([xx * 255 // W, yy * 255 // H, 128 + 100 * np.sin(xx / 40) * np.cos(yy / 55)]).astype(np.uint8)
    # A disc of valid pixels, as an orthophoto's footprint inside its bounding box.
    mask = (((xx - 700) ** 2 + (yy - 520) ** 2) < 480**2).astype(np.uint8) * 255
    path = cog_with_mask(tmp_path_factory.mktemp("cog") / "masked.tif", data, mask)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/{ID}")
    return path


def oracle(path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's reading of the whole image at width × height (an overview, where one has that
    size): RGB (h, w, 3) and the dataset mask (h, w)."""
    with rasterio.open(path) as src:
        data = src.read(out_shape=(3, height, width))
        mask = src.dataset_mask(out_shape=(height, width))
    return np.moveaxis(data, 0, -1), mask


def test_the_fixture_is_gdals_layout(cog):
    with tifffile.TiffFile(cog) as tif:
        kinds = [(page.subfiletype, page.photometric, page.bitspersample) for page in tif.pages]
    assert kinds.count((4, 4, 1)) == 1  # the full-resolution mask
    assert kinds.count((5, 4, 1)) == 3  # one per overview
    assert kinds.count((1, 6, 8)) == 3  # the overviews themselves (YCbCr JPEG)


def test_masks_are_not_pages_nor_levels(client, cog):
    body = client.get("/api/v1/image/meta", params={"path": ID}).json()
    assert (body["width"], body["height"], body["pages"]) == (W, H, 1)
    assert body["source_levels"] == 4  # full resolution and GDAL's three overviews
    assert body["associated"] == []


# Tiles with both masked and visible pixels, at each stored level.
@pytest.mark.parametrize("level,scale,x,y", [(3, 1, 1, 1), (2, 2, 0, 0), (1, 4, 0, 0), (0, 8, 0, 0)])
def test_png_alpha_is_the_levels_mask(client, cog, level, scale, x, y):
    """At each stored level the tile's alpha is GDAL's mask of that level, exactly, and its
    colours GDAL's where the mask is set."""
    params = {"path": ID, "level": level, "x": x, "y": y, "format": "png"}
    response = client.get(TILE, params=params)
    assert response.status_code == 200, response.text
    tile = pixels(decode(response.content))
    assert tile.shape[2] == 4
    with rasterio.open(cog) as src:
        width, height = ([(W, H)] + [(W // f, H // f) for f in src.overviews(1)])[int(math.log2(scale))]
    data, mask = oracle(cog, width, height)
    # Where the grid's last column/row repeats GDAL's edge (ceil(1500 / 8) = 188 > 187), no oracle.
    left, top = x * 256, y * 256
    w, h = min(256, width - left), min(256, height - top)
    data, mask = data[top : top + h, left : left + w], mask[top : top + h, left : left + w]
    assert np.array_equal(tile[:h, :w, 3], mask)
    opaque = mask == 255
    assert opaque.any() and (~opaque).any()
    assert psnr(tile[:h, :w, :3][opaque], data[opaque]) >= 35


def test_jpeg_shows_the_background_where_masked(client, cog):
    data, mask = oracle(cog, W, H)
    corner = client.get(TILE, params={"path": ID, "level": 3, "x": 0, "y": 0, "format": "jpeg"})
    assert not mask[:256, :256].any()  # outside the disc: white, not the data under the mask
    assert np.abs(pixels(decode(corner.content)).astype(int) - 255).max() <= 3
    assert np.abs(data[:256, :256].astype(int) - 255).max() > 100
    inside = client.get(TILE, params={"path": ID, "level": 3, "x": 2, "y": 2, "format": "jpeg"})
    assert mask[512:768, 512:768].all()
    assert psnr(pixels(decode(inside.content)), data[512:768, 512:768]) >= 35


def test_webp_and_thumbnails_keep_the_mask(client, cog):
    response = client.get(TILE, params={"path": ID, "level": 2, "x": 1, "y": 1, "format": "webp"})
    tile = pixels(decode(response.content))
    _, mask = oracle(cog, W // 2, H // 2)
    assert tile.shape[2] == 4
    assert np.mean(tile[..., 3] == mask[256:512, 256:512]) > 0.999
    thumb = client.get("/api/v1/image/thumbnail", params={"path": ID, "width": 300, "format": "png"})
    image = pixels(decode(thumb.content))
    assert image.shape == (220, 300, 4)
    assert image[5, 5, 3] == 0 and image[110, 140, 3] == 255


def test_a_view_between_levels_resamples_mask_and_colour_together(client, cog):
    """A 1/3 view reads the 1/2 overview and its mask, resized together (premultiplied):
    the edge of the disc is where GDAL puts it, within a pixel."""
    response = client.get(f"/iiif/3/{ID.replace('/', '%2F')}/full/500,/0/default.png")
    image = pixels(decode(response.content))
    assert image.shape[:2] == (367, 500)
    _, mask = oracle(cog, 500, 367)
    agree = (image[..., 3] > 127) == (mask > 127)
    assert agree.mean() > 0.99


# The test COG is 85 KiB: read by small blocks and a small first read, as a large COG is,
# so that its tiles are not already in the blocks the open read.
SMALL_READS = {"GIGATILE_OPEN_READ_KB": 16, "GIGATILE_BLOCK_SIZE": 4096}


def test_a_masked_tile_costs_few_gets(configure, s3, cog):
    client = configure(**SMALL_READS)
    assert client.get("/api/v1/image/meta", params={"path": ID}).status_code == 200
    opened = len(s3.proxy.gets(ID))
    s3.proxy.reset()
    client.get(TILE, params={"path": ID, "level": 3, "x": 2, "y": 2, "format": "png"})
    gets = s3.proxy.gets(ID)
    # GDAL puts every IFD up front, and each mask tile right after its image tile: one GET
    # for the image tile, one for the block holding the (small) mask tile.
    assert opened == 1 and 1 <= len(gets) <= 2, (opened, gets)


def test_a_failed_read_is_s3s_error_and_the_instance_recovers(configure, s3, cog):
    """A tile reads the level and its mask through two range sources; an S3 failure in
    either is a 502, not an unreadable image, and the next request reads both afresh."""
    client = configure(**SMALL_READS)
    assert client.get("/api/v1/image/meta", params={"path": ID}).status_code == 200
    # The image tile's GET goes through ("ok" is no fault the proxy knows); the mask's fails.
    s3.proxy.faults = ["ok"] + ["internal"] * 3
    params = {"path": ID, "level": 3, "x": 1, "y": 1, "format": "png"}
    failed = client.get(TILE, params=params)
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "upstream_error")
    s3.proxy.faults = []
    tile = pixels(decode(client.get(TILE, params=params).content))
    _, mask = oracle(cog, W, H)
    assert np.array_equal(tile[..., 3], mask[256:512, 256:512])
