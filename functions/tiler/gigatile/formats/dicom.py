"""A DICOM WSI instance (one level of a slide, DICOM PS3.3 A.32.8), and how libvips reads it:
as a TIFF whose tiles are the instance's frames.

An instance of the VL Whole Slide Microscopy Image IOD stores one pyramid level as frames:
tiles of Rows × Columns of the Total Pixel Matrix, row by row (TILED_FULL), each frame a
complete JPEG stream in the encapsulated Pixel Data, found through the Basic Offset Table.
libvips has no DICOM loader, but its TIFF loader reads tiles that are complete JPEG
streams: so the reader shows libvips a BigTIFF — its 16-byte header over the (unused)
start of the 128-byte preamble, and an IFD appended past the object's end whose tile
offsets are the frames' — and every level, tile and range rule of tiled TIFFs applies.
The object is not changed. The instances of a series are read end to end as one object
(imaging.dicom_series), one IFD each.

Parsed here by ranges (explicit VR little endian, as JPEG transfer syntaxes are): the
data set up to Pixel Data, the offset table, and the last frame's item header. Anything
else — other transfer syntaxes (JPEG 2000, uncompressed), TILED_SPARSE, several focal
planes or optical paths, frames without an offset table — is refused with its reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .tiff import ByteReader

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
VL_WHOLE_SLIDE = "1.2.840.10008.5.1.4.1.1.77.1.6"
PREAMBLE = 128
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
PIXEL_DATA = (0x7FE0, 0x0010)
HEADER_READ = 256 * 1024  # the data set before Pixel Data: a few KiB
MAX_HEADER = 16 * 1024 * 1024  # a data set longer than this before Pixel Data is refused
MAX_DEPTH = 8
MAX_FRAMES = 1 << 22

# The tags read, by (group, element).
WANTED = {
    (0x0002, 0x0010): "transfer_syntax",
    (0x0008, 0x0008): "image_type",
    (0x0008, 0x0016): "sop_class",
    (0x0020, 0x000E): "series",
    (0x0028, 0x0002): "samples",
    (0x0028, 0x0004): "photometric",
    (0x0028, 0x0008): "frames",
    (0x0028, 0x0010): "rows",
    (0x0028, 0x0011): "columns",
    (0x0028, 0x0100): "bits",
    (0x0048, 0x0006): "total_columns",
    (0x0048, 0x0007): "total_rows",
    (0x0020, 0x9311): "organization",
    (0x0048, 0x0302): "optical_paths",
    (0x0048, 0x0303): "focal_planes",
}


class DicomError(Exception):
    """Not a DICOM WSI instance this build serves (the message says why)."""


@dataclass(frozen=True)
class Instance:
    width: int
    height: int
    tile_width: int
    tile_height: int
    samples: int
    photometric: str  # YBR_FULL_422, YBR_FULL, RGB, MONOCHROME2
    frames: tuple[tuple[int, int], ...]  # (offset, length) of each frame's JPEG stream

    series: str = ""  # SeriesInstanceUID: the instances of one slide share it
    kind: str = ""  # ImageType's third value: VOLUME (a level), LABEL, OVERVIEW, THUMBNAIL

    def as_tiff(self, size: int) -> Patches:
        """Patches that make the `size`-byte object read as a one-IFD tiled TIFF of this
        instance: its header at 0, its IFD (and arrays) appended at `size`."""
        return as_tiff([Directory(self, 0)], size)


Patches = tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class Directory:
    """One instance as one IFD of the TIFF libvips is shown: its frames lie `base` bytes into
    the object read (instances of a series are read one after another, as one object)."""

    instance: Instance
    base: int
    reduced: bool = False  # NewSubfileType 1: a reduced level, or an associated image
    description: str = ""  # an associated image's name ("label" …), as slide TIFFs say it
    striped: bool = False  # one frame, stored as one strip (an associated image is untiled)


def as_tiff(directories: list[Directory], size: int) -> Patches:
    """(offset, bytes) patches that make a `size`-byte object read as a BigTIFF of these IFDs,
    in this order: its 16-byte header over the start of the (unused) preamble, the IFDs and
    their arrays appended at `size`. BigTIFF: a series' objects end to end often pass 4 GB."""
    tail = b""
    for k, directory in enumerate(directories):
        at = size + len(tail)
        tail += _ifd(directory, at, last=k == len(directories) - 1)
    return ((0, b"II+\0" + struct.pack("<HHQ", 8, 0, size)), (size, tail))


SHORT, LONG, LONG8 = 3, 4, 16
CODES = {SHORT: "H", LONG: "I", LONG8: "Q"}


def _ifd(directory: Directory, at: int, last: bool) -> bytes:
    """The BigTIFF IFD of `directory` written at offset `at`, its arrays after it, the next
    IFD (unless `last`) right after those."""
    image, base = directory.instance, directory.base
    photometric = {"RGB": 2, "MONOCHROME2": 1}.get(image.photometric, 6)  # YBR_*: YCbCr
    offsets = [base + offset for offset, _ in image.frames]
    lengths = [length for _, length in image.frames]
    tags: list[tuple[int, int, list[int] | bytes]] = [  # (tag, type (2: ASCII), values)
        (254, LONG, [1 if directory.reduced else 0]),
        (256, LONG, [image.width]),
        (257, LONG, [image.height]),
        (258, SHORT, [8] * image.samples),
        (259, SHORT, [7]),  # JPEG: each tile a complete JPEG stream
        (262, SHORT, [photometric]),
    ]
    if directory.description:
        tags.append((270, 2, directory.description.encode("ascii") + b"\0"))
    if directory.striped:  # one frame, the whole image: one strip
        tags += [(273, LONG8, offsets), (277, SHORT, [image.samples]), (278, LONG, [image.height])]
        tags += [(279, LONG, lengths), (284, SHORT, [1])]
    else:
        tags += [(277, SHORT, [image.samples]), (284, SHORT, [1]), (322, LONG, [image.tile_width])]
        tags += [(323, LONG, [image.tile_height]), (324, LONG8, offsets), (325, LONG, lengths)]
    extra_at = at + 8 + 20 * len(tags) + 8
    entries, extra = b"", b""
    for tag, kind, values in tags:
        if isinstance(values, bytes):
            data, count = values, len(values)
        else:
            data, count = struct.pack(f"<{len(values)}{CODES[kind]}", *values), len(values)
        if len(data) <= 8:
            field = data.ljust(8, b"\0")
        else:  # values that do not fit in the entry follow the IFD
            field, extra = struct.pack("<Q", extra_at + len(extra)), extra + data
            extra += b"\0" * (-len(extra) % 8)  # values start on an 8-byte boundary
        entries += struct.pack("<HHQ", tag, kind, count) + field
    length = 8 + len(entries) + 8 + len(extra)
    return struct.pack("<Q", len(tags)) + entries + struct.pack("<Q", 0 if last else at + length) + extra


class _Parser:
    def __init__(self, reader: ByteReader, size: int):
        self.reader, self.size = reader, size
        self.head = reader.read(0, min(size, HEADER_READ))
        self.found: dict[str, bytes] = {}
        self.pixel_data = -1  # offset of Pixel Data's first item

    def _bytes(self, offset: int, length: int, exact: bool = False) -> bytes:
        """`exact`: a few bytes far from the rest (the last frame's item header), read by
        their own range rather than a block."""
        if offset < 0 or offset + length > self.size:
            raise DicomError("truncated")
        if offset + length <= len(self.head):
            return self.head[offset : offset + length]
        return self.reader.read(offset, length, exact)

    def elements(self, offset: int, end: int, depth: int) -> int:
        """Walk the elements from `offset` up to `end` (or an item's end), keeping WANTED
        ones; returns where the walk stopped."""
        if depth > MAX_DEPTH:
            raise DicomError("sequences nested too deep")
        while offset < end:
            if offset > min(MAX_HEADER, self.size):
                raise DicomError("truncated" if offset > self.size else "data set over 16 MiB before Pixel Data")
            group, element = struct.unpack("<HH", self._bytes(offset, 4))
            if (group, element) == ITEM_END:
                return offset + 8
            vr = self._bytes(offset + 4, 2)
            if vr in LONG_VRS:
                length, value_at = struct.unpack("<I", self._bytes(offset + 8, 4))[0], offset + 12
            else:
                length, value_at = struct.unpack("<H", self._bytes(offset + 6, 2))[0], offset + 8
            if (group, element) == PIXEL_DATA:
                if depth:
                    raise DicomError("Pixel Data inside a sequence")
                if length != UNDEFINED:
                    raise DicomError("native (uncompressed) Pixel Data is not served")
                self.pixel_data = value_at
                return value_at
            if length == UNDEFINED:
                if vr != b"SQ":
                    raise DicomError(f"undefined length outside a sequence ({group:04X},{element:04X})")
                offset = self.sequence(value_at, depth + 1)
                continue
            if (group, element) in WANTED and length <= 1024:
                self.found[WANTED[group, element]] = self._bytes(value_at, length)
            offset = value_at + length
        return offset

    def sequence(self, offset: int, depth: int) -> int:
        """Skip a sequence of undefined length: its items, up to its delimiter."""
        while True:
            if offset > min(MAX_HEADER, self.size):
                raise DicomError("truncated" if offset > self.size else "data set over 16 MiB before Pixel Data")
            tag = struct.unpack("<HH", self._bytes(offset, 4))
            length = struct.unpack("<I", self._bytes(offset + 4, 4))[0]
            if tag == SEQUENCE_END:
                return offset + 8
            if tag != ITEM:
                raise DicomError("malformed sequence")
            if length == UNDEFINED:
                offset = self.elements(offset + 8, self.size, depth)
            else:
                offset += 8 + length


def _text(found: dict[str, bytes], name: str) -> str:
    return found.get(name, b"").decode("latin-1").strip("\0 ")


def _int(found: dict[str, bytes], name: str, size: int) -> int | None:
    """A US (`size` 2), UL (4) or IS (0: an integer string) value, or None."""
    raw = found.get(name, b"")
    if size == 0:
        text = raw.decode("latin-1").strip("\0 ")
        return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None
    return int(struct.unpack("<H" if size == 2 else "<I", raw)[0]) if len(raw) == size else None


def _data_set(reader: ByteReader, size: int) -> _Parser:
    """The data set before Pixel Data, walked (from the first HEADER_READ bytes, as a rule)."""
    if size < PREAMBLE + 4:
        raise DicomError("truncated")
    parser = _Parser(reader, size)
    if parser._bytes(PREAMBLE, 4) != b"DICM":
        raise DicomError("not a DICOM Part 10 file")
    parser.elements(PREAMBLE + 4, size, 0)
    return parser


def identify(reader: ByteReader, size: int) -> tuple[str, str]:
    """(SeriesInstanceUID, ImageType's third value) of a DICOM file, from its data set alone:
    whether it is a part of a given slide, and which."""
    found = _data_set(reader, size).found
    return _text(found, "series"), _image_kind(found)


def _image_kind(found: dict[str, bytes]) -> str:
    values = _text(found, "image_type").split("\\")
    return values[2].strip().upper() if len(values) > 2 else ""


def parse(reader: ByteReader, size: int) -> Instance:
    """The instance's geometry and frames; DicomError when it is not one this build serves."""
    parser = _data_set(reader, size)
    found = parser.found
    syntax = _text(found, "transfer_syntax")
    if _text(found, "sop_class") != VL_WHOLE_SLIDE:
        raise DicomError("is not a VL Whole Slide Microscopy image")
    if syntax != JPEG_BASELINE:
        raise DicomError(f"transfer syntax {syntax or 'unknown'} is not served (only JPEG baseline)")
    if parser.pixel_data < 0:
        raise DicomError("without encapsulated Pixel Data")
    if _text(found, "organization") not in ("", "TILED_FULL"):
        raise DicomError("frames not TILED_FULL are not served")
    for name in ("optical_paths", "focal_planes"):
        if (_int(found, name, 4) or 1) > 1:
            raise DicomError(f"several {name.replace('_', ' ')} are not served")
    rows, columns = _int(found, "rows", 2), _int(found, "columns", 2)
    width, height = _int(found, "total_columns", 4) or columns, _int(found, "total_rows", 4) or rows
    samples, frames = _int(found, "samples", 2), _int(found, "frames", 0) or 1
    if not (rows and columns and width and height and samples in (1, 3)) or _int(found, "bits", 2) != 8:
        raise DicomError("without a usable image geometry (8-bit, 1 or 3 samples)")
    tiles = -(-width // columns) * -(-height // rows)
    if frames != tiles or frames > MAX_FRAMES:
        raise DicomError(f"has {frames} frames for {tiles} tiles")
    frame_ranges = _frames(parser, frames)
    photometric = _text(found, "photometric")
    series, kind = _text(found, "series"), _image_kind(found)
    return Instance(width, height, columns, rows, samples, photometric, frame_ranges, series, kind)


def _frames(parser: _Parser, count: int) -> tuple[tuple[int, int], ...]:
    """Each frame's JPEG stream, from the Basic Offset Table (one fragment per frame, as
    JPEG baseline writers store them; a frame of several fragments fails to decode: 415)."""
    at = parser.pixel_data
    tag = struct.unpack("<HH", parser._bytes(at, 4))
    length = struct.unpack("<I", parser._bytes(at + 4, 4))[0]
    if tag != ITEM or length not in (4 * count, 0) or (length == 0 and count > 1):
        raise DicomError("frames without a Basic Offset Table are not served")
    # An empty table is allowed for one frame: it is the first fragment.
    table = struct.unpack(f"<{count}I", parser._bytes(at + 8, length)) if length else (0,)
    first = at + 8 + length  # the first fragment's item
    items = [first + offset for offset in table] + [-1]
    last = struct.unpack("<HHI", parser._bytes(items[-2], 8, exact=True))
    if last[:2] != ITEM:
        raise DicomError("Basic Offset Table does not point at frames")
    items[-1] = items[-2] + 8 + last[2]
    frames = tuple((item + 8, items[i + 1] - item - 8) for i, item in enumerate(items[:-1]))
    if any(length <= 0 or offset + length > parser.size for offset, length in frames):
        raise DicomError("Basic Offset Table does not point at frames")
    return frames
