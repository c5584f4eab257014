"""A TIFF level whose tiles are JPEG 2000 codestreams (Aperio SVS 33003/33005, 34712),
decoded here: libvips (pyvips-binary) has no OpenJPEG, Pillow's wheels do.

A render reads a window of the level (imaging.prefetch.level_window): the stored tiles it
covers are fetched together (ObjectReader.prefetch: merged, in parallel, one range per
tile), each decoded by Pillow, joined by libvips and placed in a level-sized canvas, so
that the resize and crop downstream are those of every other level. Pixels outside the
window are black and never reach the output: the window includes the resize kernel's
reach. A view at least twice as coarse as the level decodes the tiles at half size
(JPEG 2000's own reduced resolution, Pillow's `reduce`: shrink-on-load, about a quarter of
the pixels and of the work). Pillow is imported on the first JPEG 2000 tile, not at cold
start.

Aperio's 33003 codestreams hold Y, Cb, Cr without the codestream's own colour transform:
converted to RGB here (JPEG's full-range BT.601, as OpenSlide does); 33005 and others are
RGB (or grey) as decoded.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import time
from typing import Any

from ..errors import DeadlineExceeded, TooLarge, UnsupportedImage
from ..formats.levels import Level
from ..formats.tiff import COMPRESSION_JPEG2000, COMPRESSION_JPEG2000_YCBCR, Ifd, TiffError
from ..vips import vips
from .prefetch import Box, tiles_in
from .source_image import SourceImage

# Stored samples a pixel → the mode Pillow decodes them to (8 bits a sample only).
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# What Pillow raises on a codestream it cannot read (truncated, corrupt, unsupported).
DECODE_ERRORS = (OSError, ValueError, TypeError, SyntaxError, EOFError, struct.error, MemoryError)


@functools.cache
def available() -> bool:
    """Whether Pillow with its OpenJPEG codec is installed (imported here, on first use)."""
    try:
        from PIL import features
    except ImportError:
        return False
    return bool(features.check_codec("jpg_2000"))


def level_ifd(src: SourceImage, level: Level) -> Ifd | None:
    """The IFD of `level` when its tiles are JPEG 2000, else None."""
    if src.tiff is None:
        return None
    try:
        ifd = src.tiff.ifd_for(dict(level.options))
    except TiffError:  # level_for refuses it as unreadable
        return None
    return ifd if ifd.compression in COMPRESSION_JPEG2000 else None


def refusal(ifd: Ifd) -> str | None:
    """Why this build cannot decode the JPEG 2000 level `ifd`, naming the fix; None if it can."""
    where = f"JPEG 2000 tiles (TIFF compression {ifd.compression})"
    convert = "or convert the image to a JPEG-tiled pyramidal TIFF with a reader of JPEG 2000 (e.g. OpenSlide)"
    if not available():
        return f"{where} are not decodable by this build: install Pillow with OpenJPEG, {convert}"
    if not ifd.tiled:
        return f"{where} in strips are not decodable by this build; {convert}"
    if ifd.samples not in MODES:
        return f"{where} of {ifd.samples} samples a pixel are not decodable by this build; {convert}"
    return None


def reduction(ifd: Ifd, per_view: float, masked: bool) -> int:
    """The halvings to decode `ifd`'s tiles at for a view of `per_view` level pixels a view
    pixel: 1 from 2 on, when the tiles halve evenly and no mask of the level's size is
    combined. Never more: every codestream of more than one resolution has a half-size one,
    while how many more it has is in a header (COD) Pillow does not read."""
    even = ifd.tile_width % 2 == 0 and ifd.tile_height % 2 == 0
    return 1 if per_view >= 2 and even and not masked else 0


def level_image(src: SourceImage, ifd: Ifd, window: Box, reduce: int = 0, deadline: float = math.inf) -> Any:
    """The level `ifd` at 1/2**`reduce` of its size (sides rounded up), as a lazy libvips
    image whose pixels inside `window` (x0, y0, x1, y1 of the level at full size) are
    decoded from the stored tiles that cover it, one by one until `deadline` (monotonic)."""
    assert src.tiff is not None  # level_ifd found the level in the TIFF
    cols, rows = tiles_in(ifd, window)
    tw, th = ifd.tile_width >> reduce, ifd.tile_height >> reduce
    decoded = len(cols) * len(rows) * tw * th
    if decoded > src.max_decode_pixels:
        raise TooLarge(
            f"this view decodes {len(cols) * len(rows)} JPEG 2000 tiles ({decoded} pixels) of a "
            f"{ifd.width}×{ifd.height} level, over the {src.max_decode_pixels} pixel budget: the image "
            "has no stored level near this scale; make it a pyramid with a JPEG 2000 reader (e.g. OpenSlide)"
        )
    try:
        tiles = src.tiff.tiled_level(ifd)
    except TiffError as exc:
        raise UnsupportedImage(f"not a readable TIFF: {exc}") from None
    where = [tiles.tile_range(col, row) for row in rows for col in cols]
    # check_chunks (SourceImage.level_for) has refused ranges past the end of the file.
    src.reader.prefetch([w for w in where if w is not None], src.version)
    pyvips = vips()
    bands = ifd.samples
    images = []
    for w in where:
        if time.monotonic() > deadline:
            raise DeadlineExceeded("the request's time budget ran out while decoding JPEG 2000 tiles")
        if w is None:  # a tile not stored (byte count 0) is empty
            images.append(pyvips.Image.black(tw, th, bands=bands))
        else:
            images.append(_decode(src.reader.read(*w, exact=True, version=src.version), ifd, reduce))
    mosaic = pyvips.Image.arrayjoin(images, across=len(cols)) if len(images) > 1 else images[0]
    width, height = -(-ifd.width >> reduce), -(-ifd.height >> reduce)  # ceil(size / 2**reduce)
    left, top = cols.start * tw, rows.start * th
    mosaic = mosaic.crop(0, 0, min(mosaic.width, width - left), min(mosaic.height, height - top))
    mosaic = mosaic.copy(interpretation="srgb" if bands >= 3 else "b-w")
    if (mosaic.width, mosaic.height) == (width, height):
        return mosaic
    return mosaic.embed(left, top, width, height)


def _decode(data: bytes, ifd: Ifd, reduce: int) -> Any:
    """One stored tile, decoded at 1/2**`reduce` of its size, as a libvips image in memory.
    The codestream's own size is checked against the TIFF's tile size before it is decoded
    (a tile claiming 60,000² is refused, not decoded); a smaller one is padded."""
    from PIL import Image, Jpeg2KImagePlugin

    mode = MODES[ifd.samples]
    try:
        # The JPEG 2000 plugin alone: a tile is never sniffed as another format.
        codestream = Jpeg2KImagePlugin.Jpeg2KImageFile(io.BytesIO(data))
        if codestream.width > ifd.tile_width or codestream.height > ifd.tile_height:
            raise UnsupportedImage(
                f"a JPEG 2000 tile says it is {codestream.width}×{codestream.height} in a level of "
                f"{ifd.tile_width}×{ifd.tile_height} tiles"
            )
        codestream.reduce = reduce  # the plugin's property: decode at 1/2**reduce of the size
        codestream.load()
        image: Image.Image = codestream
    except DECODE_ERRORS as exc:
        raise UnsupportedImage(f"a JPEG 2000 tile could not be decoded: {str(exc)[:200]}") from None
    if image.mode != mode:
        raise UnsupportedImage(f"a JPEG 2000 tile decodes as {image.mode} where the TIFF says {ifd.samples} samples")
    if ifd.compression == COMPRESSION_JPEG2000_YCBCR and mode == "RGB":
        image = Image.frombytes("YCbCr", image.size, image.tobytes()).convert("RGB")
    pyvips = vips()
    tile = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, ifd.samples, "uchar")
    tw, th = ifd.tile_width >> reduce, ifd.tile_height >> reduce
    if (tile.width, tile.height) != (tw, th):
        tile = tile.embed(0, 0, tw, th, extend="copy")
    return tile
