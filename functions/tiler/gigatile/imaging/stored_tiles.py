"""Serve a stored JPEG tile of a tiled TIFF as it is: no decode, no re-encode.

When a request maps exactly onto one tile of one pyramid level (same scale, aligned,
same size, inside the level) and asks for JPEG at the source's quality, the tile's bytes
with the TIFF's shared JPEGTables spliced in are a complete JPEG of exactly the pixels a
render would produce. That skips the whole decode + encode of a tile (~2 ms here).

The TIFF directory is read with a small parser of our own: the only well-kept Python
TIFF reader (tifffile) needs NumPy, which would more than double the Lambda package.
It reads through the object's block cache, where libvips has already put the same
directories and offset arrays, so it costs no extra S3 request. Every offset and count
is bounds-checked and IFD chains are walked at most MAX_IFDS deep, so a hostile file
can only make it decline (the render path then deals with the file).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..sources.reader import ObjectReader

if TYPE_CHECKING:
    from .render import Plan
    from .source_image import SourceImage

MAX_IFDS = 64
MAX_ENTRIES = 512
COMPRESSION_JPEG = 7
PHOTOMETRIC_MINISBLACK, PHOTOMETRIC_RGB, PHOTOMETRIC_YCBCR = 1, 2, 6
# Adobe APP14 with transform 0: "these three components are RGB, not YCbCr". libtiff writes
# RGB JPEG streams without it (libvips does so at Q ≥ 90), leaving decoders to guess.
ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 13: 4, 16: 8, 17: 8, 18: 8}
TYPE_CODES = {1: "B", 2: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
# IJG's luminance table at quality 50 (libjpeg, mozjpeg and libtiff all scale it).
STD_LUMINANCE_SUM = sum(
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29)
    + (51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121)
    + (120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
)


class NotPassable(Exception):
    """The file's structure is not what pass-through serves; render instead."""


@dataclass(frozen=True)
class TiledLevel:
    width: int
    height: int
    tile_width: int
    tile_height: int
    compression: int
    photometric: int
    samples: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    jpeg_tables: bytes

    @property
    def passable(self) -> bool:
        colour = (self.samples, self.photometric) in (
            (3, PHOTOMETRIC_YCBCR),
            (3, PHOTOMETRIC_RGB),
            (1, PHOTOMETRIC_MINISBLACK),
        )
        return self.compression == COMPRESSION_JPEG and colour and _is_jpeg_tables(self.jpeg_tables)

    def tile_range(self, col: int, row: int) -> tuple[int, int]:
        index = row * -(-self.width // self.tile_width) + col
        if not (0 <= index < len(self.offsets) == len(self.counts)) or self.counts[index] == 0:
            raise NotPassable("no stored tile there")
        return self.offsets[index], self.counts[index]


def stored_tile(src: SourceImage, plan: Plan, quality: int | None) -> bytes | None:
    """The stored JPEG that is exactly this plan's output, or None when it must be rendered.

    `quality` None means "any": the source's own quality is then what the client gets.
    """
    left, top, width, height = plan.box
    transformed = plan.mirror or plan.rotation % 360 or plan.quality != "color" or plan.icc != "strip"
    if transformed or (width, height) != plan.out:
        return None
    layout = src.tiff_layout
    level = src.level_at(plan.scale)
    if layout is None or level.downsample != plan.scale:
        return None
    try:
        stored = layout.level(level.options)
        exact_level = abs(stored.width - src.width / level.downsample) <= 1  # as SourceImage.level_for
        aligned = (width, height) == (stored.tile_width, stored.tile_height) and not left % width and not top % height
        inside = left + width <= stored.width and top + height <= stored.height
        if not (stored.passable and exact_level and aligned and inside):
            return None
        if quality is not None and quality != jpeg_quality(stored.jpeg_tables):
            return None
        offset, count = stored.tile_range(left // width, top // height)
        if offset + count > layout.size:
            return None
        marker = ADOBE_RGB if stored.photometric == PHOTOMETRIC_RGB else b""
        return splice(stored.jpeg_tables, src.reader.read(offset, count, exact=True), marker)
    except NotPassable:
        return None


class TiffLayout:
    """The IFDs of one TIFF version: the main chain (pages) and each page's SubIFDs."""

    def __init__(self, reader: ObjectReader):
        self.reader = reader
        self.size = reader.version().size
        head = self._bytes(0, 16)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None:
            raise NotPassable("not a TIFF")
        self.order = order
        magic = struct.unpack(order + "H", head[2:4])[0]
        if magic == 42:
            self.big, first = False, struct.unpack(order + "I", head[4:8])[0]
        elif magic == 43:
            self.big, first = True, struct.unpack(order + "Q", head[8:16])[0]
        else:
            raise NotPassable("not a TIFF")
        self.pages = self._chain(first)
        self._levels: dict[tuple, TiledLevel] = {}

    def level(self, options: tuple) -> TiledLevel:
        """The level SourceImage opens with these load options: page and/or subifd."""
        if options not in self._levels:
            self._levels[options] = self._read_level(self._ifd_offset(dict(options)))
        return self._levels[options]

    # -- structure -------------------------------------------------------------------
    def _ifd_offset(self, options: dict) -> int:
        page = options.get("page", 0)
        if page >= len(self.pages):
            raise NotPassable("no such page")
        if "subifd" in options:
            subifds = self._tags(self.pages[page]).get(330, ())
            index = options["subifd"]
            if index >= len(subifds):
                raise NotPassable("no such SubIFD")
            return subifds[index]
        return self.pages[page]

    def _chain(self, offset: int) -> list[int]:
        pages, seen = [], set()
        while offset and offset not in seen and len(pages) < MAX_IFDS:
            seen.add(offset)
            pages.append(offset)
            count, entry_size, count_size = self._entry_layout(offset)
            offset = self._unpack("Q" if self.big else "I", offset + count_size + count * entry_size)[0]
        return pages

    def _entry_layout(self, offset: int) -> tuple[int, int, int]:
        count_size = 8 if self.big else 2
        count = self._unpack("Q" if self.big else "H", offset)[0]
        if count > MAX_ENTRIES:
            raise NotPassable("implausible IFD")
        return count, 20 if self.big else 12, count_size

    def _tags(self, offset: int) -> dict[int, tuple]:
        count, entry_size, count_size = self._entry_layout(offset)
        raw = self._bytes(offset + count_size, count * entry_size)
        inline = 8 if self.big else 4
        tags = {}
        for i in range(count):
            entry = raw[i * entry_size : (i + 1) * entry_size]
            tag, kind = struct.unpack(self.order + "HH", entry[:4])
            n = struct.unpack(self.order + ("Q" if self.big else "I"), entry[4 : 4 + inline])[0]
            if kind not in TYPE_SIZES or n > 4_000_000:
                continue
            size = TYPE_SIZES[kind] * n
            field = entry[4 + inline :]
            if size <= inline:
                data = field[:size]
            else:
                data = self._bytes(struct.unpack(self.order + ("Q" if self.big else "I"), field)[0], size)
            tags[tag] = data if kind == 7 else struct.unpack(f"{self.order}{n}{TYPE_CODES[kind]}", data)
        return tags

    def _read_level(self, offset: int) -> TiledLevel:
        tags = self._tags(offset)
        try:
            return TiledLevel(
                width=tags[256][0],
                height=tags[257][0],
                tile_width=tags[322][0],
                tile_height=tags[323][0],
                compression=tags.get(259, (1,))[0],
                photometric=tags.get(262, (0,))[0],
                samples=tags.get(277, (1,))[0],
                offsets=tags[324],
                counts=tags[325],
                jpeg_tables=bytes(tags.get(347, b"")),
            )
        except (KeyError, IndexError) as e:
            raise NotPassable("not a tiled level") from e

    def _bytes(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.size:
            raise NotPassable("offset past the end of the file")
        return self.reader.read(offset, length)

    def _unpack(self, code: str, offset: int) -> tuple:
        return struct.unpack(self.order + code, self._bytes(offset, struct.calcsize(code)))


def _is_jpeg_tables(tables: bytes) -> bool:
    return tables[:2] == b"\xff\xd8" and tables[-2:] == b"\xff\xd9"


def splice(tables: bytes, tile: bytes, marker: bytes = b"") -> bytes:
    """One JPEG from the shared tables (SOI … EOI), a marker segment and a tile stream (SOI … EOI)."""
    if tile[:2] != b"\xff\xd8":
        raise NotPassable("stored tile is not a JPEG stream")
    return tables[:-2] + marker + tile[2:]


def jpeg_quality(tables: bytes) -> int | None:
    """The IJG quality that produced the first (luminance) quantisation table, if any."""
    i = 2
    while i + 4 <= len(tables) and tables[i] == 0xFF:
        marker, length = tables[i + 1], struct.unpack(">H", tables[i + 2 : i + 4])[0]
        if marker == 0xDB and length >= 67:
            precision = tables[i + 4] >> 4
            values = struct.unpack(">64H", tables[i + 5 : i + 133]) if precision else tuple(tables[i + 5 : i + 69])
            scale = sum(values) * 100 / STD_LUMINANCE_SUM
            quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
            return max(1, min(100, round(quality)))
        i += 2 + length
    return None
