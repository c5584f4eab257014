"""What reading one TIFF level costs, known from its structure before any pixel is read:
how many pixels libvips decodes at once, and whether its stored tiles or strips can be
what they claim.

libvips reads a TIFF tile by tile only when the file's first IFD is tiled (its loader is
then "partial"); any other level is decoded whole on the first pixel asked, into memory or
a temporary file (measured: a 256 px crop of a 1,000 × 200,000 striped TIFF decodes all of
it). And libtiff reads a tile's or strip's byte count as it stands: counts of 2^32−1 made
every tile read ask for 4 GiB, which S3 answers with the rest of the object.
"""

from __future__ import annotations

import sys
import weakref
from array import array

from .tiff import TILE_BYTE_COUNTS, TILE_OFFSETS, TYPE_CODES, Entry, Ifd, TiffError, TiffFile

BITS_PER_SAMPLE, STRIP_OFFSETS, ROWS_PER_STRIP, STRIP_BYTE_COUNTS = 258, 273, 278, 279
# A stored tile or strip may be larger than its raw pixels: LZW codes 8-bit samples in up to
# 12 bits, JPEG of noise at high quality exceeds the raw size, small tiles carry headers.
# Beyond this, the count is a lie (or a bomb), not compressed data.
MAX_EXPANSION, SLACK = 4, 64 * 1024

# Levels already checked, per parsed file (a check walks the whole offset array once).
_checked: weakref.WeakKeyDictionary[TiffFile, set[int]] = weakref.WeakKeyDictionary()


def read_by_tiles(tiff: TiffFile, ifd: Ifd) -> bool:
    return tiff.pages[0].tiled and ifd.tiled


def decoded_at_once(tiff: TiffFile, ifd: Ifd) -> int:
    """Pixels a read of this level decodes before the first one is returned."""
    return ifd.tile_width * ifd.tile_height if read_by_tiles(tiff, ifd) else ifd.width * ifd.height


def check_chunks(tiff: TiffFile, ifd: Ifd) -> None:
    """Raise TiffError unless every stored tile or strip of `ifd` lies inside the file and is
    at most MAX_EXPANSION × its raw size (+ SLACK), and there is one per tile or strip."""
    done = _checked.setdefault(tiff, set())
    if ifd.offset in done:
        return
    entries = ifd.entries
    tiled = ifd.tiled
    offsets_tag, counts_tag = (TILE_OFFSETS, TILE_BYTE_COUNTS) if tiled else (STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    if offsets_tag not in entries or counts_tag not in entries:
        raise TiffError("a level without its offsets or byte counts")
    offsets, counts = int_array(tiff, entries[offsets_tag]), int_array(tiff, entries[counts_tag])
    if ifd.width <= 0 or ifd.height <= 0:
        raise TiffError(f"a {ifd.width}×{ifd.height} level")
    if tiled:
        cols, rows = -(-ifd.width // ifd.tile_width), -(-ifd.height // ifd.tile_height)
        chunk_pixels = ifd.tile_width * ifd.tile_height
    else:
        strip_rows = min(first_value(tiff, ifd, ROWS_PER_STRIP, 2**32 - 1), ifd.height) or ifd.height
        cols, rows = 1, -(-ifd.height // strip_rows)
        chunk_pixels = ifd.width * strip_rows
    if len(offsets) != len(counts) or len(offsets) < cols * rows:
        raise TiffError(f"{len(offsets)} offsets and {len(counts)} byte counts for {cols * rows} stored chunks")
    bits = first_value(tiff, ifd, BITS_PER_SAMPLE, 1)
    limit = min(chunk_pixels * ifd.samples * -(-bits // 8) * MAX_EXPANSION + SLACK, tiff.size)
    largest = max(counts)
    if largest > limit:
        raise TiffError(f"a stored chunk of {largest} bytes where at most {limit} are plausible")
    if min(offsets) < 0:  # a signed offset type (SLONG, SLONG8) allows them
        raise TiffError("a stored chunk before the start of the file")
    # The common case first, at C speed: then no chunk can end past the file.
    if max(offsets) + largest > tiff.size and any(o + c > tiff.size for o, c in zip(offsets, counts, strict=True) if c):
        raise TiffError("stored pixels past the end of the file")
    done.add(ifd.offset)


def int_array(tiff: TiffFile, entry: Entry) -> array[int]:
    """An offset or count array as compact machine integers (it may hold millions)."""
    code = {"H": "H", "I": "I", "Q": "Q"}.get(TYPE_CODES[entry.kind])
    if code is None:
        raise TiffError("offsets or byte counts of a non-integer type")
    values = array(code, tiff.raw(entry))
    if (tiff.order == ">") != (sys.byteorder == "big"):
        values.byteswap()
    return values


def first_value(tiff: TiffFile, ifd: Ifd, tag: int, default: int) -> int:
    entry = ifd.entries.get(tag)
    values = tiff.values(entry) if entry is not None else ()
    return values[0] if values else default
