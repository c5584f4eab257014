"""Serve a stored JPEG tile of a tiled TIFF (or a DICOM frame) as it is: no decode, no
re-encode.

When a request maps exactly onto one tile of one pyramid level (same scale, aligned,
same size, inside the level) and asks for JPEG at the source's quality, the tile's bytes
with the TIFF's shared JPEGTables spliced in are a complete JPEG of exactly the pixels a
render would produce. That skips the whole decode + encode of a tile (~2 ms here). A tile
stored with its own tables (a DICOM frame; a TIFF without JPEGTables) is that JPEG already,
served byte for byte when its colour is YCbCr or grey (an RGB stream says that it is RGB
only through the TIFF's tag, which a browser does not see).
"""

from __future__ import annotations

from ..formats import jpeg, stored
from ..formats.tiff import COMPRESSION_JPEG, PHOTOMETRIC_MINISBLACK, PHOTOMETRIC_RGB, PHOTOMETRIC_YCBCR, TiffError
from .plan import Plan
from .source_image import SourceImage

PASSABLE_COLOUR = ((3, PHOTOMETRIC_YCBCR), (3, PHOTOMETRIC_RGB), (1, PHOTOMETRIC_MINISBLACK))


def stored_tile(src: SourceImage, plan: Plan, quality: int | None) -> bytes | None:
    """The stored JPEG that is exactly this plan's output, or None when it must be rendered.

    `quality` None means "any": the source's own quality is then what the client gets.
    """
    left, top, width, height = plan.box
    if src.tiff is None or plan.transformed or (width, height) != plan.out:
        return None
    level = src.level_at(plan.scale)
    # A mask's pixels are rendered, and so are channels composed from several pages.
    if level.downsample != plan.scale or level.mask is not None or "n" in dict(level.options):
        return None
    try:
        ifd = src.tiff.ifd_for(dict(level.options))
        stored.check_chunks(src.tiff, ifd)  # implausible byte counts: rendered, and refused there
        tiles = src.tiff.tiled_level(ifd)
    except TiffError:
        return None
    passable = ifd.compression == COMPRESSION_JPEG and (ifd.samples, ifd.photometric) in PASSABLE_COLOUR
    exact_level = level.stored_as(ifd.width, ifd.height, src.width, src.height)  # as SourceImage.level_for
    aligned = (width, height) == (ifd.tile_width, ifd.tile_height) and not left % width and not top % height
    inside = left + width <= ifd.width and top + height <= ifd.height
    if not (passable and exact_level and aligned and inside):
        return None
    tables = tiles.jpeg_tables
    if tables and not jpeg.is_tables(tables) or not tables and ifd.photometric == PHOTOMETRIC_RGB:
        return None
    if tables and quality is not None and quality != jpeg.quality(tables):
        return None
    where = tiles.tile_range(left // width, top // height)
    if where is None or where[0] + where[1] > src.tiff.size:
        return None
    stream = src.reader.read(*where, exact=True, version=src.version)
    if not tables:  # a complete stream: its own tables say its quality
        fits = jpeg.is_complete(stream) and (quality is None or quality == jpeg.quality(stream))
        return stream if fits else None
    marker = jpeg.ADOBE_RGB if ifd.photometric == PHOTOMETRIC_RGB else b""
    return jpeg.splice(tables, stream, marker)
