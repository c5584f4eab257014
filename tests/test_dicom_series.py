"""A DICOM WSI series from the S3 server on loopback (issue #13, item 7): opening any of its
instances serves the whole series as one pyramid, its label and overview as associated
images, and a whole stored frame as its own bytes.

The series is written the way wsidicom and PixelMed write one (tests/slide_files.py): three
VOLUME instances (1024 × 768, 1/2, 1/4; 256 px frames), a LABEL and an OVERVIEW, one
SeriesInstanceUID, side by side in one folder. The oracle is OpenSlide reading the same
files from a local folder. Beside them: an instance of another series and a text file
(both ignored). Other folders hold the bad cases: a series missing a level, a folder of
more than 64 objects, an instance declaring JPEG 2000.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openslide
import pydicom
import pytest
from pydicom.encaps import generate_frames

from infra.local_stack import pattern
from infra.pixels import decode, psnr
from tests.conftest import BUCKET, PREFIX
from tests.slide_files import dicom_series, dicom_wsi, shrink
from tests.test_slides import expected_view, from_array, pixels, rgb

TEMPLATE = Path(__file__).parent / "fixtures" / "openslide" / "boxes_0.dcm"
TILE, META = "/api/v1/image/tile", "/api/v1/image/meta"
W, H = 1024, 768
JPEG_2000 = "1.2.840.10008.1.2.4.91"


def _upload(s3, folder: str, files: dict[str, Path]) -> None:
    for name, path in files.items():
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/{folder}/{name}")


@pytest.fixture(scope="module")
def series(s3, tmp_path_factory) -> dict[str, Path]:
    """The local folder of each case (OpenSlide's input), the same files uploaded under
    `PREFIX/<case>/`."""
    from gigatile.vips import vips

    vips()
    # Each level painted from its own pattern: a zoom read from the wrong level shows it.
    levels = [pixels(pattern(W, H, seed=51))] + [shrink(pixels(pattern(W, H, seed=51 + d)), d) for d in (2, 4)]
    label, overview = pixels(pattern(200, 100, seed=55)), pixels(pattern(400, 160, seed=56))
    folders = {}
    whole = tmp_path_factory.mktemp("series")
    files = dicom_series(whole, TEMPLATE, levels, label, overview)
    # Larger than the series' base: were it taken as one of its levels, the size would say so.
    other = dicom_wsi(tmp_path_factory.mktemp("other") / "other.dcm", TEMPLATE, pixels(pattern(1280, 960)), 256)
    _upload(s3, "dcm", {**files, "other.dcm": other})
    s3.bucket_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/dcm/notes.txt", Body=b"scanned on Friday")
    folders["dcm"] = whole

    missing = tmp_path_factory.mktemp("missing")  # level1.dcm was not copied
    for name in ("level0.dcm", "level2.dcm", "label.dcm"):
        (missing / name).write_bytes(files[name].read_bytes())
    _upload(s3, "dcm-missing", {p.name: p for p in missing.iterdir()})
    folders["dcm-missing"] = missing

    _upload(s3, "dcm-crowded", files)
    for i in range(64):
        s3.bucket_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/dcm-crowded/z{i:02}.txt", Body=b"x" * 300)

    ds = pydicom.dcmread(files["level2.dcm"])
    ds.file_meta.TransferSyntaxUID = JPEG_2000  # its frames unchanged: refused from the header
    jp2k = tmp_path_factory.mktemp("jp2k") / "jp2k.dcm"
    ds.save_as(jp2k, enforce_file_format=True)
    _upload(s3, "dcm-jp2k", {"jp2k.dcm": jp2k})
    return folders


def _meta(client, path: str, **params) -> dict:
    response = client.get(META, params={"path": path, **params})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("opened", ["level0.dcm", "level2.dcm", "label.dcm"])
def test_any_instance_opens_the_whole_series(client, series, opened):
    slide = openslide.OpenSlide(series["dcm"] / "level1.dcm")
    assert slide.level_downsamples == (1.0, 2.0, 4.0)
    body = _meta(client, f"dcm/{opened}")
    assert (body["format"], body["flavor"]) == ("dicom", "dicom")
    assert (body["width"], body["height"]) == slide.dimensions == (W, H)  # not the other series' 1280
    assert body["source_levels"] == 3 and body["pages"] == 1
    assert sorted(body["associated"]) == sorted(slide.associated_images) == ["label", "macro"]
    info = client.get(f"/iiif/3/dcm%2F{opened}/info.json").json()
    assert (info["width"], info["height"]) == (W, H)


def _check_every_zoom(client, slide, path: str, downsamples) -> None:
    """Each zoom of the simple API (256 px tiles) against OpenSlide's pixels of the stored
    level that zoom must be read from."""
    body = _meta(client, path)
    for entry in body["levels"]:
        level, scale = entry["level"], entry["scale"]
        x, y = (1, 1) if entry["cols"] > 1 and entry["rows"] > 1 else (0, 0)
        response = client.get(TILE, params={"path": path, "level": level, "x": x, "y": y, "format": "png"})
        assert response.status_code == 200, response.text
        tile = decode(response.content)
        view = (math.ceil(W / scale), math.ceil(H / scale))
        box = (x * 256, y * 256, tile.width, tile.height)
        assert (tile.width, tile.height) == (min(256, view[0] - box[0]), min(256, view[1] - box[1]))
        assert psnr(tile, from_array(expected_view(slide, downsamples, scale, box, view))) >= 35, (path, scale)


def test_every_zoom_matches_openslide(client, series):
    slide = openslide.OpenSlide(series["dcm"] / "level0.dcm")
    _check_every_zoom(client, slide, "dcm/level2.dcm", (1, 2, 4))


def test_associated_images_match_openslide(client, series):
    slide = openslide.OpenSlide(series["dcm"] / "level0.dcm")
    for name, image in slide.associated_images.items():
        response = client.get(f"/api/v1/image/associated/{name}", params={"path": "dcm/level0.dcm", "format": "png"})
        assert response.status_code == 200, response.text
        served = decode(response.content)
        assert (served.width, served.height) == image.size
        assert psnr(served, from_array(rgb(image))) >= 35, name


def test_a_tile_reads_at_most_two_ranges_of_its_level_cold(configure, s3, series):
    """With 16 KiB blocks (the files are small: with the default 256 KiB the open has read
    them whole) a new tile at every zoom costs one or two GETs of the level it reads."""
    client = configure(GIGATILE_BLOCK_SIZE=16384, GIGATILE_OPEN_READ_KB=16)
    body = _meta(client, "dcm/level1.dcm")
    opened = s3.proxy.gets("/dcm/")
    # The instance, then each other object's first block and each used one's last frame header.
    assert len(opened) <= 1 + 7 + 4, opened
    for entry in body["levels"]:
        s3.proxy.reset()
        xy = 1 if entry["cols"] > 1 else 0
        params = {"path": "dcm/level1.dcm", "level": entry["level"], "x": xy, "y": xy, "format": "png"}
        assert client.get(TILE, params=params).status_code == 200
        gets = s3.proxy.gets("/dcm/")
        level = {0: "level2", 1: "level1", 2: "level0"}[entry["level"]]
        assert 1 <= len(gets) <= 2 and all(level in g.path for g in gets), (entry, gets)


def test_whole_stored_frame_is_served_as_its_bytes(client, s3, series):
    """A 256 px JPEG tile at a level's own scale, aligned on a whole frame, is that frame;
    an edge tile (the frame is padded past the image) is rendered."""
    for name, level, x, y in (("level0.dcm", 2, 2, 1), ("level1.dcm", 1, 1, 0)):
        ds = pydicom.dcmread(series["dcm"] / name)
        frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
        per_row = math.ceil(ds.TotalPixelMatrixColumns / 256)
        response = client.get(TILE, params={"path": "dcm/level0.dcm", "level": level, "x": x, "y": y})
        assert response.status_code == 200, response.text
        assert response.content == frames[y * per_row + x], name
    s3.proxy.reset()
    edge = client.get(TILE, params={"path": "dcm/level0.dcm", "level": 1, "x": 1, "y": 1})
    assert edge.status_code == 200 and decode(edge.content).height == 128
    stored = generate_frames(pydicom.dcmread(series["dcm"] / "level1.dcm").PixelData, number_of_frames=4)
    assert edge.content not in list(stored)


def test_a_missing_level_is_read_from_the_next_finer(client, series):
    slide = openslide.OpenSlide(series["dcm-missing"] / "level2.dcm")
    assert slide.level_downsamples == (1.0, 4.0)
    body = _meta(client, "dcm-missing/level2.dcm")
    assert body["source_levels"] == 2 and body["associated"] == ["label"]
    _check_every_zoom(client, slide, "dcm-missing/level2.dcm", (1, 4))


def test_a_crowded_folder_is_not_searched(client, s3, series):
    """Over 64 objects beside it: the instance alone is served, no other object is read."""
    body = _meta(client, "dcm-crowded/level1.dcm")
    assert (body["width"], body["height"], body["source_levels"]) == (W // 2, H // 2, 1)
    assert body["associated"] == []
    assert [g for g in s3.proxy.gets("/dcm-crowded/") if "level1.dcm" not in g.path] == []


def test_jpeg_2000_instance_is_refused_naming_it(client, series):
    response = client.get(META, params={"path": "dcm-jp2k/jp2k.dcm"})
    assert response.status_code == 415
    assert JPEG_2000 in response.json()["error"]["message"]


def test_a_replaced_level_is_read_anew(configure, s3, series, tmp_path):
    """The series' version is its objects' ETags: a level replaced changes it (a new ETag on
    every route) and, after the version TTL (0 here), the new level's pixels are served."""
    client = configure(GIGATILE_VERSION_TTL=0)
    folder = "dcm-replaced"
    _upload(s3, folder, {p.name: p for p in series["dcm"].glob("level*.dcm")})
    path = f"{folder}/level0.dcm"
    before = _meta(client, path)["version"]
    params = {"path": path, "level": 0, "x": 0, "y": 0, "format": "png"}
    old_tile = client.get(TILE, params=params)
    assert old_tile.status_code == 200
    replacement = np.full((H // 4, W // 4, 3), (200, 30, 30), dtype=np.uint8)  # level 2, painted red
    new_level = dicom_wsi(
        tmp_path / "level2.dcm",
        series["dcm"] / "level2.dcm",
        replacement,
        256,
        series=str(pydicom.dcmread(series["dcm"] / "level2.dcm").SeriesInstanceUID),
    )
    _upload(s3, folder, {"level2.dcm": new_level})
    after = _meta(client, path)["version"]
    assert after != before
    new_tile = client.get(TILE, params=params)
    assert new_tile.status_code == 200 and new_tile.headers["etag"] != old_tile.headers["etag"]
    expected = from_array(replacement)
    assert psnr(decode(new_tile.content), expected) >= 35
    assert psnr(decode(old_tile.content), expected) < 15


def test_a_series_past_4_gb_is_addressed_with_64_bit_offsets():
    """The directories shown to libvips are BigTIFF: frames of an instance that lies past
    4 GB in the series read end to end keep their offsets (read back by gigatile's own
    TIFF parser over the patched bytes)."""
    from gigatile.formats import dicom
    from gigatile.formats.tiff import TiffFile
    from gigatile.sources.vips_source import PatchedReader

    size = 6 << 30  # the series' objects end to end
    level = (5 << 30) + 7  # where the second instance begins in it

    class Zeros:  # the objects' own bytes do not matter to the directories
        def read(self, offset: int, length: int, exact: bool = False) -> bytes:
            return bytes(max(0, min(length, size - offset)))

    base = dicom.Instance(512, 512, 256, 256, 3, "YBR_FULL_422", ((100, 900),) * 4)
    label = dicom.Instance(200, 100, 200, 100, 3, "YBR_FULL_422", ((300, 500),))
    directories = [dicom.Directory(base, 0), dicom.Directory(base, level, reduced=True)]
    directories.append(dicom.Directory(label, level + 2000, True, "label", striped=True))
    patches = dicom.as_tiff(directories, size)
    tiff = TiffFile(PatchedReader(Zeros(), size, patches), size + len(patches[1][1]))
    assert tiff.big and len(tiff.pages) == 3
    assert tiff.tiled_level(tiff.pages[1]).offsets == (level + 100,) * 4
    assert tiff.description(tiff.pages[2]) == "label" and not tiff.pages[2].tiled
