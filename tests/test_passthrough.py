"""Pass-through: a request that maps exactly onto one stored JPEG tile of a pyramid gets
that tile's bytes (with the TIFF's JPEGTables spliced in), checked against tifffile's
reading of the same file and against libvips' decode of the same level."""

from __future__ import annotations

import math

import pytest
import tifffile

from gigatile.formats.jpeg import quality as jpeg_quality
from gigatile.vips import vips

TILE = "/api/v1/image/tile"
# pyr.tif / pages.tif: 3000 × 5000, max_level 5, source levels 1, 1/2 … 1/32, Q90.
# (level, x, y): full resolution, 1/2, 1/4 — all interior tiles.
INTERIOR = [(5, 3, 7), (5, 10, 18), (4, 2, 3), (3, 1, 2)]


def stored_jpeg(path, level_index, x, y):
    """The stored tile as tifffile finds it, made a JPEG the same way: tables, Adobe marker
    when the TIFF says RGB (libvips writes RGB JPEG at Q ≥ 90), the stream."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        if level_index:
            page = tif.series[0].levels[level_index].keyframe
        cols = -(-page.imagewidth // page.tilewidth)
        index = y * cols + x
        with open(path, "rb") as f:
            f.seek(page.dataoffsets[index])
            data = f.read(page.databytecounts[index])
        adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00" if page.photometric == 2 else b""
        return page.jpegtables[:-2] + adobe + data[2:]


def level_image(path, level_index, layout):
    if not level_index:
        return vips().Image.new_from_file(str(path))
    option = {"subifd": level_index - 1} if layout == "pyr.tif" else {"page": level_index}
    return vips().Image.new_from_file(str(path), **option)


@pytest.mark.parametrize("image", ["pyr.tif", "pages.tif"])
@pytest.mark.parametrize("level,x,y", INTERIOR)
def test_aligned_jpeg_tile_is_the_stored_tile(client, s3, images, image, level, x, y):
    resp = client.get(TILE, params={"path": image, "level": level, "x": x, "y": y})
    assert resp.status_code == 200
    level_index = 5 - level
    assert resp.content == stored_jpeg(images[image], level_index, x, y)
    # Pixel-identical to libvips' decode of the same tile of the same level.
    served = vips().Image.jpegload_buffer(resp.content)
    reference = level_image(images[image], level_index, image).crop(x * 256, y * 256, 256, 256)
    assert (served.width, served.height) == (256, 256)
    assert (served - reference).abs().max() == 0


def test_one_exact_get_for_a_new_stored_tile(client, s3):
    client.get(TILE, params={"path": "pyr.tif", "level": 5, "x": 0, "y": 0})
    s3.proxy.reset()
    resp = client.get(TILE, params={"path": "pyr.tif", "level": 5, "x": 6, "y": 11})
    (record,) = s3.proxy.gets("/imgs/")
    start, end = map(int, record.range.removeprefix("bytes=").split("-"))
    assert record.bytes == end - start + 1 < len(resp.content)


def test_source_quality_is_read_from_the_tables(images):
    with tifffile.TiffFile(images["pyr.tif"]) as tif:
        assert jpeg_quality(tif.pages[0].jpegtables) == 90


@pytest.mark.parametrize(
    "params,why",
    [
        ({"quality": 75}, "another quality is re-encoded"),
        ({"format": "png"}, "another format"),
        ({"tile_size": 512, "level": 4}, "a tile that spans four stored tiles"),
        ({"level": 5, "x": 11, "y": 19}, "edge tile: the stored one is padded to 256 × 256"),
        ({"level": 1, "x": 0, "y": 0}, "1/32 level resized down from the smallest stored level"),
    ],
)
def test_other_requests_are_rendered(client, images, params, why):
    query = {"path": "pyr.tif", "level": 5, "x": 3, "y": 7, **params}
    resp = client.get(TILE, params=query)
    assert resp.status_code == 200
    level_index = 5 - query["level"] if query.get("tile_size", 256) == 256 else None
    if level_index is not None and level_index < 6:
        assert resp.content != stored_jpeg(images["pyr.tif"], min(level_index, 5), query["x"], query["y"]), why


def test_explicit_source_quality_passes_through_and_off_switch_renders(configure, images):
    reference = stored_jpeg(images["pyr.tif"], 0, 3, 7)
    query = {"path": "pyr.tif", "level": 5, "x": 3, "y": 7}
    assert configure().get(TILE, params={**query, "quality": 90}).content == reference
    rendered = configure(GIGATILE_PASSTHROUGH=0).get(TILE, params=query)
    assert rendered.status_code == 200 and rendered.content != reference


def test_iiif_and_deepzoom_aligned_tiles_pass_through(client, images):
    reference = stored_jpeg(images["pyr.tif"], 0, 3, 7)
    iiif = client.get("/iiif/3/pyr.tif/768,1792,256,256/256,/0/default.jpg")
    assert iiif.status_code == 200 and iiif.content == reference
    # DeepZoom level 13 is full size for 5000 px (ceil(log2(5000)) = 13); 256 px, no overlap.
    dz = client.get("/dzi/pyr.tif_files/13/3_7.jpeg")
    assert dz.status_code == 200 and dz.content == reference


def test_ycbcr_pyramid_passes_through_pixel_identical(configure, tmp_path):
    # Below Q90 libvips stores YCbCr JPEG tiles (chroma subsampled): no marker is added.
    from infra.local_stack import make_pyramid

    path = make_pyramid(tmp_path / "q85.tif", 1024, 768, quality=85, grain=4)
    resp = configure(GIGATILE_SOURCE=tmp_path).get(TILE, params={"path": "q85.tif", "level": 2, "x": 1, "y": 1})
    assert resp.status_code == 200
    assert resp.content == stored_jpeg(path, 0, 1, 1)
    served = vips().Image.jpegload_buffer(resp.content)
    assert (served - vips().Image.new_from_file(str(path)).crop(256, 256, 256, 256)).abs().max() == 0


def stored_tiles(path) -> dict[tuple[int, int], bytes]:
    """{(downsample, index): JPEG} of every stored tile of a libvips pyramid, by tifffile."""
    found = {}
    with tifffile.TiffFile(path) as tif:
        base = tif.pages[0].imagewidth
        for k, level in enumerate(tif.series[0].levels):
            page = level.keyframe
            for index in range(len(page.dataoffsets)):
                cols = -(-page.imagewidth // page.tilewidth)
                found[(round(base / page.imagewidth) if k else 1, index)] = stored_jpeg(
                    path, k, index % cols, index // cols
                )
    return found


def passes_per_level(client, urls_by_level, stored) -> dict[int, tuple[int, int]]:
    """{scale: (tiles that are a stored tile's bytes, tiles rendered)}."""
    stored_bytes = set(stored.values())
    counts = {}
    for scale, urls in urls_by_level.items():
        passed = 0
        for url in urls:
            resp = client.get(url)
            assert resp.status_code == 200, (url, resp.text)
            passed += resp.content in stored_bytes
        counts[scale] = (passed, len(urls) - passed)
    return counts


def whole_stored_tiles(stored_size: tuple[int, int], scale: int) -> int:
    """Whole 256 px tiles of a stored level (edge tiles are stored padded: rendered)."""
    return (stored_size[0] // 256) * (stored_size[1] // 256)


@pytest.fixture(scope="module")
def odd_pyramid(s3, tmp_path_factory):
    """2049 × 1537: every stored level is floor-halved (1024, 512, 256 … wide) where the
    protocols' levels are ceil-halved (1025, 513, 257 …), one pixel wider and taller."""
    from infra.local_stack import make_pyramid
    from tests.conftest import BUCKET, PREFIX

    path = make_pyramid(tmp_path_factory.mktemp("odd") / "odd.tif", 2049, 1537, subifd=True, quality=90, grain=4)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/odd.tif")
    return path


@pytest.fixture(scope="module")
def converted_pyramid(s3, tmp_path_factory):
    """4095 × 3071 through `gigatile pyramid`'s converter: its levels are ceil-halved, the
    protocols' own sizes (2048 × 1536, 1024 × 768 …: whole tiles to the edge, where libvips
    alone stores 2047 × 1535, 1023 × 767 … whose last column and row of tiles are partial)."""
    from gigatile.conversion.pyramid import convert
    from infra.local_stack import pattern
    from tests.conftest import BUCKET, PREFIX

    folder = tmp_path_factory.mktemp("converted")
    pattern(4095, 3071, seed=5, grain=4).jpegsave(str(folder / "source.jpg"), Q=95)
    source = vips().Image.new_from_file(str(folder / "source.jpg"), access="sequential")
    path = folder / "converted.tif"
    convert(source, path, quality=90)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/converted.tif")
    return path


@pytest.fixture
def pyramids(images, odd_pyramid, converted_pyramid) -> dict:
    return {"pyr.tif": images["pyr.tif"], "odd.tif": odd_pyramid, "converted.tif": converted_pyramid}


def test_a_converted_pyramid_opens_in_one_get_and_a_new_stored_tile_is_one_more(configure, s3, converted_pyramid):
    """Its directories (and YCbCrSubsampling, so libtiff reads no level's first tile to find
    it) lie in the first bytes the tiler reads: the open is that one GET; then each new
    stored tile at full resolution and at 1/2 (levels whose tiles lie beyond it) is its own
    one GET, passed through."""
    client = configure()
    s3.proxy.reset()
    assert client.get("/api/v1/image/meta", params={"path": "converted.tif"}).status_code == 200
    (opened,) = s3.proxy.gets("converted.tif")
    assert opened.range.startswith("bytes=0-")
    for level, x, y in [(4, 9, 7), (4, 2, 10), (3, 5, 4), (3, 1, 1)]:  # 1/1 and 1/2 (max_level 4)
        s3.proxy.reset()
        tile = client.get(TILE, params={"path": "converted.tif", "level": level, "x": x, "y": y})
        assert tile.status_code == 200 and tile.content == stored_jpeg(converted_pyramid, 4 - level, x, y)
        assert len(s3.proxy.gets("converted.tif")) == 1, (level, x, y)


@pytest.mark.parametrize("name", ["pyr.tif", "odd.tif", "converted.tif"])
def test_every_whole_stored_tile_passes_through_at_every_level_in_deepzoom_and_iiif(client, pyramids, name):
    """DeepZoom (256 px, no overlap) and IIIF 3 (256 px tiles at each scale factor) over
    every level: a tile passes through exactly when a stored level
    of its scale holds it whole; edge tiles, and the levels below the smallest stored one,
    are rendered. (converted.tif's levels are the protocols' sizes: every whole tile of every
    zoom it stores is a stored tile.)"""
    path = pyramids[name]
    stored = stored_tiles(path)
    with tifffile.TiffFile(path) as tif:
        sizes = {
            round(tif.pages[0].imagewidth / lv.shape[1]): (lv.shape[1], lv.shape[0]) for lv in tif.series[0].levels
        }
    width, height = sizes[1]
    top = math.ceil(math.log2(max(width, height)))
    dz, iiif = {}, {}
    for level in range(top, -1, -1):
        scale = 2 ** (top - level)
        w, h = math.ceil(width / scale), math.ceil(height / scale)
        tiles = [(c, r) for r in range(math.ceil(h / 256)) for c in range(math.ceil(w / 256))]
        dz[scale] = [f"/dzi/{name}_files/{level}/{c}_{r}.jpeg" for c, r in tiles]
        iiif[scale] = []
        for c, r in tiles:
            x, y = c * 256 * scale, r * 256 * scale
            rw, rh = min(256 * scale, width - x), min(256 * scale, height - y)
            size = f"{math.ceil(rw / scale)},{math.ceil(rh / scale)}"  # "w," of a 1 px row would be 0 high
            iiif[scale].append(f"/iiif/3/{name}/{x},{y},{rw},{rh}/{size}/0/default.jpg")
    expected = {scale: whole_stored_tiles(sizes[scale], scale) if scale in sizes else 0 for scale in dz}
    if name == "converted.tif":  # every whole tile of every zoom it stores, to the right and bottom edges
        whole = {scale: (math.ceil(width / scale) // 256) * (math.ceil(height / scale) // 256) for scale in dz}
        assert expected == {scale: whole[scale] if scale in sizes else 0 for scale in dz}
    for protocol, urls in (("deepzoom", dz), ("iiif", iiif)):
        counts = passes_per_level(client, urls, stored)
        print(f"\n{name} {protocol}: scale → (passed through, rendered): {counts}")
        assert {scale: passed for scale, (passed, _) in counts.items()} == expected, protocol


@pytest.mark.parametrize("name", ["pyr.tif", "odd.tif", "converted.tif"])
def test_iiif2_edge_tiles_as_openseadragon_asks_them_are_the_deepzoom_tiles(client, pyramids, name):
    """OpenSeadragon asks a IIIF 2 edge tile as region + `w,` (5424 px → `170,` at 1/32),
    whose aspect gives a height one pixel off the level's (257 for 256): it is read as
    that level's tile, the same bytes as the DeepZoom tile (cut from the stored level, not
    resampled from a finer one), at the level's ceil-rounded size."""
    from infra.bench.iipsrv import osd_iiif

    path = pyramids[name]
    with tifffile.TiffFile(path) as tif:
        width, height = tif.pages[0].imagewidth, tif.pages[0].imagelength
    top, checked = math.ceil(math.log2(max(width, height))), 0
    for k in range(math.ceil(math.log2(max(width, height) / 256)) + 1):
        scale = 2**k
        cols, rows = math.ceil(width / scale / 256), math.ceil(height / scale / 256)
        edge = {(c, rows - 1) for c in range(cols)} | {(cols - 1, r) for r in range(rows)}
        for c, r in sorted(edge):
            region, size = osd_iiif(width, height, scale, c, r)
            if region != "full" and int(region.split(",")[2]) < scale:
                continue  # `1,` of a column under one level pixel wide: 1 × rh at full size, as 2.1 reads it
            iiif = client.get(f"/iiif/2/{name}/{region}/{size}/0/default.jpg")
            dz = client.get(f"/dzi/{name}_files/{top - k}/{c}_{r}.jpeg")
            assert iiif.status_code == dz.status_code == 200, (region, size, iiif.text)
            assert iiif.content == dz.content, (scale, c, r, region, size)
            shown = vips().Image.new_from_buffer(iiif.content, "")
            w, h = math.ceil(width / scale), math.ceil(height / scale)
            assert (shown.width, shown.height) == (min(256, w - c * 256), min(256, h - r * 256))
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("photometric,passed", [("ycbcr", True), ("rgb", False)])
def test_tiles_with_their_own_tables_pass_through_when_ycbcr(client, s3, tmp_path, photometric, passed):
    """tifffile writes each JPEG tile as a complete stream (no JPEGTables): a YCbCr one is
    the answer byte for byte; one the TIFF calls RGB is rendered (the stream alone would be
    read as YCbCr by a browser)."""
    import numpy as np

    from infra.local_stack import pattern
    from tests.conftest import BUCKET, PREFIX

    pixels = np.asarray(pattern(768, 512, seed=3).write_to_memory(), dtype=np.uint8).reshape(512, 768, 3)
    path = tmp_path / f"own-{photometric}.tif"
    tifffile.imwrite(path, pixels, tile=(256, 256), compression="jpeg", photometric="ycbcr", subsampling=(2, 2))
    if photometric == "rgb":  # tifffile codes JPEG as YCbCr: the tag alone says RGB here
        with tifffile.TiffFile(path, mode="r+b") as tif:
            tif.pages[0].tags["PhotometricInterpretation"].overwrite(2)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/own/{path.name}")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert 347 not in page.tags  # no JPEGTables: each tile carries its own
        offset, length = page.dataoffsets[4], page.databytecounts[4]  # tile (1, 1) of 3 × 2
    stored = path.read_bytes()[offset : offset + length]
    response = client.get(TILE, params={"path": f"own/{path.name}", "level": 2, "x": 1, "y": 1})
    assert response.status_code == 200, response.text
    assert (response.content == stored) is passed
    served = vips().Image.jpegload_buffer(response.content)
    reference = vips().Image.new_from_file(str(path)).crop(256, 256, 256, 256)
    assert (served - reference).abs().max() <= (0 if passed else 40)
