"""Rewrite a libvips pyramid (`tiffsave(pyramid=True, subifd=True)`) as the converter's
output: each level cut to its nominal size, every directory and tile array first.

- Sizes: libvips floor-halves its levels; the converter gives it an image padded so that
  floor-halving lands on the sizes it wants (pyramid.py), and this rewrite declares each
  level at that size, dropping the tile columns and rows wholly in the padding.
- Layout: libvips writes each level's directory after that level's data, so a reader
  walks the whole file to open it. Here the header, every IFD, their out-of-line values
  (tile offset and byte count arrays, JPEGTables …) come first, as in a GDAL COG; then the
  tiles, coarsest level first: one read of the file's head opens it (and holds the coarse
  levels' tiles too).
- Bytes: tiles are copied as libvips coded them (no decode), run by run, so no pixels
  and no whole level are held in memory; what grows with the image is the tile index
  (≈ 250 bytes of Python objects per tile: ≈ 6 MB for a 30,000 × 50,000 pyramid's 31,000
  tiles). Tags are copied as they are, except the ones that locate data (rewritten) and
  the sizes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..formats import jpeg
from ..formats.tiff import (
    COMPRESSION_JPEG,
    HEIGHT,
    NEW_SUBFILE_TYPE,
    PHOTOMETRIC_YCBCR,
    SUBIFDS,
    TILE_BYTE_COUNTS,
    TILE_OFFSETS,
    WIDTH,
    YCBCR_SUBSAMPLING,
    Ifd,
    TiffFile,
)

SHORT, LONG, LONG8, IFD, IFD8 = 3, 4, 16, 13, 18
SIXTY_FOUR_BIT = frozenset({16, 17, 18})  # LONG8, SLONG8, IFD8: BigTIFF only
REWRITTEN = frozenset({WIDTH, HEIGHT, NEW_SUBFILE_TYPE, TILE_OFFSETS, TILE_BYTE_COUNTS, SUBIFDS})
# Tags that point at other data (strips, EXIF/GPS/interoperability IFDs): libvips writes
# none of these in a tiled pyramid; copying one would point into the old file.
POINTERS = frozenset({273, 279, 34665, 34853, 40965})
ALIGN = 8
COPY_CHUNK = 1 << 20
CLASSIC_LIMIT = 2**32


class _FileReader:
    """TiffFile's `read(offset, length, exact)` over an open local file."""

    def __init__(self, file: BinaryIO):
        self.file = file

    def read(self, offset: int, length: int, exact: bool = False) -> bytes:
        self.file.seek(offset)
        return self.file.read(length)


@dataclass(frozen=True)
class _Level:
    tags: list[tuple[int, int, int, bytes]]  # every tag copied as it is
    width: int
    height: int
    reduced: bool
    tiles: list[tuple[int, int]]  # (offset, byte count) in the libvips file, in output order


def _cut(tiff: TiffFile, ifd: Ifd, width: int, height: int, reduced: bool) -> _Level:
    """The level stored in `ifd` (libvips' padded size) as width × height: its tiles in that
    size's grid, row by row."""
    if ifd.width < width or ifd.height < height or not ifd.tiled:
        raise ValueError(f"a {ifd.width} × {ifd.height} level cannot be cut to {width} × {height}")
    stored = tiff.tiled_level(ifd)
    across = -(-ifd.width // ifd.tile_width)
    cols, rows = -(-width // ifd.tile_width), -(-height // ifd.tile_height)
    tiles = [(stored.offsets[r * across + c], stored.counts[r * across + c]) for r in range(rows) for c in range(cols)]
    tags = [t for t in tiff.tags(ifd) if t[0] not in REWRITTEN]
    if pointing := sorted({t[0] for t in tags} & POINTERS):
        raise ValueError(f"tags {pointing} point at data this rewrite does not copy")
    ycbcr_jpeg = ifd.compression == COMPRESSION_JPEG and ifd.photometric == PHOTOMETRIC_YCBCR
    if ycbcr_jpeg and YCBCR_SUBSAMPLING not in {t[0] for t in tags}:
        tags.append(_subsampling(tiff, tiles[0]))
    return _Level(tags, width, height, reduced, tiles)


def _subsampling(tiff: TiffFile, first: tuple[int, int]) -> tuple[int, int, int, bytes]:
    """YCbCrSubsampling as the level's first tile codes it. libvips leaves the tag out (the
    TIFF default, 2 × 2, is what libtiff's JPEG coder used); a reader's libtiff then reads
    the first tile of every JPEG YCbCr directory it opens to find the factors in the JPEG
    frame header: one more read, far from the directories, per level opened over S3. With
    the tag, none."""
    factors = jpeg.sampling(tiff.reader.read(first[0], min(first[1], 2048)))
    if factors is None:
        raise ValueError("a JPEG tile without a frame header")
    return YCBCR_SUBSAMPLING, SHORT, 2, struct.pack(tiff.order + "HH", *factors)


def rewrite(staging: Path, out: Path, sizes: list[tuple[int, int]]) -> None:
    """Write `out` from the libvips pyramid `staging`: IFD 0 at sizes[0], its SubIFDs at
    sizes[1:], directories first, coarsest tiles next, full resolution last."""
    with staging.open("rb") as src:
        tiff = TiffFile(_FileReader(src), staging.stat().st_size)
        ifds = [tiff.pages[0], *(tiff.ifd(offset) for offset in tiff.subifd_offsets(0))]
        if len(ifds) != len(sizes):
            raise ValueError(f"libvips wrote {len(ifds)} levels, {len(sizes)} were planned")
        levels = [_cut(tiff, ifd, w, h, k > 0) for k, (ifd, (w, h)) in enumerate(zip(ifds, sizes, strict=True))]
        data = sum(count for level in levels for _, count in level.tiles)
        # Classic TIFF whenever every offset fits in 32 bits (most readers' best-trodden path).
        sixty_four = any(kind in SIXTY_FOUR_BIT for level in levels for _, kind, _, _ in level.tags)
        big = sixty_four or len(_directories(tiff.order, levels, False, 0)) + data >= CLASSIC_LIMIT
        # The directories' length does not depend on the offsets they hold: lay them out
        # once to learn where the tiles start, then for real.
        head = _directories(tiff.order, levels, big, len(_directories(tiff.order, levels, big, 0)))
        with out.open("wb") as dst:
            dst.write(head)
            for level in reversed(levels):  # coarsest first
                _copy_tiles(src, dst, level.tiles)


def _directories(order: str, levels: list[_Level], big: bool, data_start: int) -> bytes:
    """The header and every IFD with its values, padded to ALIGN, for tile data that
    starts at `data_start`, coarsest level first."""
    offsets: list[list[int]] = [[] for _ in levels]
    at = data_start
    for k in reversed(range(len(levels))):
        for _, count in levels[k].tiles:
            offsets[k].append(at)
            at += count
    mark = b"II" if order == "<" else b"MM"
    header = mark + (struct.pack(order + "HHHQ", 43, 8, 0, 16) if big else struct.pack(order + "HI", 42, 8))
    # IFD 0 lists its SubIFDs' offsets, known once every IFD has been laid out: twice.
    where = [0] * len(levels)
    for _ in range(2):
        blocks, cursor = [], _aligned(len(header))
        for k, level in enumerate(levels):
            where[k] = cursor
            blocks.append(_ifd(order, big, cursor, level, offsets[k], where[1:] if k == 0 else []))
            cursor = _aligned(cursor + len(blocks[-1]))
    out = bytearray(header)
    for k, block in enumerate(blocks):
        out += bytes(where[k] - len(out)) + block
    return bytes(out + bytes(_aligned(len(out)) - len(out)))


def _ifd(order: str, big: bool, at: int, level: _Level, offsets: list[int], subifds: list[int]) -> bytes:
    """One IFD at file offset `at`, followed by its out-of-line values."""
    word, pointer = ("Q", LONG8) if big else ("I", LONG)
    tags = list(level.tags)
    tags.append((WIDTH, LONG, 1, struct.pack(order + "I", level.width)))
    tags.append((HEIGHT, LONG, 1, struct.pack(order + "I", level.height)))
    if level.reduced:
        tags.append((NEW_SUBFILE_TYPE, LONG, 1, struct.pack(order + "I", 1)))
    tags.append((TILE_OFFSETS, pointer, len(offsets), struct.pack(f"{order}{len(offsets)}{word}", *offsets)))
    counts = [count for _, count in level.tiles]
    tags.append((TILE_BYTE_COUNTS, pointer, len(counts), struct.pack(f"{order}{len(counts)}{word}", *counts)))
    if subifds:
        kind = IFD8 if big else IFD
        tags.append((SUBIFDS, kind, len(subifds), struct.pack(f"{order}{len(subifds)}{word}", *subifds)))
    tags.sort(key=lambda t: t[0])

    count_code, entry_size, inline = ("Q", 20, 8) if big else ("H", 12, 4)
    fixed = struct.calcsize(order + count_code) + len(tags) * entry_size + inline  # + next-IFD pointer
    entries = bytearray(struct.pack(order + count_code, len(tags)))
    values = bytearray()
    for tag, kind, count, value in tags:
        entries += struct.pack(order + "HH" + word, tag, kind, count)
        if len(value) <= inline:
            entries += value + bytes(inline - len(value))
        else:
            values += bytes(_aligned(len(values)) - len(values))
            entries += struct.pack(order + word, _aligned(at + fixed) + len(values))
            values += value
    entries += bytes(inline)  # no next IFD: one page, its levels are SubIFDs
    return bytes(entries + bytes(_aligned(at + fixed) - (at + fixed)) + values)


def _copy_tiles(src: BinaryIO, dst: BinaryIO, tiles: list[tuple[int, int]]) -> None:
    """Copy the tiles in order, each run of tiles adjacent in `src` as one read."""
    run_start = run_end = -1
    for offset, count in [*tiles, (-1, 0)]:
        if offset == run_end and offset >= 0:
            run_end += count
            continue
        if run_end > run_start >= 0:
            src.seek(run_start)
            left = run_end - run_start
            while left:
                chunk = src.read(min(left, COPY_CHUNK))
                if not chunk:
                    raise ValueError("the libvips pyramid ends inside a tile")
                dst.write(chunk)
                left -= len(chunk)
        run_start, run_end = offset, offset + count


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN
