"""Striped TIFFs too large to decode whole give full-resolution views by reading only the
strips a view covers (issue #13, item 5), through every protocol, pixel for pixel what
tifffile decodes of the same strips; their lower zooms stay refused (413, or 503 while a
pyramid is made), as does a file whose one strip is over the decode budget."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from conftest import BUCKET, PREFIX
from infra.local_stack import make_striped_scan
from infra.pixels import decode

SCAN = "strips-scan.tif"  # the 12,000 × 9,000 LZW scan (RGB, Predictor 2)
BUDGET = {"GIGATILE_MAX_DECODE_PIXELS": 4_000_000}  # the scan is 108 Mpx; a 256-row band 3 Mpx
BLOCK = 256 * 1024  # the reader's block (GIGATILE_BLOCK_SIZE's default)


@pytest.fixture(scope="module")
def scan(s3, tmp_path_factory):
    path = make_striped_scan(tmp_path_factory.mktemp("strips") / "scan.tif")
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/{SCAN}")
    return path


def tifffile_region(path, left: int, top: int, width: int, height: int) -> np.ndarray:
    """Rows top … top + height of the file's first page decoded by tifffile (imagecodecs),
    strip by strip (the whole scan would be 324 MB), cut to the box; (height, width, samples)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        planes, _, _, width_all, contig = page.shaped
        rps = page.rowsperstrip
        band = np.zeros((planes, height, width_all, contig), page.dtype)
        for index, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts, strict=True)):
            plane, first = divmod(index, -(-page.imagelength // rps))
            first *= rps
            if first + rps <= top or first >= top + height:
                continue
            tif.filehandle.seek(offset)
            stored = tif.filehandle.read(count)  # before page.decode, which may read tags lazily
            segment, _, _ = page.decode(stored, index, jpegtables=page.jpegtables)
            rows = segment[0, : min(rps, page.imagelength - first)]
            lo, hi = max(first, top), min(first + len(rows), top + height)
            band[plane, lo - top : hi - top] = rows[lo - first : hi - first]
    pixels = band[..., 0].transpose(1, 2, 0) if planes > 1 else band[0]
    return pixels[:, left : left + width]


def covered_strips(path, top: int, height: int) -> list[tuple[int, int]]:
    """(offset, length) of each stored strip holding rows top … top + height (of every plane)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        rps = page.rowsperstrip
        per_plane = -(-page.imagelength // rps)
        strips = [
            plane * per_plane + i
            for plane in range(page.shaped[0])
            for i in range(top // rps, (top + height - 1) // rps + 1)
        ]
        return [(page.dataoffsets[i], page.databytecounts[i]) for i in strips]


def served(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    image = decode(response.content)
    return image.numpy().reshape(image.height, image.width, image.bands)


# (url, box of the full-resolution image it shows): a simple API tile in the middle and at
# the bottom-right corner (224 × 40), a DeepZoom top-level tile, IIIF 3 and 2 regions.
VIEWS = [
    (f"/api/v1/image/tile?path={SCAN}&level=6&x=23&y=17&format=png", (5888, 4352, 256, 256)),
    (f"/api/v1/image/tile?path={SCAN}&level=6&x=46&y=35&format=png", (11776, 8960, 224, 40)),
    (f"/dzi/{SCAN}_files/14/20_15.png", (5120, 3840, 256, 256)),
    (f"/iiif/3/{SCAN}/5000,4000,300,200/max/0/default.png", (5000, 4000, 300, 200)),
    (f"/iiif/2/{SCAN}/0,8990,700,10/full/0/default.png", (0, 8990, 700, 10)),
]


@pytest.mark.parametrize(("url", "box"), VIEWS, ids=["simple", "simple-corner", "deepzoom", "iiif3", "iiif2-bottom"])
def test_a_full_resolution_view_reads_only_the_strips_it_covers(configure, s3, scan, url, box):
    client = configure(**BUDGET)
    assert client.get("/api/v1/image/meta", params={"path": SCAN}).status_code == 200  # opened
    s3.proxy.reset()
    pixels = served(client.get(url))
    left, top, width, height = box
    assert np.array_equal(pixels, tifffile_region(scan, *box))
    strips = covered_strips(scan, top, height)
    first, end = strips[0][0], max(o + n for o, n in strips)
    stored = sum(n for _, n in strips)
    gets = s3.proxy.gets(SCAN)
    assert len(gets) <= 1  # the covered strips lie one after another: one merged GET
    for get in gets:
        lo, hi = map(int, re.fullmatch(r"bytes=(\d+)-(\d+)", get.range or "").groups())
        assert first - BLOCK <= lo and hi < end + BLOCK  # nothing above or below the strips
    assert sum(get.bytes for get in gets) <= stored + BLOCK


def test_lower_zooms_of_a_striped_scan_stay_refused(configure, s3, scan):
    """A reduced view needs every row of the level: over the budget, as before."""
    reduced = [
        ("/api/v1/image/tile", {"path": SCAN, "level": 5, "x": 10, "y": 8}),
        (f"/iiif/3/{SCAN}/5000,4000,512,512/256,/0/default.jpg", {}),
    ]
    client = configure(**BUDGET)
    for url, params in reduced:
        refused = client.get(url, params=params)
        assert refused.status_code == 413, refused.text
        assert "convert" in refused.json()["error"]["message"]
    client = configure(**BUDGET, GIGATILE_CONVERTER=1, GIGATILE_CONVERT_MIN_PIXELS=1_000_000)
    for url, params in reduced:
        pending = client.get(url, params=params)
        assert pending.status_code == 503 and pending.json()["error"]["code"] == "conversion_pending"
    assert sum(get.bytes for get in s3.proxy.gets(SCAN)) < 1 << 20  # headers only


def test_a_view_whose_strips_are_over_the_budget_is_refused(configure, s3, scan):
    """A tall IIIF region covers more strips than the budget allows: 413, no strip read."""
    client = configure(**BUDGET)
    assert client.get("/api/v1/image/meta", params={"path": SCAN}).status_code == 200
    s3.proxy.reset()
    refused = client.get(f"/iiif/3/{SCAN}/0,0,100,1000/max/0/default.png")
    assert refused.status_code == 413 and "strip" in refused.json()["error"]["message"]
    assert s3.proxy.gets(SCAN) == []


def test_one_strip_over_the_budget_is_refused(configure, s3, tmp_path):
    """RowsPerStrip = height: any tile covers the whole image, and the budget decides."""
    rng = np.random.default_rng(5)
    path = tmp_path / "one-strip.tif"
    tifffile.imwrite(path, rng.integers(0, 256, (1500, 2000, 3), np.uint8), compression="lzw", rowsperstrip=1500)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/strips-one.tif")
    client = configure(GIGATILE_MAX_DECODE_PIXELS=1_000_000)
    refused = client.get("/api/v1/image/tile", params={"path": "strips-one.tif", "level": 3, "x": 2, "y": 2})
    assert refused.status_code == 413, refused.text
    assert "convert" in refused.json()["error"]["message"]
    assert sum(get.bytes for get in s3.proxy.gets("strips-one.tif")) < path.stat().st_size // 2


def _smooth_noise(rng, height: int, width: int, samples: int) -> np.ndarray:
    """Gradients plus noise: compressible as scans are, and every pixel different."""
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 255 // width + y * 255 // height) // 2
    noise = rng.integers(0, 16, (height, width, samples))
    return ((base[..., None] + noise) % 256).astype(np.uint8).squeeze()


# How scanning software and libraries write strips: (tifffile.imwrite options, samples).
VARIANTS = {
    "lzw-predictor-16rows": (dict(compression="lzw", predictor=True, rowsperstrip=16), 3),
    "deflate-predictor-grey-7rows": (dict(compression="zlib", predictor=True, rowsperstrip=7), 1),
    "uncompressed-32rows": (dict(rowsperstrip=32), 3),
    "packbits-grey": (dict(compression="packbits", rowsperstrip=8), 1),
    "lzw-planar-separate": (dict(compression="lzw", predictor=True, rowsperstrip=16, planarconfig="separate"), 3),
    "jpeg-ycbcr-16rows": (dict(compression="jpeg", compressionargs={"level": 95}, rowsperstrip=16), 3),
    "jpeg-rgb-16rows": (dict(compression="jpeg", compressionargs={"level": 95}, rowsperstrip=16, photometric="rgb"), 3),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_strips_of_every_common_coding_decode_as_tifffile_reads_them(configure, s3, tmp_path, variant):
    options, samples = VARIANTS[variant]
    rng = np.random.default_rng(len(variant))
    path = tmp_path / f"{variant}.tif"
    pixels = _smooth_noise(rng, 1500, 2000, samples)
    planes_first = options.get("planarconfig") == "separate"
    if options.get("compression") != "jpeg":  # JPEG strips: YCbCr unless asked
        options = {"photometric": "rgb" if samples == 3 else "minisblack", **options}
    tifffile.imwrite(path, pixels.transpose(2, 0, 1) if planes_first else pixels, **options)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/strips-{variant}.tif")
    client = configure(GIGATILE_MAX_DECODE_PIXELS=1_000_000)  # 3 Mpx: never decoded whole
    assert client.get("/api/v1/image/meta", params={"path": f"strips-{variant}.tif"}).status_code == 200
    s3.proxy.reset()
    for box in [(700, 501, 300, 250), (1900, 1450, 100, 50)]:  # across strips; the last, short one
        s3.proxy.reset()
        got = served(client.get(f"/iiif/3/strips-{variant}.tif/{','.join(map(str, box))}/max/0/default.png"))
        expected = tifffile_region(path, *box).reshape(got.shape)
        if options.get("compression") == "jpeg":  # libjpeg-turbo in both, IDCT details may differ
            mse = np.mean((got.astype(float) - expected) ** 2)
            assert 10 * np.log10(255**2 / max(mse, 1e-12)) >= 45  # PSNR in dB
        else:
            assert np.array_equal(got, expected)
        stored = sum(n for _, n in covered_strips(path, box[1], box[3]))
        assert sum(get.bytes for get in s3.proxy.gets(f"strips-{variant}.tif")) <= stored + BLOCK


def test_a_bilevel_fax_scan_decodes_to_its_own_pixels(configure, s3, tmp_path):
    """CCITT Group 4 strips (1 bit, as document scanners write them; libvips writes 128 rows
    a strip): the served region is the written one, black and white as 0 and 255."""
    from gigatile.vips import vips

    written = (np.random.default_rng(4).integers(0, 2, (1500, 2000)) * 255).astype(np.uint8)
    path = tmp_path / "fax.tif"
    vips().Image.new_from_array(written).tiffsave(str(path), compression="ccittfax4", bitdepth=1)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/strips-fax.tif")
    client = configure(GIGATILE_MAX_DECODE_PIXELS=1_000_000)
    for left, top, width, height in [(700, 501, 300, 250), (1900, 1450, 100, 50)]:
        got = served(client.get(f"/iiif/3/strips-fax.tif/{left},{top},{width},{height}/max/0/default.png"))
        assert np.array_equal(got.reshape(height, width), written[top : top + height, left : left + width])
