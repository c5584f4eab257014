"""Non-8-bit data from the S3 server on loopback, shown with a linear display stretch
(imaging.stretch), and JPEG 2000 tiles as tifffile writes them.

Files are written by the tools that write them in the wild: GDAL through rasterio's wheel
(COGs with overviews, nodata and GDAL statistics), tifffile (plain tiled TIFFs, JPEG 2000
through imagecodecs). The oracle is rasterio or tifffile reading the same data, stretched
by a few lines of NumPy here; tiles are compared losslessly (PNG), within 1 level for
rounding."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.shutil
import tifffile
from rasterio.transform import from_origin

from infra.pixels import decode
from tests.conftest import BUCKET, PREFIX

TILE = "/api/v1/image/tile"
META = "/api/v1/image/meta"
NODATA = -9999.0


def pixels(body: bytes) -> np.ndarray:
    image = decode(body)
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))


def stretched(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """The oracle's stretch: low → 0, high → 255, clipped, rounded."""
    return np.clip(np.rint((values.astype(np.float64) - low) * 255 / (high - low)), 0, 255).astype(np.uint8)


def close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert int(np.abs(got.astype(int) - want.astype(int)).max()) <= 1


def cog(path, data: np.ndarray, nodata: float | None = None, statistics: bool = False):
    """A COG as `gdal_translate -of COG` writes one: 256 px blocks, overviews down to one block."""
    bands, height, width = data.shape
    plain = path.with_name(path.stem + "-plain.tif")
    profile = {"driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": data.dtype.name}
    with rasterio.open(
        plain, "w", crs="EPSG:32631", transform=from_origin(500_000, 6_000_000, 1, 1), nodata=nodata, **profile
    ) as dst:
        dst.write(data)
        if statistics:  # as `gdalinfo -stats` leaves them: STATISTICS_* band metadata items
            for band in range(bands):
                valid = data[band][data[band] != nodata] if nodata is not None else data[band]
                dst.update_tags(band + 1, STATISTICS_MINIMUM=float(valid.min()), STATISTICS_MAXIMUM=float(valid.max()))
    with rasterio.open(plain) as src:
        rasterio.shutil.copy(src, path, driver="COG", compress="DEFLATE", blocksize=256, overview_resampling="nearest")
    plain.unlink()
    return path


@pytest.fixture(scope="module")
def files(s3, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stretch")
    rng = np.random.default_rng(13)
    yy, xx = np.mgrid[0:700, 0:900]
    made = {}
    # An elevation model: float32 metres, a nodata hole (the sea), GDAL statistics.
    dem = (120 + 800 * np.sin(xx / 300) * np.cos(yy / 200)).astype(np.float32)
    dem[100:300, 50:260] = NODATA
    made["dem.tif"] = cog(folder / "dem.tif", dem[None], nodata=NODATA, statistics=True)
    # Satellite reflectance: 4 bands uint16 (blue, green, red, near infrared), no alpha.
    bands4 = np.stack([(xx * 7 + yy * 3 + k * 900 + rng.integers(0, 50, xx.shape)) % 12000 for k in range(4)])
    made["reflectance.tif"] = cog(folder / "reflectance.tif", bands4.astype(np.uint16))
    # 16-bit RGB microscopy, tiled, no overviews, no metadata.
    rgb16 = np.stack([xx * 40 + 5000, yy * 50 + 3000, (xx + yy) * 20 + 1000], axis=-1).astype(np.uint16)[:600, :800]
    tifffile.imwrite(folder / "rgb16.tif", rgb16, photometric="rgb", tile=(256, 256), compression="zlib")
    made["rgb16.tif"] = folder / "rgb16.tif"
    # int16 with negatives (a bathymetry), no metadata.
    depth = (np.sin(xx / 90) * 3000 - 1000).astype(np.int16)[:500, :600]
    tifffile.imwrite(folder / "depth.tif", depth, tile=(256, 256))
    made["depth.tif"] = folder / "depth.tif"
    # float32 with NaN and infinities, no metadata.
    wet = (xx / 900 + yy / 700).astype(np.float32)[:400, :500]
    wet[50:120, 60:200] = np.nan
    wet[300, 10:20] = np.inf
    wet[310, 10:20] = -np.inf
    tifffile.imwrite(folder / "nan.tif", wet, tile=(256, 256))
    made["nan.tif"] = folder / "nan.tif"
    # JPEG 2000 tiles (Aperio stores them so; here as tifffile writes them, through imagecodecs).
    jp2 = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)[:512, :512]
    # 8-bit grey using a part of its range (a faint scan).
    faint = (100 + (xx + yy) % 100).astype(np.uint8)[:300, :300]
    tifffile.imwrite(folder / "faint.tif", faint, tile=(256, 256), compression="zlib")
    made["faint.tif"] = folder / "faint.tif"
    tifffile.imwrite(folder / "jp2k.tif", jp2, photometric="rgb", tile=(256, 256), compression="jpeg2000")
    made["jp2k.tif"] = folder / "jp2k.tif"
    for name, path in made.items():
        s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/stretch/{name}")
    return made


def tile(client, name: str, level: int, x: int = 0, y: int = 0, stretch: str | None = None, **params):
    path = TILE if stretch is None else f"{TILE}/{stretch}"
    query = {"path": f"stretch/{name}", "level": level, "x": x, "y": y, "format": "png"}
    return client.get(path, params=query | params)


def full_level(client, name: str) -> int:
    return client.get(META, params={"path": f"stretch/{name}"}).json()["max_level"]


def test_fixtures_are_what_the_tools_write(files):
    with tifffile.TiffFile(files["dem.tif"]) as tif:
        page = tif.pages[0]
        assert page.dtype == np.float32 and len(tif.pages) > 1  # with overviews
        assert "STATISTICS_MAXIMUM" in page.tags["GDAL_METADATA"].value
        assert float(page.tags["GDAL_NODATA"].value) == NODATA
    with tifffile.TiffFile(files["reflectance.tif"]) as tif:
        assert tif.pages[0].samplesperpixel == 4 and tif.pages[0].dtype == np.uint16
        assert "ExtraSamples" not in tif.pages[0].tags or 2 not in tif.pages[0].tags["ExtraSamples"].value
    with tifffile.TiffFile(files["jp2k.tif"]) as tif:
        assert tif.pages[0].compression in (33003, 33004, 33005, 34712)


def test_dem_uses_gdal_statistics_and_nodata_is_transparent(client, files):
    meta = client.get(META, params={"path": "stretch/dem.tif"}).json()
    assert (meta["data_type"], meta["bands"]) == ("float", 1)
    with rasterio.open(files["dem.tif"]) as src:
        stats = src.tags(1)
        low, high = float(stats["STATISTICS_MINIMUM"]), float(stats["STATISTICS_MAXIMUM"])
        data = src.read(1, window=((0, 256), (0, 256)))
    assert meta["stretch"] == {
        "bands": [1],
        "range": [[low, high]],
        "range_from": "gdal",
        "nodata": NODATA,
        "alpha_band": None,
    }
    response = tile(client, "dem.tif", meta["max_level"])
    assert response.status_code == 200, response.text
    got = pixels(response.content)
    assert got.shape == (256, 256, 2)  # grey + alpha
    valid = data != NODATA
    assert (got[..., 1] == np.where(valid, 255, 0)).all()
    close(np.where(valid, got[..., 0], 0), np.where(valid, stretched(data, low, high), 0))


def test_dem_as_jpeg_has_the_background_where_nodata(client, files):
    response = tile(client, "dem.tif", full_level(client, "dem.tif"), format="jpeg")
    assert response.status_code == 200, response.text
    got = pixels(response.content)
    assert got.shape[2] == 1
    assert got[150:250, 100:200].mean() > 250  # the hole is the white background, not black


def test_four_band_uint16_shows_bands_1_to_3_stretched_by_the_coarsest_levels_statistics(client, files):
    meta = client.get(META, params={"path": "stretch/reflectance.tif"}).json()
    assert (meta["data_type"], meta["bands"]) == ("ushort", 4)
    with rasterio.open(files["reflectance.tif"]) as src:
        coarsest = len(src.overviews(1)) - 1
        full = src.read(window=((256, 512), (256, 512)))
    with rasterio.open(files["reflectance.tif"], overview_level=coarsest) as src:
        overview = src.read()[:3]
    low, high = float(overview.min()), float(overview.max())
    assert meta["stretch"]["range_from"] == "statistics"
    assert meta["stretch"]["bands"] == [1, 2, 3] and meta["stretch"]["alpha_band"] is None
    assert meta["stretch"]["range"] == [[low, high]] * 3
    response = tile(client, "reflectance.tif", meta["max_level"], 1, 1)
    assert response.status_code == 200, response.text
    got = pixels(response.content)
    assert got.shape == (256, 256, 3)  # the 4th band is not alpha
    close(got, np.moveaxis(stretched(full[:3], low, high), 0, -1))


def test_bands_and_ranges_chosen_by_the_request(client, files):
    level = full_level(client, "reflectance.tif")
    with rasterio.open(files["reflectance.tif"]) as src:
        full = src.read(window=((0, 256), (0, 256)))
    # False colour (near infrared, red, green) with a range per band, on the simple API's path segment …
    spec = "bands:4,3,2;range:0,12000,100,11000,200,10000"
    response = tile(client, "reflectance.tif", level, stretch=spec)
    assert response.status_code == 200, response.text
    want = np.stack([stretched(full[3], 0, 12000), stretched(full[2], 100, 11000), stretched(full[1], 200, 10000)])
    close(pixels(response.content), np.moveaxis(want, 0, -1))
    # … and one band, one range, as a DeepZoom query key.
    dz_level = client.get("/dzi/stretch/reflectance.tif.dzi").text  # the descriptor takes it too
    assert "Size" in dz_level
    response = client.get(
        f"/dzi/stretch/reflectance.tif_files/{level + 8}/0_0.png",  # DeepZoom's full level: 2^10 > 900
        params={"tile_size": 256, "overlap": 0, "stretch": "bands:4;range:1000,9000"},
    )
    assert response.status_code == 200, response.text
    close(pixels(response.content)[..., 0], stretched(full[3], 1000, 9000))


def test_the_etag_follows_the_stretch(client, files):
    level = full_level(client, "reflectance.tif")
    etags = {
        tile(client, "reflectance.tif", level, stretch=spec).headers["etag"]
        for spec in (None, "bands:1", "bands:2", "range:0,5000", "range:0,5001")
    }
    assert len(etags) == 5


def test_rgb16_without_metadata_or_overviews(client, files):
    data = tifffile.imread(files["rgb16.tif"])
    low, high = float(data.min()), float(data.max())  # the coarsest level is the image itself
    meta = client.get(META, params={"path": "stretch/rgb16.tif"}).json()
    assert meta["stretch"]["range"] == [[low, high]] * 3
    response = tile(client, "rgb16.tif", meta["max_level"], 2, 1)
    assert response.status_code == 200, response.text
    close(pixels(response.content), stretched(data[256:512, 512:768], low, high))


def test_int16_with_negatives(client, files):
    data = tifffile.imread(files["depth.tif"])
    low, high = float(data.min()), float(data.max())
    assert low < 0
    meta = client.get(META, params={"path": "stretch/depth.tif"}).json()
    assert meta["data_type"] == "short" and meta["stretch"]["range"] == [[low, high]]
    response = tile(client, "depth.tif", meta["max_level"], 1, 0)
    assert response.status_code == 200, response.text
    close(pixels(response.content)[..., 0], stretched(data[0:256, 256:512], low, high))


def test_float_nan_and_inf_are_nodata(client, files):
    data = tifffile.imread(files["nan.tif"])
    finite = np.isfinite(data)
    low, high = float(data[finite].min()), float(data[finite].max())
    meta = client.get(META, params={"path": "stretch/nan.tif"}).json()
    assert meta["stretch"]["range"] == [[low, high]]
    response = tile(client, "nan.tif", meta["max_level"])
    assert response.status_code == 200, response.text
    got = pixels(response.content)
    want = finite[:256, :256]
    assert (got[..., 1] == np.where(want, 255, 0)).all()
    close(np.where(want, got[..., 0], 0), np.where(want, stretched(np.nan_to_num(data[:256, :256]), low, high), 0))
    # Zoomed out too (resampled from the stretched level, NaN never spreads as a colour).
    assert tile(client, "nan.tif", 0).status_code == 200


@pytest.mark.parametrize(
    "spec,status,words",
    [
        ("bands:0", 400, "band numbers"),
        ("bands:1,2", 400, "1 band"),
        ("bands:a", 400, "band numbers"),
        ("bands:²", 400, "band numbers"),
        ("range:١,٢", 400, "min,max"),
        ("bands:1,2,3,4", 400, "1 band"),
        ("range:5,5", 400, "below its max"),
        ("range:7,2", 400, "below its max"),
        ("range:nan,1", 400, "finite"),
        ("range:0,1e999", 400, "finite"),
        ("range:1", 400, "min,max"),
        ("range:0,1,0,2", 400, "2 ranges for 3 bands"),
        ("bands:1,2,3;range:0,1,0,2", 400, "2 ranges for 3 bands"),
        ("bands:1;bands:2", 400, "twice"),
        ("gamma:2", 400, "not `bands"),
        ("bands:5", 400, "beyond this image's 4 bands"),
    ],
)
def test_malformed_stretches_are_400_with_the_reason(client, files, spec, status, words):
    for response in (
        tile(client, "reflectance.tif", 2, stretch=spec),
        client.get(
            "/dzi/stretch/reflectance.tif_files/10/0_0.png", params={"tile_size": 256, "overlap": 0, "stretch": spec}
        ),
    ):
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_parameter" and words in error["message"]


def test_an_empty_stretch_is_400(client, files):
    response = client.get("/dzi/stretch/reflectance.tif.dzi", params={"stretch": ""})
    assert response.status_code == 400 and "empty" in response.json()["error"]["message"]


def test_jpeg_2000_tiles_are_decoded(client, files):
    """tifffile's JPEG 2000 tiles (compression 34712, through imagecodecs' OpenJPEG) are
    served as tifffile reads them: full resolution losslessly (PNG); the half-size zoom is
    the codestreams' own half resolution (decoded at half size: shrink-on-load), close to
    libvips' Lanczos3 of tifffile's pixels."""
    from gigatile.vips import vips
    from infra.pixels import psnr

    written = tifffile.imread(files["jp2k.tif"])
    level = full_level(client, "jp2k.tif")
    for x, y in ((0, 0), (1, 1)):
        response = tile(client, "jp2k.tif", level, x, y)
        assert response.status_code == 200, response.text
        close(pixels(response.content), written[256 * y : 256 * (y + 1), 256 * x : 256 * (x + 1)])
    whole = vips().Image.new_from_memory(np.ascontiguousarray(written).tobytes(), 512, 512, 3, "uchar")
    half = decode(tile(client, "jp2k.tif", level - 1).content)
    assert (half.width, half.height) == (256, 256)
    assert psnr(half, whole.resize(0.5, kernel="lanczos3")) >= 35


def test_iiif_serves_the_default_stretch(client, files):
    level = full_level(client, "dem.tif")
    simple = pixels(tile(client, "dem.tif", level).content)
    response = client.get("/iiif/3/stretch%2Fdem.tif/0,0,256,256/256,/0/default.png")
    assert response.status_code == 200, response.text
    assert (pixels(response.content) == simple).all()


def test_an_8_bit_image_is_left_alone_unless_a_stretch_is_asked(client, files):
    data = tifffile.imread(files["faint.tif"])
    meta = client.get(META, params={"path": "stretch/faint.tif"}).json()
    assert (meta["data_type"], meta["stretch"]) == ("uchar", None)
    plain = pixels(tile(client, "faint.tif", meta["max_level"]).content)
    assert (plain[..., 0] == data[:256, :256]).all()
    asked = pixels(tile(client, "faint.tif", meta["max_level"], stretch="range:100,200").content)
    close(asked[..., 0], stretched(data[:256, :256], 100, 200))


SMALL_READS = {"GIGATILE_OPEN_READ_KB": 16, "GIGATILE_BLOCK_SIZE": 4096}


@pytest.mark.parametrize("name", ["dem.tif", "reflectance.tif"])
def test_the_default_stretch_costs_few_gets(configure, s3, files, name):
    """GDAL's statistics cost nothing to read (they are in the first IFD); without them the
    coarsest overview (one block here) is read once per version, and tiles read as usual."""
    client = configure(**SMALL_READS)
    key = f"{PREFIX}/stretch/{name}"
    meta = client.get(META, params={"path": f"stretch/{name}"}).json()
    opened = len(s3.proxy.gets(key))
    s3.proxy.reset()
    assert tile(client, name, meta["max_level"], 1, 1).status_code == 200
    first_tile = len(s3.proxy.gets(key))
    assert opened <= (1 if meta["stretch"]["range_from"] == "gdal" else 3), opened
    assert first_tile <= 2, first_tile


def test_jpeg_2000_over_the_budget_is_413_even_with_the_converter_on(configure, files):
    """The converter reads through libvips, which cannot decode JPEG 2000: a view of a
    one-level JPEG 2000 TIFF over the decode budget is refused (413), not left waiting for a
    pyramid that would never come (503), and no pyramid is looked for."""
    budget = {"GIGATILE_CONVERT_MIN_PIXELS": 0, "GIGATILE_MAX_DECODE_PIXELS": 50_000}
    client = configure(GIGATILE_CONVERTER=1, **budget)
    response = tile(client, "jp2k.tif", 0)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
