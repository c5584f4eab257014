"""A striped TIFF level's strips: which of them a band of rows covers, where they lie, and
those strips repacked, as they are stored, into a small TIFF of their own.

libvips reads a striped TIFF from its first strip on (measured through the range source:
a 256 px crop in the middle of a 12,000 × 9,000 LZW scan read 12.4 MB of 23.9 MB with
sequential access, all 23.6 MB with random access). A strip is coded on its own (LZW,
deflate, PackBits, JPEG with the level's shared tables; Predictor 2 restarts every row),
so the strips that cover a tile, with the level's own decoding tags, are a complete TIFF
that any TIFF reader decodes: the region, and nothing above it. Nothing is decoded here;
imaging/strips.py hands the repacked bytes to libvips.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from .stored import ROWS_PER_STRIP, STRIP_BYTE_COUNTS, STRIP_OFFSETS, first_value, int_array
from .tiff import HEIGHT, TYPE_SIZES, WIDTH, Ifd, TiffError, TiffFile

PLANAR_CONFIG, PLANAR_SEPARATE = 284, 2
# What a decoder needs to read a strip as it is stored, copied as they are: BitsPerSample,
# Compression, Photometric, FillOrder, SamplesPerPixel, PlanarConfiguration, T4Options,
# T6Options (fax), Predictor, ColorMap, ExtraSamples, SampleFormat, JPEGTables, the YCbCr
# tags, ReferenceBlackWhite, and the ICC profile (a render may convert with it or keep it).
DECODING_TAGS = (258, 259, 262, 266, 277, 284, 292, 293, 317, 320, 338, 339, 347, 529, 530, 531, 532, 34675)
LONG = 4  # TIFF type code of a 32-bit unsigned integer


@dataclass(frozen=True)
class Strips:
    """Where each strip of one striped IFD lies. With PlanarConfiguration 2 each sample has
    its own strips: all strips of plane 0 first, then plane 1 …"""

    ifd: Ifd
    rows_per_strip: int
    planes: int
    offsets: array[int]
    counts: array[int]

    @property
    def per_plane(self) -> int:
        return -(-self.ifd.height // self.rows_per_strip)

    def covering(self, top: int, height: int) -> range:
        """The strips (of one plane) that rows top … top + height − 1 lie in."""
        rows = self.rows_per_strip
        return range(top // rows, min(-(-(top + height) // rows), self.per_plane))

    def rows(self, strips: range) -> tuple[int, int]:
        """(first row, number of rows) of the band of the level `strips` hold."""
        first = strips.start * self.rows_per_strip
        return first, min(strips.stop * self.rows_per_strip, self.ifd.height) - first

    def ranges(self, strips: range) -> list[tuple[int, int]]:
        """(offset, length) of each stored strip of `strips`, plane by plane."""
        indices = [plane * self.per_plane + i for plane in range(self.planes) for i in strips]
        return [(self.offsets[i], self.counts[i]) for i in indices]


def strips_of(tiff: TiffFile, ifd: Ifd) -> Strips:
    """The strip layout of a striped IFD (formats.stored.check_chunks has vouched for its
    offsets and counts)."""
    if ifd.tiled or STRIP_OFFSETS not in ifd.entries or STRIP_BYTE_COUNTS not in ifd.entries:
        raise TiffError("not a striped level")
    rows = min(first_value(tiff, ifd, ROWS_PER_STRIP, 2**32 - 1), ifd.height) or ifd.height
    planes = ifd.samples if first_value(tiff, ifd, PLANAR_CONFIG, 1) == PLANAR_SEPARATE else 1
    strips = Strips(
        ifd, rows, planes, int_array(tiff, ifd.entries[STRIP_OFFSETS]), int_array(tiff, ifd.entries[STRIP_BYTE_COUNTS])
    )
    if len(strips.offsets) < strips.per_plane * planes or len(strips.counts) < strips.per_plane * planes:
        raise TiffError(f"{len(strips.offsets)} strips for {strips.per_plane * planes}")
    return strips


def repack(tiff: TiffFile, strips: Strips, covered: range, stored: list[bytes]) -> bytes:
    """A TIFF, in the file's byte order, of the band of rows `covered` holds: the level's
    width and decoding tags, `stored` (the bytes of `strips.ranges(covered)`) as its strips."""
    order, ifd = tiff.order, strips.ifd
    _, rows = strips.rows(covered)
    data_offsets: list[int] = []
    at = 0
    for chunk in stored:
        data_offsets.append(at)
        at += len(chunk)
    # tag → (type, count, value bytes); strip offsets are filled in once the layout is known.
    tags: dict[int, tuple[int, int, bytes]] = {
        WIDTH: (LONG, 1, struct.pack(order + "I", ifd.width)),
        HEIGHT: (LONG, 1, struct.pack(order + "I", rows)),
        ROWS_PER_STRIP: (LONG, 1, struct.pack(order + "I", strips.rows_per_strip)),
        STRIP_BYTE_COUNTS: (LONG, len(stored), struct.pack(f"{order}{len(stored)}I", *map(len, stored))),
        STRIP_OFFSETS: (LONG, len(stored), bytes(4 * len(stored))),
    }
    for tag in DECODING_TAGS:
        entry = ifd.entries.get(tag)
        if entry is not None and TYPE_SIZES[entry.kind] <= 4:  # BigTIFF's 8-byte types: none needed
            tags[tag] = (entry.kind, entry.count, tiff.raw(entry))
    directory_size = 2 + 12 * len(tags) + 4
    values_at = 8 + directory_size
    outside = sum(_padded(value) for _, _, value in tags.values() if len(value) > 4)
    data_at = values_at + outside
    tags[STRIP_OFFSETS] = (
        LONG,
        len(stored),
        struct.pack(f"{order}{len(stored)}I", *(data_at + o for o in data_offsets)),
    )

    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    directory = [struct.pack(order + "H", len(tags))]
    values: list[bytes] = []
    for tag in sorted(tags):
        kind, count, value = tags[tag]
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack(order + "I", values_at + sum(map(len, values)))
            values.append(value.ljust(_padded(value), b"\0"))
        directory.append(struct.pack(order + "HHI", tag, kind, count) + field)
    directory.append(struct.pack(order + "I", 0))  # no next IFD
    return b"".join([head, *directory, *values, *stored])


def _padded(value: bytes) -> int:
    """Length of a value stored outside its entry, on a word boundary as TIFF asks."""
    return len(value) + len(value) % 2
