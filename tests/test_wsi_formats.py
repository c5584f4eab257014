"""Other scanners' whole-slide formats from the S3 server on loopback (issue #13, item 7):
each is served with its own levels or refused with a 415 naming it, and `meta` names the
layout it recognised (`flavor`).

- Philips TIFF and Leica SCN are served; OpenSlide's reading of the same files is the
  oracle, at every zoom (PSNR ≥ 35 dB).
- A DICOM WSI instance (one level, JPEG baseline frames) is served, its frames read as
  the tiles of a TIFF; OpenSlide is the oracle. Other DICOM (JPEG 2000 …) is refused.
- Ventana BIF and Hamamatsu NDPI are refused (415, the format named) on every route
  after reading only the object's header.

Files are written the way their scanners write them (tests/slide_files.py; OpenSlide
detects each as its vendor's); DICOM: openslide-python's own `boxes_0.dcm` fixture
(tests/fixtures/openslide) and a 1,600 × 1,200 instance of 130 frames (1.2 MB) pydicom makes
from it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openslide
import pytest
from pydicom.uid import generate_uid

from infra.local_stack import pattern
from infra.pixels import decode, psnr
from tests.conftest import BUCKET, PREFIX
from tests.slide_files import LEICA_CLICKS, dicom_wsi, hamamatsu_ndpi, leica_scn, philips_tiff, shrink, ventana_bif
from tests.test_slides import assert_every_zoom_matches, from_array, pixels, rgb

DICOM = Path(__file__).parent / "fixtures" / "openslide" / "boxes_0.dcm"
TILE = "/api/v1/image/tile"
W, H = 1000, 700  # level 0 as scanned (Philips pads it to 1024 × 768)
OFFSET = (2000, 800)  # where the Leica main image lies on the glass slide, in its pixels


class MainImage:
    """A Leica slide's main image as OpenSlide reads it: OpenSlide paints it on a canvas of
    the whole glass slide (transparent around it); gigatile serves the image itself."""

    def __init__(self, slide: openslide.OpenSlide):
        self.slide = slide
        x, y = (int(slide.properties[f"openslide.bounds-{k}"]) for k in "xy")
        self.origin = (x, y)
        w, h = (int(slide.properties[f"openslide.bounds-{k}"]) for k in ("width", "height"))
        self.level_dimensions = [(math.ceil(w / d), math.ceil(h / d)) for d in slide.level_downsamples]
        self.dimensions = self.level_dimensions[0]

    def read_region(self, location, level, size):
        return self.slide.read_region((location[0] + self.origin[0], location[1] + self.origin[1]), level, size)


@pytest.fixture(scope="module")
def wsi(s3, tmp_path_factory) -> dict[str, Path]:
    from gigatile.vips import vips

    vips()
    folder = tmp_path_factory.mktemp("wsi")
    # Each reduced level painted from its own pattern: a view read from another level than
    # the one it must use shows a different picture.
    levels = [pixels(pattern(W, H, seed=31))] + [shrink(pixels(pattern(W, H, seed=31 + d)), d) for d in (2, 4)]
    label, macro = pixels(pattern(200, 100, seed=32)), pixels(pattern(400, 160, seed=33))
    # The refused ones are large enough (4 MB) that reading them would show in the counts.
    big = pixels(pattern(3000, 2000, seed=34, grain=40))
    files = {
        "philips.tiff": philips_tiff(folder / "philips.tiff", levels, label, macro),
        "leica.scn": leica_scn(folder / "leica.scn", levels, macro, OFFSET),
        "ventana.bif": ventana_bif(folder / "ventana.bif", big, label),
        "hamamatsu.ndpi": hamamatsu_ndpi(folder / "hamamatsu.ndpi", big, macro),
        "boxes_0.dcm": DICOM,
        # Made from boxes_0.dcm: a series of its own, or it would be boxes_0's base level.
        "frames.dcm": dicom_wsi(
            tmp_path_factory.mktemp("dicom") / "frames.dcm",
            DICOM,
            pixels(pattern(1600, 1200, seed=35, grain=40)),
            128,
            series=generate_uid(),
        ),
        "jp2k.dcm": _jpeg2000_syntax(DICOM, folder / "jp2k.dcm"),
    }
    for name, path in files.items():
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/wsi/{name}")
    return files


def _jpeg2000_syntax(template: Path, path: Path) -> Path:
    """`template` declaring JPEG 2000 (its frames unchanged): refused from the header."""
    import pydicom

    ds = pydicom.dcmread(template)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.91"
    ds.save_as(path, enforce_file_format=True)
    return path


def meta(client, name, **params):
    return client.get("/api/v1/image/meta", params={"path": f"wsi/{name}", **params})


def oracle(path: Path):
    slide = openslide.OpenSlide(path)
    return MainImage(slide) if slide.properties["openslide.vendor"] == "leica" else slide


@pytest.mark.parametrize(("name", "vendor"), [("philips.tiff", "philips"), ("leica.scn", "leica")])
def test_served_with_the_slides_own_levels(client, wsi, name, vendor):
    assert openslide.OpenSlide.detect_format(wsi[name]) == vendor  # written as the scanner writes it
    slide = oracle(wsi[name])
    body = meta(client, name).json()
    assert body["format"] == "tiff" and body["flavor"] == vendor
    assert (body["width"], body["height"]) == slide.dimensions
    assert body["pages"] == 1
    assert body["source_levels"] == len(slide.level_dimensions) == 3
    # Leica's macro is an IFD; Philips keeps its label and macro inside the XML (not listed).
    assert body["associated"] == (["macro"] if vendor == "leica" else [])
    dzi = client.get(f"/dzi/wsi/{name}.dzi").text
    assert f'Width="{slide.dimensions[0]}" Height="{slide.dimensions[1]}"' in dzi
    info = client.get(f"/iiif/3/wsi%2F{name}/info.json").json()
    assert (info["width"], info["height"]) == slide.dimensions


@pytest.mark.parametrize("name", ["philips.tiff", "leica.scn"])
def test_every_zoom_matches_openslide(client, wsi, name):
    """Each zoom of the simple API (128 px tiles: 1/1 … 1/8) against OpenSlide's pixels of
    the stored level that zoom must be read from (levels 1, 2, 4)."""
    assert_every_zoom_matches(client, f"wsi/{name}", oracle(wsi[name]), (1, 2, 4))


def test_leica_macro_matches_openslide(client, wsi):
    slide = openslide.OpenSlide(wsi["leica.scn"])
    response = client.get("/api/v1/image/associated/macro", params={"path": "wsi/leica.scn", "format": "png"})
    assert response.status_code == 200, response.text
    served = decode(response.content)
    assert (served.width, served.height) == slide.associated_images["macro"].size
    assert psnr(served, from_array(rgb(slide.associated_images["macro"]))) >= 40


def test_leica_level_zero_is_the_main_image(wsi):
    """The fixture's main image lies where the XML says, at OpenSlide's level 0 scale."""
    slide = openslide.OpenSlide(wsi["leica.scn"])
    assert slide.properties["openslide.bounds-x"] == str(OFFSET[0])
    assert slide.level_dimensions[0][0] == 400 * 10_000 // LEICA_CLICKS  # the glass slide, not the image


@pytest.mark.parametrize(
    ("name", "vendor", "named"),
    [
        ("ventana.bif", "ventana", "Ventana BIF"),
        ("hamamatsu.ndpi", "hamamatsu", "Hamamatsu NDPI"),
        ("jp2k.dcm", "dicom", "DICOM WSI instance not served"),
    ],
)
def test_refused_formats_are_415_after_the_header(configure, s3, wsi, name, vendor, named):
    assert openslide.OpenSlide.detect_format(wsi[name]) == vendor
    client = configure()
    key = f"/wsi/{name}"
    routes = [
        ("/api/v1/image/meta", {"path": f"wsi/{name}"}),
        (TILE, {"path": f"wsi/{name}", "level": 0, "x": 0, "y": 0}),
        (f"/dzi/wsi/{name}.dzi", {}),
        (f"/iiif/3/wsi%2F{name}/info.json", {}),
        (f"/iiif/3/wsi%2F{name}/full/max/0/default.jpg", {}),
    ]
    s3.proxy.reset()
    for route, params in routes:
        response = client.get(route, params=params)
        assert response.status_code == 415, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "unsupported_image"
        assert named in error["message"], error["message"]
    gets = s3.proxy.gets(key)
    size = wsi[name].stat().st_size
    # The first read (the open's, up to 512 KiB) and, for a TIFF, the directories'; no pixels.
    assert len(gets) <= 2 * len(routes), gets
    read = sum(r.bytes for r in gets)
    assert read <= min(size, 512 * 1024) * len(routes), (read, size)
    if size > 1024 * 1024:
        assert max(r.bytes for r in gets) <= 512 * 1024


def test_flavor_of_other_files(client, s3, wsi, tmp_path):
    """Aperio's, OME's and plain TIFFs' meta name what they are too (None where nothing is
    recognised)."""
    import tifffile

    s3.bucket_client.upload_file(
        str(Path(__file__).parent / "fixtures" / "openslide" / "small.svs"), BUCKET, f"{PREFIX}/wsi/small.svs"
    )
    tifffile.imwrite(tmp_path / "a.ome.tif", np.zeros((2, 64, 64), np.uint16), ome=True, tile=(32, 32))
    s3.bucket_client.upload_file(str(tmp_path / "a.ome.tif"), BUCKET, f"{PREFIX}/wsi/a.ome.tif")
    assert meta(client, "small.svs").json()["flavor"] == "aperio"
    assert meta(client, "a.ome.tif").json()["flavor"] == "ome"
    assert client.get("/api/v1/image/meta", params={"path": "pyr.tif"}).json()["flavor"] is None


def test_several_leica_regions_are_refused(client, s3, tmp_path):
    """A Leica slide with two scanned regions (OpenSlide composites them on the glass
    slide's canvas): 415 naming it, not one region shown as the slide."""
    base = np.full((300, 400, 3), 200, np.uint8)
    path = leica_scn(tmp_path / "two.scn", [base, shrink(base, 2)], np.zeros((160, 400, 3), np.uint8), (10, 10))
    import tifffile

    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    second = xml[xml.index('<image name="main"') : xml.index("</collection>")].replace('uuid="3"', 'uuid="4"')
    tifffile.tiffcomment(path, xml.replace("</collection>", second + "</collection>").encode())
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/wsi/two.scn")
    response = meta(client, "two.scn")
    assert response.status_code == 415
    assert "Leica SCN with 2 scanned regions" in response.json()["error"]["message"]


@pytest.mark.parametrize("spacing", ["nan nan", "0 0", "1e-320 1e-320", "&quot;x&quot;", ""])
def test_philips_with_unusable_spacings_is_served_as_pages(client, s3, wsi, tmp_path, spacing):
    """A Philips XML whose pixel spacings say nothing usable: its levels are not guessed
    from their padded sizes; the file is served as the plain TIFF it also is."""
    import re
    import shutil

    import tifffile

    path = shutil.copy(wsi["philips.tiff"], tmp_path / "bad.tiff")
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    bad = re.sub(r'(Name="DICOM_PIXEL_SPACING"[^>]*>)[^<]*', lambda m: m.group(1) + spacing, xml, count=1)
    tifffile.tiffcomment(path, bad.encode())
    name = f"bad-{len(spacing)}-{spacing[:2]}.tiff"
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/wsi/{name}")
    body = meta(client, name).json()
    assert body["flavor"] == "philips" and body["pages"] == 3 and body["source_levels"] == 1, body


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["philips", "leica"])
def test_a_large_slide_reads_a_range_per_new_tile(configure, s3, tmp_path, kind):
    """A 6,000 × 4,000 slide (levels 1, 2, 4, 8, 16; 19 MB), cold at every zoom of the
    simple API: each tile reads at most 2 ranges after the open, never more than
    max(4 MiB, 10 % of the file); the open reads the directories, not the levels."""
    big = pixels(pattern(6000, 4000, seed=3, grain=30))
    levels = [big] + [shrink(big, d) for d in (2, 4, 8, 16)]
    small = pixels(pattern(400, 160, seed=4))
    path = (
        philips_tiff(tmp_path / "big.tiff", levels, small, small)
        if kind == "philips"
        else leica_scn(tmp_path / "big.scn", levels, small, (100, 100))
    )
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/wsi/big-{kind}")
    client = configure()
    size = path.stat().st_size
    s3.proxy.reset()
    body = meta(client, f"big-{kind}").json()
    assert body["source_levels"] == 5 and (body["width"], body["height"])[0] >= 6000
    opened = s3.proxy.gets(f"/wsi/big-{kind}")
    assert sum(r.bytes for r in opened) <= size / 10, opened
    for level in range(body["max_level"] + 1):
        s3.proxy.reset()
        xy = 1 if level > 3 else 0
        params = {"path": f"wsi/big-{kind}", "level": level, "x": xy, "y": xy}
        assert client.get(TILE, params=params).status_code == 200
        gets = s3.proxy.gets(f"/wsi/big-{kind}")
        assert len(gets) <= 2 and sum(r.bytes for r in gets) <= max(4 << 20, size / 10), (level, gets)


@pytest.mark.parametrize("name", ["boxes_0.dcm", "frames.dcm"])
def test_dicom_instance_is_served_as_one_level(configure, s3, wsi, name):
    """Its frames are the tiles: meta, DeepZoom, IIIF and every zoom match OpenSlide; a
    full-resolution tile of the 130-frame instance is one GET of its frame."""
    slide = openslide.OpenSlide(wsi[name])
    client = configure()
    body = meta(client, name, tile_size=64).json()
    assert (body["format"], body["flavor"]) == ("dicom", "dicom"), body
    assert (body["width"], body["height"]) == slide.dimensions
    assert body["source_levels"] == 1 and body["pages"] == 1
    info = client.get(f"/iiif/3/wsi%2F{name}/info.json").json()
    assert (info["width"], info["height"]) == slide.dimensions
    if name == "frames.dcm":  # its last frames lie past the open's first 512 KiB; before any zoom reads them
        size = wsi[name].stat().st_size
        assert size > 1024 * 1024
        full = meta(client, name, tile_size=128).json()["max_level"]
        s3.proxy.reset()
        params = {"path": f"wsi/{name}", "level": full, "x": 10, "y": 8, "tile_size": 128, "format": "png"}
        response = client.get(TILE, params=params)
        gets = s3.proxy.gets(f"/wsi/{name}")
        assert len(gets) == 1 and gets[0].bytes < size / 20, gets
        expected = from_array(rgb(slide.read_region((1280, 1024), 0, (128, 128))))
        assert psnr(decode(response.content), expected) >= 35
    whole = from_array(rgb(slide.read_region((0, 0), 0, slide.dimensions)))
    for entry in body["levels"]:
        scale = entry["scale"]
        view = (math.ceil(whole.width / scale), math.ceil(whole.height / scale))
        params = {"path": f"wsi/{name}", "level": entry["level"], "x": 0, "y": 0, "tile_size": 64, "format": "png"}
        response = client.get(TILE, params=params)
        assert response.status_code == 200, response.text
        tile = decode(response.content)
        expected = whole.resize(1 / scale, kernel="lanczos3") if scale > 1 else whole
        expected = expected.embed(0, 0, *view, extend="copy").crop(0, 0, tile.width, tile.height)
        assert psnr(tile, expected) >= 35, (name, scale)
