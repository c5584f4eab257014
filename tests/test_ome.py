"""OME-TIFF as Bio-Formats 6+ and tifffile write it, from the S3 server on loopback: one
16-bit grey page per channel, each page's reduced levels in its SubIFDs, OME-XML in the
first ImageDescription. Shown as one image (channels composed: 1 grey, 2 red + green,
3 RGB, more: the first three), each channel stretched over its own range.

Fixtures are written by tifffile at test time; the oracle is tifffile reading the same
level and channel, stretched by a few lines of NumPy (tests/test_stretch.py's)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from gigatile.formats.ome import parse
from tests.conftest import BUCKET, PREFIX
from tests.test_stretch import close, cut, near, pixels, stretched

TILE = "/api/v1/image/tile"
META = "/api/v1/image/meta"
WIDTH, HEIGHT = 2000, 1500
SMALL_READS = {"GIGATILE_OPEN_READ_KB": 16, "GIGATILE_BLOCK_SIZE": 4096}


def planes(channels: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Smooth 16-bit channels, each with its own range (as fluorescence: dim and bright)."""
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(channels)
    made = [
        (1000 * (c + 1) + (2000 + 3000 * c) * (0.5 + 0.5 * np.sin(xx / (90 + 40 * c) + yy / (70 + 25 * c))))
        + rng.integers(0, 30, xx.shape)
        for c in range(channels)
    ]
    return np.stack(made).astype(np.uint16)


def write_ome(
    path, data: np.ndarray, factors: tuple[int, ...] = (2, 4, 8), names: list[str] | None = None, axes: str = "CYX"
):
    """An OME-TIFF as tifffile writes one: tiled pages (one per plane), reduced levels in
    each page's SubIFDs, OME-XML with the channel names (`axes` TCZYX: DimensionOrder XYZCT)."""
    metadata: dict = {"axes": axes}
    if names:
        metadata["Channel"] = {"Name": names}
    with tifffile.TiffWriter(path, ome=True) as tif:
        options = {"tile": (256, 256), "compression": "zlib", "photometric": "minisblack"}
        tif.write(data, subifds=len(factors), metadata=metadata, **options)
        for f in factors:
            tif.write(data[..., ::f, ::f], subfiletype=1, **options)
    return path


@pytest.fixture(scope="module")
def files(s3, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ome")
    made = {
        "three.ome.tif": write_ome(folder / "three.ome.tif", planes(3), names=["DAPI", "GFP", "Cy5"]),
        "two.ome.tif": write_ome(folder / "two.ome.tif", planes(2)),
        "five.ome.tif": write_ome(folder / "five.ome.tif", planes(5, 600, 800), (2,), [f"c{i}" for i in range(5)]),
        # Levels reduced by 3 and 9, not halvings: taken at their true sizes.
        "thirds.ome.tif": write_ome(folder / "thirds.ome.tif", planes(3), (3, 9)),
        # Two time points of three Z planes of three channels: channels 3 pages apart
        # (DimensionOrder XYZCT), each plane its own data.
        "zct.ome.tif": write_ome(folder / "zct.ome.tif", stack(), (2, 4), ["DAPI", "GFP", "Cy5"], "TCZYX"),
    }
    for name, path in made.items():
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/{name}")
    return made


def stack() -> np.ndarray:
    """T = 2, C = 3, Z = 3 planes of 600 × 500, each different (a plane read from the wrong
    page does not match)."""
    base = planes(3, 500, 600)
    made = [[[base[c] // (1 + z + 3 * t) + 500 * z for z in range(3)] for c in range(3)] for t in range(2)]
    return np.array(made, dtype=np.uint16)


def meta(client, name: str, **params) -> dict:
    response = client.get(META, params={"path": f"ome/{name}"} | params)
    assert response.status_code == 200, response.text
    return response.json()


def tile(client, name: str, level: int, x: int = 0, y: int = 0, stretch: str | None = None, **params):
    query = {"path": f"ome/{name}", "level": level, "x": x, "y": y, "format": "png"} | params
    response = client.get(TILE if stretch is None else f"{TILE}/{stretch}", params=query)
    assert response.status_code == 200, response.text
    return pixels(response.content)


def oracle(path, level: int, ranges, box: tuple[int, int, int, int]) -> np.ndarray:
    """tifffile's channels of `level` (0: full resolution) in `box`, stretched, as RGB."""
    left, top, width, height = box
    data = tifffile.imread(path, series=0, level=level)[:3, top : top + height, left : left + width]
    shown = [stretched(data[c], *ranges[c]) for c in range(len(data))]
    while len(shown) < 3:
        shown.append(np.zeros_like(shown[0]))
    return np.stack(shown, axis=-1)


def test_fixture_is_what_tifffile_writes(files):
    with tifffile.TiffFile(files["three.ome.tif"]) as tif:
        assert tif.is_ome and len(tif.pages) == 3 and tif.pages[0].dtype == np.uint16
        assert [s.shape for s in tif.pages[0].pages] == [(750, 1000), (375, 500), (188, 250)]
        assert len(tif.series[0].levels) == 4
        ome = parse(tif.pages[0].description)
    assert ome is not None and (ome.size_c, ome.channels) == (3, ("DAPI", "GFP", "Cy5"))


def test_meta_is_one_image_with_its_channels_and_subifd_levels(client, files):
    found = meta(client, "three.ome.tif")
    assert (found["width"], found["height"], found["pages"], found["bands"]) == (WIDTH, HEIGHT, 1, 3)
    assert found["channels"] == ["DAPI", "GFP", "Cy5"]
    assert found["source_levels"] == 4 and found["data_type"] == "ushort"
    stretch = found["stretch"]
    assert stretch["bands"] == [1, 2, 3] and stretch["range_from"] == "percentiles"
    assert found["planes"] == {"size_z": 1, "size_t": 1, "z": 0, "t": 0}
    # Each channel over its own values (the coarsest level's 2–98 %), not one range for all.
    coarsest = tifffile.imread(files["three.ome.tif"], series=0, level=3)
    for c, got in enumerate(stretch["range"]):
        near(got, cut(coarsest[c]), coarsest[c])
    assert stretch["range"][0] != stretch["range"][2]


@pytest.mark.parametrize("name", ["three.ome.tif", "two.ome.tif"])
def test_tiles_match_tifffile_at_full_resolution_and_at_each_subifd(client, files, name):
    found = meta(client, name)
    ranges = found["stretch"]["range"]
    top = found["max_level"]
    for level, factor in ((top, 1), (top - 1, 2), (top - 2, 4), (top - 3, 8)):
        got = tile(client, name, level, 1, 1) if factor < 8 else tile(client, name, level)
        side = 256
        origin = (256, 256) if factor < 8 else (0, 0)
        sizes = (-(-WIDTH // factor), -(-HEIGHT // factor))
        box = (*origin, min(side, sizes[0] - origin[0]), min(side, sizes[1] - origin[1]))
        want = oracle(files[name], {1: 0, 2: 1, 4: 2, 8: 3}[factor], ranges, box)
        if factor == 8:  # the grid's ceil(2000/8) = 250 × 188 is the stored level's size
            assert got.shape[:2] == (188, 250)
        close(got[..., :3], want)
    if name == "two.ome.tif":
        assert found["channels"] == ["", ""] and not got[..., 2].any()  # red + green


def test_more_than_three_channels_shows_the_first_three_and_any_on_request(client, files):
    found = meta(client, "five.ome.tif")
    assert found["channels"] == ["c0", "c1", "c2", "c3", "c4"] and found["bands"] == 5
    assert found["pages"] == 1 and found["stretch"]["bands"] == [1, 2, 3]
    got = tile(client, "five.ome.tif", found["max_level"])
    close(got, oracle(files["five.ome.tif"], 0, found["stretch"]["range"], (0, 0, 256, 256)))
    data = tifffile.imread(files["five.ome.tif"], series=0, level=0)[:, 256:512, 256:512]
    coarsest = tifffile.imread(files["five.ome.tif"], series=0, level=1)
    # Channels 5, 2, 4 as RGB, each over its own default range (found when first shown) …
    got = tile(client, "five.ome.tif", found["max_level"], 1, 1, stretch="bands:5,2,4")
    want = []
    for c in (4, 1, 3):
        low, high = cut(coarsest[c])
        want.append(stretched(data[c], low, high))
    assert int(np.abs(got.astype(int) - np.stack(want, axis=-1).astype(int)).max()) <= 2
    # … and channel 4 alone as grey, over a range of the request.
    got = tile(client, "five.ome.tif", found["max_level"], 1, 1, stretch="bands:4;range:4000,9000")
    close(got[..., 0], stretched(data[3], 4000, 9000))
    response = client.get(f"{TILE}/bands:6", params={"path": "ome/five.ome.tif", "level": 1, "x": 0, "y": 0})
    assert response.status_code == 400 and "band 6 is beyond this image's 5 bands" in response.text


def test_subifd_levels_keep_their_true_factors(client, files):
    """Levels of 1/3 and 1/9: a 1/4 view reads the 1/3 level (resized by 3/4), a 1/16
    view the 1/9 one; neither reads full resolution."""
    found = meta(client, "thirds.ome.tif")
    assert found["source_levels"] == 3
    for level in range(found["max_level"] - 2, -1, -1):
        got = tile(client, "thirds.ome.tif", level)
        width, height = found["levels"][level]["cols"], found["levels"][level]["rows"]
        assert got.shape[1] == min(256, -(-WIDTH // 2 ** (found["max_level"] - level)))
        assert width >= 1 and height >= 1
    ranges = found["stretch"]["range"]
    # The whole image in one tile (scale 8): the 1/3 level's content, reduced by 3/8.
    whole = tile(client, "thirds.ome.tif", found["max_level"] - 3)
    level3 = tifffile.imread(files["thirds.ome.tif"], series=0, level=1)
    assert whole.shape[:2] == (188, 250) and level3.shape[1:] == (500, 667)
    # Smooth data: the mean of each channel survives any resampling.
    for c in range(3):
        assert abs(whole[..., c].mean() - stretched(level3[c], *ranges[c]).mean()) < 2


def _ranges(records) -> list[tuple[int, int]]:
    found = []
    for record in records:
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", record.range or "")
        assert m, record.range  # every read is ranged
        found.append((int(m.group(1)), int(m.group(2)) + 1))
    return found


def test_a_low_zoom_tile_reads_its_subifd_level_never_full_resolution(configure, s3, files):
    client = configure(**SMALL_READS)
    key = f"{PREFIX}/ome/three.ome.tif"
    found = meta(client, "three.ome.tif")
    s3.proxy.reset()
    tile(client, "three.ome.tif", found["max_level"] - 2, 1, 1)  # 1/4: the second SubIFD
    reads = _ranges(s3.proxy.gets(key))
    # Measured: 7 = 4 blocks of the level's directories (libvips opens each channel's
    # SubIFD on the level's first use; meta has already read their sizes) and 3 tiles, one
    # per channel: each channel's page is opened on its own (read as one tall image, `n=`,
    # channels 2 and 3 cost the tile above too: 9 GETs).
    assert 3 <= len(reads) <= 4 + 3, reads
    with tifffile.TiffFile(files["three.ome.tif"]) as tif:
        full = [(o, o + n) for page in tif.pages for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)]
    read_bytes = sum(end - start for start, end in reads)
    overlap = sum(max(0, min(e, fe) - max(s, fs)) for s, e in reads for fs, fe in full)
    assert overlap <= 2 * SMALL_READS["GIGATILE_BLOCK_SIZE"], (overlap, read_bytes)  # block edges only


def test_a_one_channel_ome_tiff_is_grey(client, files, tmp_path, s3):
    path = write_ome(tmp_path / "one.ome.tif", planes(1, 300, 400), (2,))
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/one.ome.tif")
    found = meta(client, "one.ome.tif")
    assert (found["bands"], found["channels"], found["source_levels"]) == (1, [], 2)
    got = tile(client, "one.ome.tif", found["max_level"])
    assert got.shape[2] == 1


OME_HEAD = '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0">'
PIXELS = (
    '<Pixels ID="Pixels:0" DimensionOrder="{order}" Type="uint16" SizeX="8" SizeY="8" SizeC="{c}" SizeZ="1" SizeT="1">'
)
CHANNELS = '<Channel ID="Channel:0:0" Name="a"/><Channel ID="Channel:0:1" Name="b"/>'


def ome_xml(order: str = "XYCZT", c: str = "2", channels: str = CHANNELS, prefix: str = "") -> str:
    return prefix + OME_HEAD + PIXELS.format(order=order, c=c) + channels + "</Pixels></Image></OME>"


def test_ome_xml_is_read_only_when_plain_and_well_formed():
    plain = parse(ome_xml())
    assert plain is not None and (plain.size_c, plain.channels) == (2, ("a", "b"))
    unnamed = parse(ome_xml(channels=""))
    assert unnamed is not None and unnamed.channels == ("", "")
    zct = parse(ome_xml(order="XYZCT"))
    assert zct is not None and zct.channel_ifds(0, 0) == (0, 1)  # one Z, one T: channels are still pages 0, 1
    bomb = '<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    refused = [
        ome_xml(prefix=bomb),  # a DTD: entities are never expanded
        ome_xml(order="XYQZT"),
        ome_xml(c="0"),
        ome_xml(c="two"),
        ome_xml(c="99999999"),
        ome_xml()[:-10],  # truncated
        ome_xml() + " " * (2 << 20),  # over the size cap
        "Aperio Image Library v10.0.51",
        '<OME xmlns="x"><Image/></OME>',  # no Pixels
    ]
    assert [parse(text) for text in refused] == [None] * len(refused)


def test_an_ome_tiff_whose_xml_is_refused_is_served_as_pages(client, s3, tmp_path):
    """A DTD in the OME-XML: the file is served as plain pages (one per channel)."""
    path = tmp_path / "dtd.ome.tif"
    data = planes(2, 300, 400)
    bomb = '<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "x">]>'
    tifffile.imwrite(path, data, tile=(256, 256), description=ome_xml(prefix=bomb), metadata=None)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/dtd.ome.tif")
    found = meta(client, "dtd.ome.tif")
    assert (found["pages"], found["channels"], found["bands"]) == (2, [], 1)


def test_a_channel_page_with_impossible_byte_counts_is_415(client, s3, tmp_path):
    """Each channel's stored tiles are checked before libvips reads them, not only the first's."""
    path = write_ome(tmp_path / "bad.ome.tif", planes(3, 300, 400), (2,))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[2].tags["TileByteCounts"]
        assert tag.count == 4 and tag.dtype == 4  # four 32-bit counts, stored beside the IFD
        offset = tag.valueoffset
    raw[offset : offset + 4] = (2**31).to_bytes(4, "little")  # the third channel's first tile
    path.write_bytes(bytes(raw))
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/bad.ome.tif")
    found = meta(client, "bad.ome.tif")
    assert found["channels"] == ["", "", ""]
    response = client.get(TILE, params={"path": "ome/bad.ome.tif", "level": found["max_level"], "x": 0, "y": 0})
    assert response.status_code == 415 and "not a readable TIFF" in response.json()["error"]["message"]


# -- Z planes and time points ---------------------------------------------------------------


def test_z_and_t_planes_are_pages_matching_tifffile(client, files):
    """Page t × SizeZ + z is plane (z, t): its three channels (3 pages apart, XYZCT) at full
    resolution and at a SubIFD level, against tifffile's reading of that plane."""
    first = meta(client, "zct.ome.tif")
    assert (first["pages"], first["planes"]) == (6, {"size_z": 3, "size_t": 2, "z": 0, "t": 0})
    assert first["channels"] == ["DAPI", "GFP", "Cy5"] and (first["width"], first["height"]) == (600, 500)
    full = tifffile.imread(files["zct.ome.tif"], series=0, level=0)  # T, C, Z, Y, X
    half = tifffile.imread(files["zct.ome.tif"], series=0, level=1)
    for page in (0, 4, 5):
        z, t = page % 3, page // 3
        found = meta(client, "zct.ome.tif", page=page)
        assert found["planes"] == {"size_z": 3, "size_t": 2, "z": z, "t": t}
        ranges = found["stretch"]["range"]
        for c, got in enumerate(ranges):  # each plane's channels over their own values
            coarsest = tifffile.imread(files["zct.ome.tif"], series=0, level=2)[t, c, z]
            near(got, cut(coarsest), coarsest)
        top = found["max_level"]
        got = tile(client, "zct.ome.tif", top, 1, 1, page=page)
        want = np.stack([stretched(full[t, c, z, 256:500, 256:512], *ranges[c]) for c in range(3)], axis=-1)
        close(got, want)
        got = tile(client, "zct.ome.tif", top - 1, page=page)  # 1/2: the first SubIFD
        want = np.stack([stretched(half[t, c, z, :250, :256], *ranges[c]) for c in range(3)], axis=-1)
        close(got, want)


def test_a_page_beyond_the_planes_is_404_naming_them(client, files):
    response = client.get(META, params={"path": "ome/zct.ome.tif", "page": 6})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "page_not_found" and "0…5" in response.json()["error"]["message"]


def test_each_plane_has_its_own_etag_and_iiif_page(client, files):
    def get(page: int):
        return client.get(TILE, params={"path": "ome/zct.ome.tif", "level": 0, "x": 0, "y": 0, "page": page})

    assert len({get(page).headers["etag"] for page in range(6)}) == 6
    response = client.get("/iiif/3/page:4/ome%2Fzct.ome.tif/0,0,256,256/256,/0/default.png")
    assert response.status_code == 200, response.text
    close(pixels(response.content), tile(client, "zct.ome.tif", meta(client, "zct.ome.tif")["max_level"], page=4))


def test_tiff_data_maps_planes_to_pages(client, s3, tmp_path):
    """TiffData elements say which page holds each plane, whatever the DimensionOrder says:
    here the pages are stored Z-first while the order is XYCZT."""
    data = planes(2, 300, 400)
    stored = [data[0], data[0] // 3, data[1], data[1] // 3]  # (z0 c0), (z1 c0), (z0 c1), (z1 c1)
    mapping = "".join(
        f'<TiffData IFD="{ifd}" FirstZ="{z}" FirstC="{c}" PlaneCount="1"/>'
        for ifd, (z, c) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)])
    )
    xml = (
        OME_HEAD + '<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="400" SizeY="300" '
        'SizeC="2" SizeZ="2" SizeT="1">' + CHANNELS + mapping + "</Pixels></Image></OME>"
    )
    path = tmp_path / "mapped.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        for n, plane in enumerate(stored):
            tif.write(plane, tile=(256, 256), description=xml if n == 0 else None, metadata=None)
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/mapped.ome.tif")
    found = meta(client, "mapped.ome.tif", page=1)  # z = 1: pages 1 and 3 (by the order: 2 and 3)
    assert found["planes"] == {"size_z": 2, "size_t": 1, "z": 1, "t": 0} and found["channels"] == ["a", "b"]
    ranges = found["stretch"]["range"]
    got = tile(client, "mapped.ome.tif", found["max_level"], page=1)
    want = [stretched(stored[page][:256, :256], *ranges[c]) for c, page in enumerate((1, 3))]
    close(got, np.stack([*want, np.zeros_like(want[0])], axis=-1))


def test_plane_index_and_tiff_data_rules():
    xyzct = parse(ome_xml(order="XYZCT").replace('SizeZ="1"', 'SizeZ="4"').replace('SizeT="1"', 'SizeT="3"'))
    assert xyzct is not None and xyzct.plane_index(2, 1, 2) == 2 + 4 * (1 + 2 * 2)
    assert xyzct.channel_ifds(3, 1) == (11, 15)  # channels SizeZ pages apart
    # One TiffData per run of planes; IFD given without PlaneCount: one plane.
    runs = '<TiffData IFD="10"/><TiffData IFD="3" FirstC="1"/>'
    mapped = parse(ome_xml(channels=CHANNELS + runs))
    assert mapped is not None and mapped.tiff_data == ((10, 0, 1), (3, 1, 1))
    assert mapped.channel_ifds(0, 0) == (10, 3)
    counted = parse(ome_xml(channels=CHANNELS + '<TiffData IFD="7" PlaneCount="2"/>'))
    assert counted is not None and counted.channel_ifds(0, 0) == (7, 8)
    every = parse(ome_xml(channels=CHANNELS + "<TiffData/>"))  # no IFD: every plane from IFD 0
    assert every is not None and every.tiff_data == ((0, 0, 2),)
    unmapped = parse(ome_xml(channels=CHANNELS + '<TiffData IFD="4"/>'))  # channel 1 in no page
    assert unmapped is not None and unmapped.channel_ifds(0, 0) is None
    # Planes in another file, or a TiffData past the sizes: not composed (pages served as they are).
    other = '<TiffData IFD="0"><UUID FileName="other.ome.tif">urn:uuid:1</UUID></TiffData>'
    assert parse(ome_xml(channels=CHANNELS + other)) is None
    assert parse(ome_xml(channels=CHANNELS + '<TiffData FirstC="5"/>')) is None


def test_a_plane_reads_only_its_own_channels_pages(configure, s3, files):
    """Page 5 (z 2, t 1) of the XYZCT stack: its channels are pages 11, 14 and 17; a tile
    reads their tiles and no other plane's (libvips is shown a directory chain of just
    those pages, so it walks no other directory either)."""
    client = configure(**SMALL_READS)
    key = f"{PREFIX}/ome/zct.ome.tif"
    found = meta(client, "zct.ome.tif", page=5)
    s3.proxy.reset()
    tile(client, "zct.ome.tif", found["max_level"], 1, 1, page=5)
    reads = _ranges(s3.proxy.gets(key))
    with tifffile.TiffFile(files["zct.ome.tif"]) as tif:
        data = {
            index: [(o, o + n) for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)]
            for index, page in enumerate(tif.pages)
        }
    mine = [span for index in (11, 14, 17) for span in data[index]]
    others = [span for index, spans in data.items() if index not in (11, 14, 17) for span in spans]
    overlap = sum(max(0, min(e, oe) - max(s, os_)) for s, e in reads for os_, oe in others)
    assert overlap <= 2 * SMALL_READS["GIGATILE_BLOCK_SIZE"], (overlap, reads)  # block edges only
    assert any(s < me and ms < e for s, e in reads for ms, me in mine)
    # Exactly one stored tile per channel, one GET each (169 KB). Read as one tall image
    # (`n=`), the 500 px pages' tile rows straddle them: 5 GETs, 293 KB.
    with tifffile.TiffFile(files["zct.ome.tif"]) as tif:
        wanted = [(tif.pages[i].dataoffsets[4], tif.pages[i].databytecounts[4]) for i in (11, 14, 17)]
    assert sorted(reads) == sorted((o, o + n) for o, n in wanted), reads


# -- Further images (series) ----------------------------------------------------------------


def test_other_series_are_pages_after_the_planes_and_named_slide_images_are_associated(client, s3, tmp_path):
    """Series as bfconvert writes a slide (the image, then its label and macro) and as a
    stack of unrelated images: the first image's planes are pages 0…P-1, each further
    image's pages follow, and a series named "label image" / "macro image" is an
    associated image; each against tifffile's reading of that series."""
    path = tmp_path / "series.ome.tif"
    main = planes(3, 300, 400)
    other = planes(1, 200, 260)[0] // 3
    label = np.dstack([np.full((50, 120), v, np.uint8) for v in (10, 120, 240)])
    macro = np.dstack([np.arange(90, dtype=np.uint8)[None, :].repeat(60, 0)] * 3)
    options = {"tile": (256, 256), "compression": "zlib"}
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(main, subifds=1, metadata={"axes": "CYX"}, photometric="minisblack", **options)
        tif.write(main[..., ::2, ::2], subfiletype=1, photometric="minisblack", **options)
        tif.write(other, metadata={"Name": "second"}, photometric="minisblack", **options)
        tif.write(label, metadata={"Name": "label image"}, photometric="rgb")
        tif.write(macro, metadata={"Name": "macro image"}, photometric="rgb", **options)
    with tifffile.TiffFile(path) as read:
        assert [s.name for s in read.series] == ["Image0", "second", "label image", "macro image"]
        series = [s.asarray() for s in read.series]
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/series.ome.tif")
    first = meta(client, "series.ome.tif")
    assert (first["pages"], first["bands"], first["channels"]) == (2, 3, ["", "", ""])
    assert sorted(first["associated"]) == ["label", "macro"]
    ranges = first["stretch"]["range"]
    got = tile(client, "series.ome.tif", first["max_level"])
    close(got, np.stack([stretched(series[0][c, :256, :256], *ranges[c]) for c in range(3)], axis=-1))
    second = meta(client, "series.ome.tif", page=1)
    assert (second["width"], second["height"], second["planes"], second["channels"]) == (260, 200, None, [])
    got = tile(client, "series.ome.tif", second["max_level"], page=1)
    close(got[..., 0], stretched(series[1][:, :256], *second["stretch"]["range"][0]))
    for name, want in (("label", series[2]), ("macro", series[3])):
        response = client.get(
            f"/api/v1/image/associated/{name}", params={"path": "ome/series.ome.tif", "format": "png"}
        )
        assert response.status_code == 200, response.text
        assert np.array_equal(pixels(response.content), want), name
    response = client.get(META, params={"path": "ome/series.ome.tif", "page": 2})
    assert response.status_code == 404 and "0…1" in response.json()["error"]["message"]


def test_other_images_pages_are_read_from_their_tiff_data():
    second = '<Image ID="Image:1" Name="macro image"><Pixels ID="Pixels:1" DimensionOrder="XYCZT" Type="uint8" '
    second += 'SizeX="8" SizeY="8" SizeC="3" SizeZ="1" SizeT="1"><TiffData IFD="2" PlaneCount="1"/></Pixels></Image>'
    unmapped = second.replace('<TiffData IFD="2" PlaneCount="1"/>', "").replace("Image:1", "Image:2")
    found = parse(
        ome_xml(channels=CHANNELS + '<TiffData IFD="0" PlaneCount="2"/>').replace(
            "</OME>", second + unmapped + "</OME>"
        )
    )
    assert found is not None and found.ifds() == (0, 1)
    assert found.others == (("macro image", (2,)),)  # an image without TiffData: its pages unknown


def test_the_open_reads_the_statistics_tiles_in_one_get_a_channel(configure, s3, tmp_path):
    """The default ranges come from the coarsest level (here 1000 × 750: 12 stored tiles a
    channel); its tiles are fetched merged, one GET per channel, not one GET a tile (36)."""
    path = write_ome(tmp_path / "coarse.ome.tif", planes(3), (2,))
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/ome/coarse.ome.tif")
    client = configure(**SMALL_READS)
    s3.proxy.reset()
    found = meta(client, "coarse.ome.tif")
    assert found["stretch"]["range_from"] == "percentiles"
    reads = _ranges(s3.proxy.gets(f"{PREFIX}/ome/coarse.ome.tif"))
    with tifffile.TiffFile(path) as tif:
        levels = [page.pages[0] for page in tif.pages]
        spans = [
            (min(p.dataoffsets), max(o + n for o, n in zip(p.dataoffsets, p.databytecounts, strict=True)))
            for p in levels
        ]
    # Each channel's coarsest tiles (the whole level: it is under 1024 px) in one GET …
    assert set(spans) <= set(reads), (spans, reads)
    # … and the other reads are the first 16 KiB and directories' 4 KiB blocks.
    assert all(e - s <= 16384 for s, e in reads if (s, e) not in spans), reads
    # Measured: 11 GETs in all; 44 when each stored tile was a GET.
    assert len(reads) <= 11, reads
