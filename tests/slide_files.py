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
- `philips_tiff`, `leica_scn`, `ventana_bif`, `hamamatsu_ndpi`: other scanners' TIFFs as
  OpenSlide's format notes describe them and as OpenSlide detects them (Philips: Software
  "Philips…", DPUfsImport XML with a pixel spacing per level, levels padded to whole tiles,
  label and macro base64 in the XML; Leica: BigTIFF, the macro first, the main image's
  levels named by IFD in the SCN XML; BIF: `<iScan>` XMP in IFD 0, label and thumbnail
  before "level=N" tiled pages; NDPI: tag 65420, each level one JPEG strip).
- `dicom_wsi`: a DICOM WSI instance (one level) written by pydicom from openslide-python's
  `boxes_0.dcm` (PixelMed's TIFFToDicom output) with new pixels: TILED_FULL JPEG baseline
  frames (YBR_FULL_422), one fragment each, with a Basic Offset Table.
- `cog_with_mask`: a GDAL COG with an internal mask and overviews, written by GDAL itself
  through rasterio's wheel.
"""

from __future__ import annotations

import base64
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


def _jpeg_strip(tif: tifffile.TiffWriter, pixels: np.ndarray, photometric: str, **tags) -> None:
    """One IFD holding `pixels` as one JPEG strip (YCbCr-coded, 4:2:0, quality 90), the
    photometric tag as given (Aperio's thumbnail and macro say RGB) and `tags` besides."""
    tif.write(
        iter([_jpeg(np.ascontiguousarray(pixels), 90, "ycbcr")]),
        shape=pixels.shape,
        dtype=np.uint8,
        rowsperstrip=pixels.shape[0],
        compression=7,
        photometric=photometric,
        subsampling=(2, 2),
        metadata=None,
        **tags,
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
        _jpeg_strip(tif, image, "rgb", description=description, subfiletype=subfiletype, software=False)

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


def _padded(pixels: np.ndarray, tile: int) -> np.ndarray:
    """Padded with white to whole tiles, as Philips stores every level."""
    h, w = pixels.shape[:2]
    return np.pad(pixels, ((0, -h % tile), (0, -w % tile), (0, 0)), constant_values=255)


def philips_tiff(path: Path, levels: list[np.ndarray], label: np.ndarray, macro: np.ndarray) -> Path:
    """A Philips TIFF (IntelliSite's export): tiled JPEG levels, each half the one before
    (`levels`: the baseline, then e.g. `shrink(baseline, 2)`), each padded to 256 px
    tiles, reduced ones NewSubfileType 1; the DPUfsImport XML in IFD 0 gives each level's
    pixel spacing and holds the label and macro as base64 JPEG."""
    spacing = 0.00025  # mm per pixel at level 0

    def attribute(name: str, value: str, kind: str = "IString") -> str:
        return f'<Attribute Name="{name}" PMSVR="{kind}">{value}</Attribute>'

    def scanned(kind: str, inner: str) -> str:
        return f'<DataObject ObjectType="DPScannedImage">{attribute("PIM_DP_IMAGE_TYPE", kind)}{inner}</DataObject>'

    def jpeg64(pixels: np.ndarray) -> str:
        return base64.b64encode(imagecodecs.jpeg8_encode(np.ascontiguousarray(pixels), level=90)).decode()

    def pixel_spacing(k: int) -> str:  # row, then column spacing, each quoted
        value = f"&quot;{spacing * 2**k:.6f}&quot;"
        return attribute("DICOM_PIXEL_SPACING", f"{value} {value}", "IDoubleArray")

    spacings = "".join(
        f'<DataObject ObjectType="PixelDataRepresentation">{pixel_spacing(k)}</DataObject>' for k in range(len(levels))
    )
    wsi = attribute("PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE", f"<Array>{spacings}</Array>", "IDataObjectArray")
    images = (
        scanned("WSI", wsi)
        + scanned("LABELIMAGE", attribute("PIM_DP_IMAGE_DATA", jpeg64(label)))
        + scanned("MACROIMAGE", attribute("PIM_DP_IMAGE_DATA", jpeg64(macro)))
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
        f"{attribute('PIM_DP_SCANNED_IMAGES', f'<Array>{images}</Array>', 'IDataObjectArray')}</DataObject>"
    )
    with tifffile.TiffWriter(path) as tif:
        for k, level in enumerate(levels):
            first = {"description": xml, "software": "Philips DP v1.0"} if k == 0 else {"software": False}
            tif.write(
                _padded(level, 256),
                tile=(256, 256),
                compression="jpeg",
                photometric="rgb",
                subfiletype=1 if k else 0,
                metadata=None,
                **first,
            )
    return path


LEICA_NS = "http://www.leica-microsystems.com/scn/2010/10/01"
LEICA_CLICKS = 500  # nm per pixel of the main image's level 0


def leica_scn(path: Path, levels: list[np.ndarray], macro: np.ndarray, offset: tuple[int, int]) -> Path:
    """A Leica SCN (SCN400): BigTIFF, IFD 0 the macro (the whole glass slide, carrying the
    XML), then the main image's `levels` (each half the one before); the XML places the main image at `offset` (pixels
    of its level 0) in the collection, which the macro covers."""
    h, w = levels[0].shape[:2]
    collection = (macro.shape[1] * 10_000, macro.shape[0] * 10_000)  # the macro: 10 µm a pixel
    settings = (
        "<scanSettings><objectiveSettings><objective>{}</objective></objectiveSettings><illuminationSettings>"
        "<numericalAperture>0.5</numericalAperture><illuminationSource>brightfield</illuminationSource>"
        "</illuminationSettings></scanSettings>"
    )
    device = '<creationDate>2026-01-01T00:00:00Z</creationDate><device model="Leica SCN400;Leica SCN" version="1.5"/>'
    pyramid = levels
    dimensions = "".join(
        f'<dimension sizeX="{lv.shape[1]}" sizeY="{lv.shape[0]}" r="{k}" ifd="{k + 1}"/>'
        for k, lv in enumerate(pyramid)
    )
    xml = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<scn xmlns="{LEICA_NS}">'
        f'<collection name="generated" uuid="1" sizeX="{collection[0]}" sizeY="{collection[1]}"><barcode>1234</barcode>'
        f'<image name="macro" uuid="2">{device}<pixels sizeX="{macro.shape[1]}" sizeY="{macro.shape[0]}">'
        f'<dimension sizeX="{macro.shape[1]}" sizeY="{macro.shape[0]}" r="0" ifd="0"/></pixels>'
        f'<view sizeX="{collection[0]}" sizeY="{collection[1]}" offsetX="0" offsetY="0" spacingZ="0"/>'
        f"{settings.format('0.625')}</image>"
        f'<image name="main" uuid="3">{device}<pixels sizeX="{w}" sizeY="{h}">{dimensions}</pixels>'
        f'<view sizeX="{w * LEICA_CLICKS}" sizeY="{h * LEICA_CLICKS}" offsetX="{offset[0] * LEICA_CLICKS}" '
        f'offsetY="{offset[1] * LEICA_CLICKS}" spacingZ="0"/>{settings.format("20")}</image>'
        "</collection></scn>"
    )
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for k, level in enumerate([macro, *pyramid]):
            tif.write(
                level,
                tile=(256, 256),
                compression="jpeg",
                photometric="rgb",
                description=xml if k == 0 else None,
                metadata=None,
                software=False,
            )
    return path


def ventana_bif(path: Path, base: np.ndarray, label: np.ndarray) -> Path:
    """A Ventana BIF (iScan / DP 200): IFD 0 the label, carrying the `<iScan>` XMP; a
    thumbnail; then tiled levels described "level=N mag=M quality=Q"."""
    h, w = base.shape[:2]
    xmp = (
        '<?xml version="1.0" encoding="utf-8"?><iScan Magnification="40" ScanRes="0.25" '
        f'ScannerModel="VENTANA DP 200"><AOI0 Left="0" Top="0" Right="{w}" Bottom="{h}"/></iScan>'
    ).encode()
    plain = {"photometric": "rgb", "metadata": None, "software": False}
    with tifffile.TiffWriter(path) as tif:
        tif.write(label, description="Label Image", extratags=[(700, 1, len(xmp), xmp, True)], **plain)
        tif.write(shrink(base, 8), description="Thumbnail", **plain)
        for k, level in enumerate([base, shrink(base, 2), shrink(base, 4)]):
            tif.write(
                level, tile=(256, 256), compression="jpeg", description=f"level={k} mag={40 >> k} quality=90", **plain
            )
    return path


def hamamatsu_ndpi(path: Path, base: np.ndarray, macro: np.ndarray) -> Path:
    """A Hamamatsu NDPI: every IFD tagged 65420 (and 65421, the magnification; -1 the
    macro), each level one JPEG strip of the whole level."""
    levels = [(base, 20.0), (shrink(base, 4), 5.0), (macro, -1.0)]
    with tifffile.TiffWriter(path) as tif:
        for pixels, magnification in levels:
            extratags = [(65420, 4, 1, 1, True), (65421, 11, 1, magnification, True)]
            _jpeg_strip(tif, pixels, "ycbcr", software="NDP.scan", extratags=extratags)
    return path


def dicom_wsi(
    path: Path,
    template: Path,
    pixels: np.ndarray,
    tile: int | tuple[int, int] = 64,
    series: str | None = None,
    image_type: tuple[str, ...] | None = None,
) -> Path:
    """`template` (a DICOM WSI instance) with `pixels` as its Total Pixel Matrix, in
    tile × tile (or width × height) JPEG frames, row by row (edge frames padded by
    repeating the edge); of the series `series` and with ImageType `image_type` if given."""
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import generate_uid

    h, w = pixels.shape[:2]
    tw, th = (tile, tile) if isinstance(tile, int) else tile
    frames = []
    for y in range(0, h, th):
        for x in range(0, w, tw):
            block = pixels[y : y + th, x : x + tw]
            block = np.pad(block, ((0, th - block.shape[0]), (0, tw - block.shape[1]), (0, 0)), mode="edge")
            frames.append(_jpeg(np.ascontiguousarray(block), 90, "ycbcr"))
    ds = pydicom.dcmread(template)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns = th, tw
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = w, h
    ds.NumberOfFrames = len(frames)
    ds.PhotometricInterpretation = "YBR_FULL_422"
    if series is not None:
        ds.SeriesInstanceUID = series
    if image_type is not None:
        ds.ImageType = list(image_type)
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_series(
    folder: Path, template: Path, levels: list[np.ndarray], label: np.ndarray, overview: np.ndarray, tile: int = 256
) -> dict[str, Path]:
    """A DICOM WSI series as wsidicom and PixelMed write one: one instance per level (the
    first ORIGINAL, the others DERIVED … RESAMPLED), a LABEL and an OVERVIEW of one frame
    each, all of one SeriesInstanceUID, side by side in `folder`; by file name."""
    from pydicom.uid import generate_uid

    series = generate_uid()
    files = {}
    for k, level in enumerate(levels):
        kind = ("ORIGINAL", "PRIMARY", "VOLUME", "NONE") if k == 0 else ("DERIVED", "PRIMARY", "VOLUME", "RESAMPLED")
        files[f"level{k}.dcm"] = dicom_wsi(folder / f"level{k}.dcm", template, level, tile, series, kind)
    for name, image, kind in (("label", label, "LABEL"), ("overview", overview, "OVERVIEW")):
        whole = (image.shape[1], image.shape[0])
        path = folder / f"{name}.dcm"
        files[path.name] = dicom_wsi(path, template, image, whole, series, ("ORIGINAL", "PRIMARY", kind, "NONE"))
    return files
