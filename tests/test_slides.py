"""Aperio SVS slides from the S3 server on loopback: the slide's own levels (4×, 16×, 32×,
or any factor) are the levels of one image, read by ranges; its thumbnail, label and macro
are associated images (not pages, not levels) reachable by name. Pixels are compared with
OpenSlide's reading of the same files (openslide-python + openslide-bin), at every level.

Slides: openslide-python's own `small.svs` fixture (tests/fixtures/openslide), and slides
written the way the Aperio Image Library writes them (tests/slide_files.py), with RGB and
with YCbCr inside JPEG, and with JPEG 2000 tiles (33003 YCbCr, 33005 RGB), which gigatile
decodes with Pillow's OpenJPEG (imaging/jpeg2000.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openslide
import pytest

from gigatile.formats import jpeg
from infra.local_stack import pattern
from infra.pixels import decode, psnr
from tests.conftest import BUCKET, PREFIX
from tests.slide_files import aperio_svs, shrink

FIXTURE = Path(__file__).parent / "fixtures" / "openslide" / "small.svs"
W, H = 4000, 3000
TILE = "/api/v1/image/tile"
# Level downsamples of each generated slide. odd.svs has levels at 2.5× and 10× (not
# powers of two), each painted from its own pattern: a view read from any other level than the one
# gigatile must use shows a different picture.
DOWNSAMPLES = {
    "rgb.svs": (1, 4, 16, 32),
    "ycbcr.svs": (1, 4, 16),
    "odd.svs": (1, 2.5, 10),
    "j2k-ycbcr.svs": (1, 4, 16),
    "j2k-rgb.svs": (1, 4, 16),
}
J2K = ["j2k-ycbcr.svs", "j2k-rgb.svs"]


def pixels(image) -> np.ndarray:
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))


def from_array(array: np.ndarray):
    from gigatile.vips import vips

    h, w, bands = array.shape
    return vips().Image.new_from_memory(np.ascontiguousarray(array).tobytes(), w, h, bands, "uchar")


def rgb(region) -> np.ndarray:
    """An OpenSlide read (RGBA PIL image) as an RGB array."""
    return np.asarray(region.convert("RGB"))


@pytest.fixture(scope="module")
def slides(s3, tmp_path_factory) -> dict[str, Path]:
    from gigatile.vips import vips

    vips()
    folder = tmp_path_factory.mktemp("slides")
    base = pixels(pattern(W, H, seed=5))
    label, macro = pixels(pattern(300, 350, seed=8)), pixels(pattern(1000, 340, seed=9))
    files = {
        "rgb.svs": aperio_svs(folder / "rgb.svs", [base, *(shrink(base, d) for d in (4, 16, 32))], label, macro),
        "ycbcr.svs": aperio_svs(
            folder / "ycbcr.svs", [base, shrink(base, 4), shrink(base, 16)], label, macro, colour="ycbcr"
        ),
        "odd.svs": aperio_svs(
            folder / "odd.svs",
            [base, shrink(pixels(pattern(W, H, seed=21)), 2.5), shrink(pixels(pattern(W, H, seed=22)), 10)],
            label,
            macro,
        ),
        "small.svs": FIXTURE,
    }
    for name in J2K:  # PSNR target 45 dB: Aperio's JPEG 2000 is lossy too
        colour = name.removeprefix("j2k-").removesuffix(".svs")
        levels = [base, shrink(base, 4), shrink(base, 16)]
        files[name] = aperio_svs(folder / name, levels, label, macro, colour=colour, codec="j2k", quality=45)
    for name, path in files.items():
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/slides/{name}")
    return files


def expected_view(slide: openslide.OpenSlide, downsamples, scale: float, box, view) -> np.ndarray:
    """What gigatile must show of the 1/`scale` view (`view` its size) in `box`: the stored
    level it must read (the coarsest whose downsample is at most `scale`), read by OpenSlide,
    resized by libvips as gigatile resizes (Lanczos3, the edge extended to the view)."""
    k = max(i for i, d in enumerate(downsamples) if d <= scale)
    factor = downsamples[k] / scale
    lw, lh = slide.level_dimensions[k]
    left, top, width, height = box
    if k > 0:  # small: the whole level
        image = from_array(rgb(slide.read_region((0, 0), k, (lw, lh))))
        if factor != 1:
            image = image.resize(factor, kernel="lanczos3")
        image = image.embed(0, 0, max(view[0], image.width), max(view[1], image.height), extend="copy")
        return pixels(image.crop(left, top, width, height))
    # Full resolution: a window around the box, aligned to the reduction so that the
    # resize lays the same pixel grid as over the whole level.
    step = round(scale)
    x0, y0 = max(0, left * step - 64) // step * step, max(0, top * step - 64) // step * step
    x1, y1 = min(lw, (left + width) * step + 64), min(lh, (top + height) * step + 64)
    image = from_array(rgb(slide.read_region((x0, y0), 0, (x1 - x0, y1 - y0))))
    if factor != 1:
        image = image.resize(factor, kernel="lanczos3")
    return pixels(image.crop(left - x0 // step, top - y0 // step, width, height))


def meta(client, name, **params):
    return client.get("/api/v1/image/meta", params={"path": f"slides/{name}", **params})


def assert_every_zoom_matches(client, image_id: str, slide: openslide.OpenSlide, downsamples) -> None:
    """Each zoom of the simple API (128 px tiles), one tile inside it, against OpenSlide's
    pixels of the stored level that zoom must be read from (`downsamples`): its size exact
    (edge tiles smaller), ≥ 35 dB."""
    width, height = slide.dimensions
    body = client.get("/api/v1/image/meta", params={"path": image_id, "tile_size": 128}).json()
    for entry in body["levels"]:
        level, scale = entry["level"], entry["scale"]
        x, y = (1, 1) if entry["cols"] > 1 and entry["rows"] > 1 else (0, 0)
        params = {"path": image_id, "level": level, "x": x, "y": y, "tile_size": 128, "format": "png"}
        response = client.get(TILE, params=params)
        assert response.status_code == 200, response.text
        tile = decode(response.content)
        view = (math.ceil(width / scale), math.ceil(height / scale))
        box = (x * 128, y * 128, tile.width, tile.height)
        assert (tile.width, tile.height) == (min(128, view[0] - box[0]), min(128, view[1] - box[1]))
        expected = from_array(expected_view(slide, downsamples, scale, box, view))
        assert psnr(tile, expected) >= 35, (image_id, level, scale)


@pytest.mark.parametrize("name", ["rgb.svs", "ycbcr.svs", "odd.svs", "small.svs", *J2K])
def test_one_image_with_the_slides_levels_and_associated_images(client, slides, name):
    slide = openslide.OpenSlide(slides[name])
    body = meta(client, name).json()
    assert (body["width"], body["height"]) == slide.dimensions
    assert body["pages"] == 1  # thumbnail, label and macro are not pages
    assert body["source_levels"] == slide.level_count  # nor levels
    assert sorted(body["associated"]) == sorted(slide.associated_images)
    assert meta(client, name, page=1).json()["error"]["code"] == "page_not_found"
    width, height = slide.dimensions
    dzi = client.get(f"/dzi/slides/{name}.dzi").text
    assert f'Width="{width}" Height="{height}"' in dzi
    info = client.get(f"/iiif/3/slides%2F{name}/info.json").json()
    assert (info["width"], info["height"]) == (width, height)


@pytest.mark.parametrize("name", ["rgb.svs", "ycbcr.svs", "odd.svs", *J2K])
def test_every_level_matches_openslide(client, slides, name):
    """Each zoom of the simple API (128 px tiles: 1/1 … 1/32) against OpenSlide's pixels of
    the stored level that zoom must be read from."""
    slide = openslide.OpenSlide(slides[name])
    downsamples = DOWNSAMPLES[name]
    assert [W / w for w, _ in slide.level_dimensions] == list(downsamples)
    assert_every_zoom_matches(client, f"slides/{name}", slide, downsamples)


def test_rgb_inside_jpeg_keeps_its_colours(client, slides):
    """Aperio's RGB JPEG tiles (photometric RGB, components 0, 1, 2, no Adobe marker) read
    as YCbCr would show false colours: the served tile matches what was written."""
    written = pixels(pattern(W, H, seed=5).crop(1280, 1280, 256, 256))
    params = {"path": "slides/rgb.svs", "level": 4, "x": 5, "y": 5, "format": "png"}
    tile = decode(client.get(TILE, params=params).content)
    assert psnr(tile, from_array(written)) >= 35


def test_small_svs_matches_openslide(client, slides):
    slide = openslide.OpenSlide(FIXTURE)
    response = client.get(TILE, params={"path": "slides/small.svs", "level": 0, "x": 0, "y": 0, "format": "png"})
    expected = from_array(rgb(slide.read_region((0, 0), 0, slide.dimensions)))
    assert psnr(decode(response.content), expected) >= 35


@pytest.mark.parametrize("name", ["rgb.svs", "ycbcr.svs", "small.svs", *J2K])
def test_associated_images_match_openslide(client, slides, name):
    slide = openslide.OpenSlide(slides[name])
    for which, image in slide.associated_images.items():
        params = {"path": f"slides/{name}", "format": "png"}
        response = client.get(f"/api/v1/image/associated/{which}", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        served = decode(response.content)
        assert (served.width, served.height) == image.size
        assert (int(response.headers["x-image-width"]), int(response.headers["x-image-height"])) == image.size
        # The label is LZW (lossless): exact. The macro and thumbnail are JPEG.
        assert psnr(served, from_array(rgb(image))) >= (math.inf if which == "label" else 40), which
    jpeg_label = client.get("/api/v1/image/associated/thumbnail", params={"path": f"slides/{name}"})
    assert jpeg_label.headers["content-type"] == "image/jpeg", jpeg_label.text  # the default format
    assert "etag" in jpeg_label.headers


@pytest.mark.parametrize(
    "path,name",
    [("slides/rgb.svs", "overview"), ("slides/small.svs", "label"), ("pyr.tif", "thumbnail")],
)
def test_unknown_associated_image_is_404(client, slides, path, name):
    response = client.get(f"/api/v1/image/associated/{name}", params={"path": path})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "associated_image_not_found"
    assert response.headers["cache-control"] == "public, max-age=60"


@pytest.mark.parametrize("name", ["a.b", "x" * 65, "%20"])
def test_malformed_associated_name_is_400(client, slides, name):
    response = client.get(f"/api/v1/image/associated/{name}", params={"path": "slides/rgb.svs"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_a_stored_tile_is_passed_through(client, slides):
    """DeepZoom with the slide's own 240 px tiles: an interior tile of a stored level is the
    stored JPEG (tables and, for RGB, the Adobe marker spliced in), decoded as OpenSlide
    decodes it; at 1/2, which the slide does not store, it is rendered."""
    import tifffile

    slide = openslide.OpenSlide(slides["rgb.svs"])
    with tifffile.TiffFile(slides["rgb.svs"]) as tif, open(slides["rgb.svs"], "rb") as f:
        for dz_level, ifd, level in ((12, 0, 0), (10, 2, 1)):  # full size, 1/4
            page = tif.pages[ifd]
            index = 2 * -(-page.imagewidth // 240) + 1  # tile (1, 2)
            f.seek(page.dataoffsets[index])
            stored = page.jpegtables[:-2] + jpeg.ADOBE_RGB + f.read(page.databytecounts[index])[2:]
            response = client.get(f"/dzi/slides/rgb.svs_files/{dz_level}/1_2.jpeg?tile_size=240&overlap=0")
            assert response.content == stored
            d = round(slide.level_downsamples[level])
            expected = rgb(slide.read_region((240 * d, 480 * d), level, (240, 240)))
            assert psnr(decode(response.content), from_array(expected)) >= 45
    halved = client.get("/dzi/slides/rgb.svs_files/11/1_2.jpeg?tile_size=240&overlap=0")
    assert halved.status_code == 200 and jpeg.quality(halved.content) == 90  # re-encoded at the default


def test_low_zoom_tiles_read_a_handful_of_ranges(configure, s3, slides):
    """Before slides' levels were recognised, the 1/16 tile decoded full resolution: 158
    GETs. Now each zoom reads only the stored level it needs, one GET per stored tile not
    already in the block cache."""
    client = configure()
    assert meta(client, "rgb.svs").status_code == 200
    # This file keeps each IFD beside its level's data (as Aperio does): the open reads the
    # first 512 KiB and three blocks, which hold the 16× and 32× levels too.
    assert len(s3.proxy.gets("/slides/rgb.svs")) <= 4
    size = slides["rgb.svs"].stat().st_size
    counts = {}
    for level in range(5):  # 1/16 … 1/1, 256 px tiles
        s3.proxy.reset()
        response = client.get(TILE, params={"path": "slides/rgb.svs", "level": level, "x": 0, "y": 0})
        assert response.status_code == 200
        gets = s3.proxy.gets("/slides/rgb.svs")
        counts[level] = (len(gets), sum(r.bytes for r in gets))
    # 1/16 is the 250 × 187 px 16× level: 2 stored tiles. 1/8 is 512 × 512 px of the 4×
    # level: 3 × 3 of its 240 px tiles. 1/4 and 1/1 are 2 × 2 stored tiles; 1/2 is
    # 512 × 512 px of full resolution, 3 × 3 tiles.
    covered = {0: 2, 1: 9, 2: 4, 3: 9, 4: 4}
    assert all(counts[level][0] <= covered[level] for level in counts), counts
    assert all(read <= size / 10 for _, read in counts.values()), counts


def test_a_large_slide_reads_only_what_each_zoom_needs(configure, s3, tmp_path):
    """A 16,000 × 12,000 slide (levels 4×, 16×, 32×; 33 MiB), cold at every DeepZoom zoom
    with the slide's own 240 px tiles: a zoom the slide stores is its stored tile (one GET,
    passed through); a zoom between stored levels reads the finer level's tiles under the
    view and the resize's margin (Lanczos3: 4 × 4 stored tiles for a halving), one GET
    each; none reads more than 4 MiB."""
    from infra.local_stack import pattern

    width, height = 16000, 12000
    # Each level its own pattern (no need to compute the whole baseline to shrink it).
    levels = [pattern(width, height, seed=3)] + [pattern(width // d, height // d, seed=3 + d) for d in (4, 16, 32)]
    blank = np.zeros((300, 300, 3), np.uint8)
    path = aperio_svs(tmp_path / "large.svs", levels, blank, blank)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/slides/large.svs")
    client = configure()
    dzi = client.get("/dzi/slides/large.svs.dzi?tile_size=240&overlap=0").text
    assert f'Width="{width}" Height="{height}"' in dzi
    opened = s3.proxy.gets("/slides/large.svs")
    top = math.ceil(math.log2(width))
    figures = []
    for level in range(top, top - 10, -1):  # 1/1 … 1/512
        scale = 2 ** (top - level)
        cols, rows = math.ceil(width / scale / 240), math.ceil(height / scale / 240)
        s3.proxy.reset()
        response = client.get(
            f"/dzi/slides/large.svs_files/{level}/{cols // 2}_{rows // 2}.jpeg?tile_size=240&overlap=0"
        )
        assert response.status_code == 200
        gets = s3.proxy.gets("/slides/large.svs")
        figures.append((scale, len(gets), sum(r.bytes for r in gets)))
    print(f"\nlarge.svs {path.stat().st_size / 2**20:.1f} MiB: open {len(opened)} GETs")
    for scale, n, read in figures:
        print(f"1/{scale}: {n} GETs, {read / 1024:.0f} KiB")
    stored = {1, 4, 16, 32}
    assert all(n <= 1 for scale, n, _ in figures if scale in stored), figures
    assert all(n <= 16 and read <= 4 * 2**20 for _, n, read in figures), figures


def dz_tile(client, name: str, level: int, col: int, row: int, size: int = 240):
    return client.get(f"/dzi/slides/{name}_files/{level}/{col}_{row}.png?tile_size={size}&overlap=0")


@pytest.mark.parametrize("name", J2K)
def test_jpeg_2000_slides_match_openslide_through_deepzoom_iiif_and_thumbnails(client, slides, name):
    """Every DeepZoom zoom from full size to 1/64 (the slide's 240 px tiles, an interior tile
    where there is one), an IIIF region at 1/4 and 1/2, and the whole-slide thumbnail against
    OpenSlide's reading of the stored level each must come from."""
    slide = openslide.OpenSlide(slides[name])
    downsamples = DOWNSAMPLES[name]
    top = math.ceil(math.log2(max(W, H)))
    for level in range(top, top - 7, -1):
        scale = 2 ** (top - level)
        view = (math.ceil(W / scale), math.ceil(H / scale))
        col, row = (1, 1) if min(view) > 480 else (0, 0)
        response = dz_tile(client, name, level, col, row)
        assert response.status_code == 200, response.text
        tile = decode(response.content)
        box = (col * 240, row * 240, tile.width, tile.height)
        assert (tile.width, tile.height) == (min(240, view[0] - box[0]), min(240, view[1] - box[1]))
        expected = from_array(expected_view(slide, downsamples, scale, box, view))
        assert psnr(tile, expected) >= 35, (name, scale)
    for version in (3, 2):
        for scale, (left, top_) in ((4, (960, 1920)), (2, (1440, 480))):
            region = f"{left},{top_},{240 * scale},{240 * scale}"
            response = client.get(f"/iiif/{version}/slides%2F{name}/{region}/240,/0/default.png")
            assert response.status_code == 200, response.text
            box = (left // scale, top_ // scale, 240, 240)
            expected = from_array(expected_view(slide, downsamples, scale, box, (W // scale, H // scale)))
            assert psnr(decode(response.content), expected) >= 35, (version, scale)
    response = client.get("/api/v1/image/thumbnail", params={"path": f"slides/{name}", "width": 250, "format": "png"})
    assert response.status_code == 200, response.text
    thumbnail = decode(response.content)
    assert (thumbnail.width, thumbnail.height) == (250, 188)
    expected = from_array(expected_view(slide, downsamples, 16, (0, 0, 250, 188), (250, 188)))
    assert psnr(thumbnail, expected) >= 35


def test_a_jpeg_2000_tile_reads_only_its_stored_tiles(configure, s3, slides):
    """Cold, after the open: a DeepZoom tile at a zoom the slide stores (240 px: one stored
    tile) is one GET of that tile's range; a 256 px tile at full size covers 2 × 2 stored
    tiles, fetched together (merged where adjacent, in parallel): at most 2 GETs. Small
    blocks, so that the open (blocks around each directory) leaves these tiles unread."""
    import tifffile

    from gigatile.sources.reader import MERGE_GAP

    client = configure(GIGATILE_BLOCK_SIZE=16384, GIGATILE_OPEN_READ_KB=16)
    name = "j2k-rgb.svs"
    assert meta(client, name).status_code == 200
    with tifffile.TiffFile(slides[name]) as tif:
        base = tif.pages[0]
        cols = -(-base.imagewidth // 240)
        stored = {
            (c, r): (base.dataoffsets[r * cols + c], base.databytecounts[r * cols + c]) for c in (8, 9) for r in (7, 8)
        }
    top = math.ceil(math.log2(W))
    s3.proxy.reset()
    response = dz_tile(client, name, top, 8, 7)
    assert response.status_code == 200
    gets = s3.proxy.gets(f"/slides/{name}")
    offset, length = stored[8, 7]
    assert [r.range for r in gets] == [f"bytes={offset}-{offset + length - 1}"]  # cold: one GET, the tile
    s3.proxy.reset()
    response = client.get(TILE, params={"path": f"slides/{name}", "level": 4, "x": 8, "y": 7, "tile_size": 256})
    assert response.status_code == 200  # 2048…2304 × 1792…2048: stored tiles 8…9 × 7…8
    gets = s3.proxy.gets(f"/slides/{name}")
    assert 1 <= len(gets) <= 2, gets
    # The three tiles not read yet, and what lies between two of them when they are merged.
    assert sum(r.bytes for r in gets) <= sum(n for (c, r), (_, n) in stored.items() if (c, r) != (8, 7)) + MERGE_GAP
    for level in (top - 2, top - 4):  # the 4× and 16× levels
        s3.proxy.reset()
        assert dz_tile(client, name, level, 0, 0).status_code == 200
        assert len(s3.proxy.gets(f"/slides/{name}")) <= 1


def test_a_jpeg_2000_view_decodes_only_its_window(client, slides):
    """A view decodes only the stored tiles under its box and the resize kernel's reach: its
    pixels are exactly those of the whole level decoded, for reductions of 1.5 to 3.7 and
    small boxes moved across the corner of four stored tiles (where a window short of the
    kernel's reach leaves a tile out), and at the level's far corner."""
    from gigatile.imaging.render import view_at

    source = client.app.state.tiler.source("slides/j2k-ycbcr.svs").pixels
    for scale in (6, 8, 12, 14.8):  # the 4× level (1000 × 750) reduced by 1.5 … 3.7
        view = (math.ceil(W / scale), math.ceil(H / scale))
        _, whole = view_at(source, scale, *view)
        corner = round(240 * 4 / scale)  # the view pixel of the stored tiles' corner (240, 240)
        boxes = [(corner + k, corner + k, 12, 12) for k in range(-16, 8, 2)]
        for box in [*boxes, (view[0] - 40, view[1] - 30, 40, 30)]:
            _, windowed = view_at(source, scale, *view, box=box)
            assert (pixels(whole.crop(*box)) == pixels(windowed.crop(*box))).all(), (scale, box)


def test_a_jpeg_2000_view_over_the_decode_budget_is_413(configure, slides):
    """The decode budget counts the JPEG 2000 tiles a view decodes: a 256 px tile at full size
    covers 2 × 2 stored tiles of 240² (230,400 pixels)."""
    client = configure(GIGATILE_MAX_DECODE_PIXELS=200_000)
    params = {"path": "slides/j2k-rgb.svs", "level": 4, "x": 8, "y": 7, "tile_size": 256}
    response = client.get(TILE, params=params)
    assert response.status_code == 413, response.text
    assert "JPEG 2000 tiles" in response.json()["error"]["message"]
    stored = dz_tile(client, "j2k-rgb.svs", math.ceil(math.log2(W)), 8, 7)  # one stored tile fits
    assert stored.status_code == 200


def test_jpeg_2000_without_a_decoder_is_415_naming_the_compression_and_the_fix(client, slides, monkeypatch):
    """An installation without Pillow's OpenJPEG (the decoder is looked up when a JPEG 2000
    level is first read): 415, from the Compression tag, before any tile is read."""
    from gigatile.imaging import jpeg2000

    monkeypatch.setattr(jpeg2000, "available", lambda: False)
    response = client.get(TILE, params={"path": "slides/j2k-ycbcr.svs", "level": 4, "x": 0, "y": 0})
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_image"
    assert "TIFF compression 33003" in error["message"] and "install Pillow with OpenJPEG" in error["message"]
    label = client.get("/api/v1/image/associated/label", params={"path": "slides/j2k-ycbcr.svs"})
    assert label.status_code == 200  # associated images are libvips' (LZW, JPEG)


def test_a_jpeg_2000_decode_stops_at_the_deadline(client, slides):
    """JPEG 2000 tiles are decoded before libvips runs (and its watchdog with it): the decode
    loop checks the request's deadline between tiles (504 deadline_exceeded)."""
    import time

    from gigatile.errors import DeadlineExceeded
    from gigatile.imaging.render import view_at

    source = client.app.state.tiler.source("slides/j2k-rgb.svs").pixels
    with pytest.raises(DeadlineExceeded):
        view_at(source, 1, W, H, box=(0, 0, 256, 256), deadline=time.monotonic())
    _, image = view_at(source, 1, W, H, box=(0, 0, 256, 256), deadline=time.monotonic() + 60)
    assert image.crop(0, 0, 256, 256).avg() > 0
