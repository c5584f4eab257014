"""Whole-slide and GIS files written the way their producers write them, for tests.

- `aperio_svs`: an Aperio SVS as the Aperio Image Library lays it out (OpenSlide's format
  notes): IFD 0 the tiled baseline; IFD 1 a stripped JPEG thumbnail; tiled reduced levels
  (4×, 16× …: not halvings); a label (LZW, NewSubfileType 1) and a
  macro (JPEG, NewSubfileType 9) at the end; Aperio ImageDescriptions. Tiles are 240 px
  JPEG streams without tables, the tables kept once in JPEGTables. Colour is either
  YCbCr (2×2 subsampled) or RGB inside JPEG the way libtiff writes it for photometric RGB
  (components 0, 1, 2, no Adobe marker: only the TIFF's photometric tag says RGB).
  With `codec="j2k"` the tiled levels are JPEG 2000 codestreams instead, as Aperio writes
  them: compression 33003 for YCbCr (the components Y, Cb, Cr, coded without the
  codestream's colour transform) and 33005 for RGB (with it), photometric RGB either way.
- `cog_with_mask`: a GDAL COG with an internal mask and overviews, written by GDAL itself
  through rasterio's wheel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile

SOI, EOI = b"\xff\xd8", b"\xff\xd9"
DQT, DHT, SOF0, SOS = 0xDB, 0xC4, 0xC0, 0xDA
APP = range(0xE0, 0xF0)
AP = "Aperio Image Library v12.0.15"


def _segments(stream: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's marker segments up to the scan; the scan (SOS … EOI) is the last one."""
    assert stream[:2] == SOI
    out, i = [], 2
    while True:
        marker = stream[i + 1]
        if marker == SOS:
            out.append((marker, stream[i:]))
            return out
        length = int.from_bytes(stream[i + 2 : i + 4], "big")
        out.append((marker, stream[i : i + 2 + length]))
        i += 2 + length


def _jpeg(pixels: np.ndarray, quality: int, colour: str) -> bytes:
    if colour == "rgb":
        return imagecodecs.jpeg8_encode(
            pixels, level=quality, colorspace="RGB", outcolorspace="RGB", subsampling="444", optimize=False
        )
    return imagecodecs.jpeg8_encode(
        pixels, level=quality, colorspace="RGB", outcolorspace="YCBCR", subsampling="420", optimize=False
    )


def _j2k(pixels: np.ndarray, quality: int, colour: str) -> bytes:
    """A JPEG 2000 codestream (no JP2 boxes) of `pixels`, lossy; `quality` is its PSNR target."""
    if colour == "ycbcr":  # JPEG's full-range BT.601 (what OpenSlide converts back from)
        rgb = pixels.astype(np.float64)
        y = rgb @ [0.299, 0.587, 0.114]
        cb = 128 + rgb @ [-0.168736, -0.331264, 0.5]
        cr = 128 + rgb @ [0.5, -0.418688, -0.081312]
        pixels = np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)
    return imagecodecs.jpeg2k_encode(
        np.ascontiguousarray(pixels), level=quality, codecformat="J2K", mct=colour == "rgb", reversible=False
    )


def _abbreviate(stream: bytes, colour: str) -> tuple[bytes, bytes]:
    """(tables, tile): the stream split as TIFF keeps it, JPEGTables and a tile without them."""
    tables, tile = [], []
    for marker, segment in _segments(stream):
        if marker in (DQT, DHT):
            tables.append(segment)
        elif marker in (SOF0, SOS) and colour == "rgb":
            # libtiff's JCS_UNKNOWN: component ids 0, 1, 2 (libjpeg writes 'R', 'G', 'B'),
            # in the frame header and in the scan header.
            seg = bytearray(segment)
            first, step = (10, 3) if marker == SOF0 else (5, 2)
            for c in range(seg[first - 1]):
                seg[first + step * c] = c
            tile.append(bytes(seg))
        elif marker not in APP:
            tile.append(segment)
    return SOI + b"".join(tables) + EOI, SOI + b"".join(tile)


def _shape(level) -> tuple[int, int]:
    """(height, width) of a level given as an array or as a (lazy) libvips image."""
    return level.shape[:2] if isinstance(level, np.ndarray) else (level.height, level.width)


def _block(level, x: int, y: int, w: int, h: int) -> np.ndarray:
    if isinstance(level, np.ndarray):
        return level[y : y + h, x : x + w]
    region = level.crop(x, y, w, h)
    return np.ndarray(buffer=region.write_to_memory(), dtype=np.uint8, shape=(h, w, region.bands))


def _tiles(level, size: int, quality: int, colour: str, tables: list[bytes], codec: str) -> Iterator[bytes]:
    """The level's tiles as TIFF stores them, edge tiles padded by repeating the edge."""
    h, w = _shape(level)
    for y in range(0, h, size):
        for x in range(0, w, size):
            block = _block(level, x, y, min(size, w - x), min(size, h - y))
            block = np.pad(block, ((0, size - block.shape[0]), (0, size - block.shape[1]), (0, 0)), mode="edge")
            if codec == "j2k":
                yield _j2k(block, quality, colour)
                continue
            table, tile = _abbreviate(_jpeg(block, quality, colour), colour)
            assert not tables or tables[0] == table, "every tile must share one set of tables"
            tables[:1] = [table]
            yield tile


def shrink(pixels: np.ndarray, factor: float) -> np.ndarray:
    """The image reduced by `factor` (sides rounded down, as Aperio's levels), box-averaged
    by libvips."""
    from gigatile.vips import vips

    pyvips = vips()
    h, w = pixels.shape[:2]
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).tobytes(), w, h, pixels.shape[2], "uchar")
    out = image.resize(1 / factor, kernel="linear").crop(0, 0, max(1, int(w / factor)), max(1, int(h / factor)))
    return np.ndarray(buffer=out.write_to_memory(), dtype=np.uint8, shape=(out.height, out.width, out.bands))


def aperio_svs(
    path: Path,
    levels: list[np.ndarray],
    label: np.ndarray,
    macro: np.ndarray,
    *,
    colour: str = "rgb",
    tile: int = 240,
    quality: int = 80,
    codec: str = "jpeg",
) -> Path:
    """`levels`: the baseline, then each reduced level (e.g. `shrink(baseline, 4)`), as
    arrays or as lazy libvips images (for slides too large to hold). `codec`: "jpeg" or
    "j2k" for the tiled levels (`quality` is then the codestreams' PSNR target); the
    thumbnail, label and macro are JPEG, LZW and JPEG either way."""
    h, w = _shape(levels[0])
    # tifffile writes photometric YCbCr for JPEG unless told the stored colour space.
    subsampling, stored = ((1, 1), {"outcolorspace": "RGB"}) if colour == "rgb" else ((2, 2), {})
    scheme = f"JPEG/{'RGB' if colour == 'rgb' else 'YCC'} Q={quality}"
    tiled_as: dict = {"compression": 7, "subsampling": subsampling, "compressionargs": stored}
    if codec == "j2k":
        scheme = f"J2K/{'KDU' if colour == 'rgb' else 'YUV16'} Q={quality}"
        tiled_as = {"compression": 33005 if colour == "rgb" else 33003}
    common = "|AppMag = 20|MPP = 0.4990|Filename = generated"

    def tiled(tif: tifffile.TiffWriter, level: np.ndarray, description: str) -> None:
        # Tables come from the first tile, so the tiles are encoded before the IFD is written.
        tables: list[bytes] = []
        tiles = list(_tiles(level, tile, quality, colour, tables, codec))
        tif.write(
            iter(tiles),
            shape=(*_shape(level), 3),
            dtype=np.uint8,
            tile=(tile, tile),
            photometric="rgb",
            jpegtables=tables[0] if tables else None,
            description=description,
            **tiled_as,
            metadata=None,
            software=False,
        )

    def stripped_jpeg(tif: tifffile.TiffWriter, image: np.ndarray, description: str, subfiletype: int) -> None:
        tif.write(
            iter([_jpeg(image, 90, "ycbcr")]),
            shape=image.shape,
            dtype=np.uint8,
            rowsperstrip=image.shape[0],
            compression=7,
            photometric="rgb",
            subsampling=(2, 2),
            description=description,
            subfiletype=subfiletype,
            metadata=None,
            software=False,
        )

    with tifffile.TiffWriter(path) as tif:
        tiled(tif, levels[0], f"{AP} \r\n{w}x{h} [0,0 {w}x{h}] ({tile}x{tile}) {scheme}{common}")
        if isinstance(levels[0], np.ndarray):
            thumb = shrink(levels[0], max(w, h) / 768)
        else:  # a lazy slide: its smallest level, rather than computing the whole baseline
            thumb = _block(levels[-1], 0, 0, *_shape(levels[-1])[::-1])
        stripped_jpeg(tif, thumb, f"{AP} \r\n{w}x{h} -> {thumb.shape[1]}x{thumb.shape[0]} - {common}", 0)
        for level in levels[1:]:
            lh, lw = _shape(level)
            tiled(tif, level, f"{AP} \r\n{w}x{h} [0,0 {w}x{h}] ({tile}x{tile}) -> {lw}x{lh} {scheme}{common}")
        tif.write(
            label,
            photometric="rgb",
            compression="lzw",
            rowsperstrip=16,
            subfiletype=1,
            description=f"{AP}\nlabel {label.shape[1]}x{label.shape[0]}",
            metadata=None,
            software=False,
        )
        stripped_jpeg(tif, macro, f"{AP}\nmacro {macro.shape[1]}x{macro.shape[0]}", 9)
    return path


def cog_with_mask(path: Path, data: np.ndarray, mask: np.ndarray, compress: str = "JPEG") -> Path:
    """A COG as `gdal_translate -of COG` writes one from a GeoTIFF with an internal mask
    (GDAL_TIFF_INTERNAL_MASK=YES): `data` (bands, h, w) uint8, `mask` (h, w) 0 or 255;
    256 px blocks, overviews averaged down to one block, each with its own mask."""
    import rasterio
    import rasterio.shutil
    from rasterio.transform import from_origin

    bands, height, width = data.shape
    plain = path.with_name(path.stem + "-plain.tif")
    profile = {"driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": "uint8"}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        transform = from_origin(500_000, 6_000_000, 0.5, 0.5)
        with rasterio.open(plain, "w", crs="EPSG:32631", transform=transform, **profile) as dst:
            dst.write(data)
            dst.write_mask(mask)
        with rasterio.open(plain) as src:
            rasterio.shutil.copy(
                src, path, driver="COG", compress=compress, blocksize=256, overview_resampling="average"
            )
    plain.unlink()
    return path
