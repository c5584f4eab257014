"""TIFF structure, parsed once by ranges: the IFD chain (pages), each page's SubIFDs, and
the tags that decide what a file is and where its stored tiles lie.

A small parser of our own: the only well-kept Python TIFF reader (tifffile) needs NumPy,
which would more than double the Lambda package. A TIFF is described from this parse
alone (imaging.source_image): libvips opens it when a view first needs its pixels, and
then finds the directories in the object's block cache. Tag values are read when asked
for: a level's tile offset arrays (hundreds of KiB on a large level) only when a tile of
it is passed through.

Every offset and count is bounds-checked and chains are walked at most MAX_IFDS deep with
loop detection, so a hostile file can only make it raise TiffError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

MAX_IFDS = 4096  # pages in one chain
MAX_SUBIFDS = 64  # reduced levels of one page
MAX_ENTRIES = 4096  # tags in one IFD
MAX_VALUES = 4_000_000  # values of one tag (a tile offset array of a 500,000² level)

COMPRESSION_JPEG = 7
# JPEG 2000 codestreams as tiles: Aperio's 33003 (components Y, Cb, Cr, which the codestream
# does not transform itself) and 33005 (RGB); 33004 and 34712 as other writers use them.
COMPRESSION_JPEG2000 = frozenset({33003, 33004, 33005, 34712})
COMPRESSION_JPEG2000_YCBCR = 33003
PHOTOMETRIC_MINISBLACK, PHOTOMETRIC_RGB, PHOTOMETRIC_MASK, PHOTOMETRIC_YCBCR = 1, 2, 4, 6
FILETYPE_REDUCED, FILETYPE_MASK = 1, 4  # NewSubfileType bits
DIRECTORY_READ = 1024  # an exact directory read: a 2-byte count and up to 85 tags of 12
MAX_DESCRIPTION = 64 * 1024  # longer ImageDescriptions are not read unless asked (OME-XML)
(NEW_SUBFILE_TYPE, WIDTH, HEIGHT, COMPRESSION, PHOTOMETRIC, DESCRIPTION) = (254, 256, 257, 259, 262, 270)
ORIENTATION, SAMPLES = 274, 277
STRIP_OFFSETS, STRIP_BYTE_COUNTS = 273, 279
TILE_WIDTH, TILE_HEIGHT, TILE_OFFSETS, TILE_BYTE_COUNTS, SUBIFDS, JPEG_TABLES = 322, 323, 324, 325, 330, 347
YCBCR_SUBSAMPLING = 530
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 13: 4, 16: 8, 17: 8, 18: 8}
TYPE_CODES = {1: "B", 2: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
INTEGER_TYPES = frozenset({1, 3, 4, 6, 8, 9, 16, 17})  # (S)BYTE, (S)SHORT, (S)LONG, (S)LONG8
# Every TIFF field type's size, the non-integer ones too (rationals, floats): for copying tags.
FIELD_SIZES = {**TYPE_SIZES, 5: 8, 10: 8, 11: 4, 12: 8}


# Where to look for directories at open when the first IFD is not in the bytes read first.
DIRECTORY_WINDOW = 256 * 1024  # an IFD and its tile arrays (2 × 4 B × 32,768 tiles)
# What libtiff's JPEG codec reads of a first chunk to learn its chroma subsampling (it reads
# 2 KiB at a time up to the frame header, which follows the stream's tables).
FIRST_CHUNK_PROBE = 8 * 1024
TAIL_MIN, TAIL_MAX = 256 * 1024, 4 * 1024 * 1024
MAX_GUESSES = 64  # ImageWidth entries in the tail tried as directories (directory_before)


def directory_windows(head: bytes, size: int, loaded: int) -> list[tuple[int, int]]:
    """(offset, length) windows likely to hold a TIFF's directories, from its first bytes
    `head`, when its first IFD lies beyond the `loaded` bytes already read; [] otherwise
    (not a TIFF, or a COG-style file whose directories come first).

    libvips' tiffsave writes each level's IFD (tile arrays right after it) behind that
    level's data: the first IFD after full resolution, the others, much smaller levels
    down, near the end. So: the first IFD's window, and the file's tail (a third of what
    follows the first IFD, within TAIL_MIN…TAIL_MAX), read together, let libvips walk the
    chain from bytes already fetched. A directory outside both is read when walked to."""
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 16:
        return []
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic not in (42, 43):
        return []
    first = struct.unpack(order + "I", head[4:8])[0] if magic == 42 else struct.unpack(order + "Q", head[8:16])[0]
    if not loaded <= first < size:
        return []
    tail = min(max((size - first) // 3, TAIL_MIN), TAIL_MAX)
    return [(first, DIRECTORY_WINDOW), (max(first, size - tail), tail)]


def is_tiff(head: bytes) -> bool:
    """Whether the first 4 bytes are a TIFF's or a BigTIFF's, as libvips sniffs them."""
    return head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


class TiffError(Exception):
    """Not a TIFF, or a structure outside what this parser accepts."""


class NotRead(Exception):
    """Bytes that a reader of only what was fetched so far does not hold (open_reads)."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


@dataclass(frozen=True)
class OpenReads:
    """What an open must still fetch (open_reads), as (offset, length) ranges."""

    directories: list[tuple[int, int]]  # windows of directories not at hand
    first_tile: tuple[int, int] | None  # page 0's first tile, which libtiff reads when libvips opens it


def open_reads(reader: ByteReader, size: int, tail: tuple[int, int] | None = None) -> OpenReads:
    """What an open must still fetch to walk the IFD chain, found from `reader`, which holds
    only what was fetched so far and raises NotRead for the rest: the window of the first
    directory not at hand, and, from the directories in the fetched `tail` (offset, length)
    that the chain has not reached yet, a guess at where the one before them lies
    (directory_before); and page 0's first tile (or strip) when libtiff reads it with the
    directory (reads_first_chunk). The caller fetches them together, in parallel, and asks
    again, until no directory is wanted."""
    wanted = []
    walked: list[int] = []
    first_tile = None
    try:
        tiff = TiffFile(reader, size, walk=False)
        first = tiff.ifd(tiff.first)
        if reads_first_chunk(first):
            offsets, counts = chunk_tags(first)
            at, length = tiff.first_value(first.entries[offsets]), tiff.first_value(first.entries[counts])
            if 0 < at < size and length > 0:  # values of an untrusted file
                first_tile = (at, min(length, FIRST_CHUNK_PROBE))
        tiff.chain(tiff.first, walked)
    except NotRead as unread:
        wanted.append((unread.offset, DIRECTORY_WINDOW))
        guess = directory_before(tiff, tail, set(walked)) if tail and walked else None
        if guess:
            wanted.append(guess)
    return OpenReads(wanted, first_tile)


def chunk_tags(ifd: Ifd) -> tuple[int, int]:
    """The tags of `ifd`'s chunk offsets and byte counts: its tiles', or its strips'."""
    return (TILE_OFFSETS, TILE_BYTE_COUNTS) if ifd.tiled else (STRIP_OFFSETS, STRIP_BYTE_COUNTS)


def reads_first_chunk(ifd: Ifd) -> bool:
    """Whether libtiff reads `ifd`'s first tile (or strip) when it reads the directory: its
    JPEG codec does so for JPEG-coded YCbCr without a YCbCrSubsampling tag (libvips writes
    none), to learn the chroma subsampling from the stream, unless that chunk's offset is 0
    (a chunk not written yet, for libtiff)."""
    return (
        ifd.compression == COMPRESSION_JPEG
        and ifd.photometric == PHOTOMETRIC_YCBCR
        and YCBCR_SUBSAMPLING not in ifd.entries
        and all(tag in ifd.entries for tag in chunk_tags(ifd))
    )


def header_patches(tiff: TiffFile, ifd: Ifd) -> tuple[tuple[int, bytes], ...]:
    """(offset, bytes) under which libvips reads `ifd`'s header without reading any of its
    pixels (reads_first_chunk: its first chunk's offset read as 0). For checking a header
    only: libtiff then assumes 2 × 2 chroma subsampling, which may not be the stream's."""
    if not reads_first_chunk(ifd):
        return ()
    try:
        return (tiff.first_value_patch(ifd, chunk_tags(ifd)[0], 0),)
    except TiffError:  # then libvips reads the first chunk, as libtiff would anyway
        return ()


def directory_before(tiff: TiffFile, tail: tuple[int, int], walked: set[int]) -> tuple[int, int] | None:
    """A window likely to hold the directory just before the finest level whose directory
    lies in `tail` (fetched) but which the chain has not reached (`walked`): libvips writes
    each level's data right after the directory before it, so that directory ends where
    the level's first tile begins. The chain can only be walked in order; this guess lets
    a directory beyond the next be fetched in the same round. Directories in the tail are
    found by their ImageWidth entry (first, or after NewSubfileType), each candidate kept
    only if it parses as a tiled directory, tags ascending, whose data lies before it; a
    wrong guess costs one GET in parallel, never a wrong read."""
    start, length = tail
    try:
        data = tiff.reader.read(start, length)
    except NotRead:  # the tail left the block cache since it was fetched: no guess
        return None
    count_size, entry_size = (8, 20) if tiff.big else (2, 12)
    levels = []
    tried = 0  # a hostile tail full of the pattern costs at most MAX_GUESSES parses
    for kind in (3, 4):  # SHORT or LONG
        entry = struct.pack(tiff.order + "HH" + ("Q" if tiff.big else "I"), WIDTH, kind, 1)
        at = data.find(entry)
        while at >= 0 and tried < MAX_GUESSES:
            tried += 1
            for before in (0, 1):
                offset = start + at - count_size - before * entry_size
                try:
                    ifd = tiff.ifd(offset)
                    tags = list(ifd.entries)
                    if offset in walked or not ifd.tiled or tags != sorted(tags) or tags[before] != WIDTH:
                        continue
                    level_start = tiff.first_value(ifd.entries[TILE_OFFSETS])
                except (TiffError, NotRead, KeyError, IndexError, struct.error):
                    continue
                if level_start < offset:
                    levels.append((ifd.width, level_start))
            at = data.find(entry, at + 1)
    if not levels:
        return None
    _, level_start = max(levels)
    return max(0, level_start - DIRECTORY_WINDOW), min(DIRECTORY_WINDOW, level_start)


class ByteReader(Protocol):
    def read(self, offset: int, length: int, exact: bool = False) -> bytes: ...


@dataclass(frozen=True)
class Entry:
    kind: int
    count: int
    field: bytes  # the value itself when it fits, else its offset


@dataclass(frozen=True)
class Ifd:
    """One image directory: its size and, if tiled, its tile size."""

    offset: int
    width: int
    height: int
    tile_width: int  # 0: striped
    tile_height: int
    compression: int
    photometric: int
    samples: int
    subfile_type: int
    entries: dict[int, Entry]
    orientation: int = 1  # EXIF orientation 1–8 (1 when absent or out of range, as libvips reads it)

    @property
    def tiled(self) -> bool:
        return self.tile_width > 0 and self.tile_height > 0

    @property
    def reduced(self) -> bool:
        """NewSubfileType says: a reduced version of another image (a level, a thumbnail)."""
        return bool(self.subfile_type & FILETYPE_REDUCED)

    @property
    def mask(self) -> bool:
        """A transparency mask of another image (GDAL's internal masks: NewSubfileType 4 or
        5, PhotometricInterpretation 4, 1 bit)."""
        return bool(self.subfile_type & FILETYPE_MASK) or self.photometric == PHOTOMETRIC_MASK


@dataclass(frozen=True)
class TiledLevel:
    """Where each stored tile of one tiled IFD lies, and how it is coded."""

    ifd: Ifd
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    jpeg_tables: bytes

    def tile_range(self, col: int, row: int) -> tuple[int, int] | None:
        """(offset, length) of stored tile (col, row), or None where none is stored."""
        index = row * -(-self.ifd.width // self.ifd.tile_width) + col
        if not (0 <= index < len(self.offsets) == len(self.counts)) or self.counts[index] == 0:
            return None
        return self.offsets[index], self.counts[index]


class TiffFile:
    """The IFDs of one TIFF version, read through `reader` (an ObjectReader) of `size` bytes."""

    def __init__(self, reader: ByteReader, size: int, walk: bool = True):
        """`walk`: read the chain of pages (otherwise only the header: `first` is known)."""
        self.reader = reader
        self.size = size
        head = self._bytes(0, 16) if size >= 16 else b""
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None:
            raise TiffError("not a TIFF")
        self.order = order
        magic = struct.unpack(order + "H", head[2:4])[0]
        if magic == 42:
            self.big, first = False, struct.unpack(order + "I", head[4:8])[0]
        elif magic == 43:
            self.big, first = True, struct.unpack(order + "Q", head[8:16])[0]
        else:
            raise TiffError("not a TIFF")
        self.first = first  # the first IFD's offset
        self.pages = [self.ifd(offset) for offset in self.chain(first)] if walk else []
        if walk and not self.pages:
            raise TiffError("no image directory")
        self._levels: dict[int, TiledLevel] = {}

    # -- structure -------------------------------------------------------------------
    def subifd_offsets(self, page: int) -> tuple[int, ...]:
        """Where the reduced levels stored as SubIFDs of a page lie (OME-TIFF, libvips
        `subifd=True`)."""
        entry = self.pages[page].entries.get(SUBIFDS)
        offsets = self.values(entry) if entry is not None else ()
        if len(offsets) > MAX_SUBIFDS:
            raise TiffError(f"{len(offsets)} SubIFDs in one page")
        return offsets

    def ifds_for(self, options: dict[str, float]) -> list[Ifd]:
        """Every IFD libvips reads with these load options: `n` pages from `page`, `stride`
        apart (an OME-TIFF's channels, chained by chain_patches), each at the same SubIFD if
        one is named."""
        page, stride = int(options.get("page", 0)), int(options.get("stride", 1))
        return [self.ifd_for({**options, "page": page + i * stride}) for i in range(int(options.get("n", 1)))]

    def chain_patches(self, pages: list[int]) -> tuple[tuple[int, bytes], ...]:
        """(offset, bytes) that, written over the file, make `pages` (ascending) its whole
        chain of directories, in that order: the header points to the first, each to the
        next, the last to none. libvips then reads them as pages 0…n-1 (and walks no other
        directory to reach them): an OME-TIFF's channel page, alone."""
        pointer = "Q" if self.big else "I"
        patches = [(8 if self.big else 4, struct.pack(self.order + pointer, self.pages[pages[0]].offset))]
        for page, following in zip(pages, [*pages[1:], None], strict=True):
            offset = self.pages[page].offset
            count, entry_size, count_size = self._entry_layout(offset)
            target = 0 if following is None else self.pages[following].offset
            patches.append((offset + count_size + count * entry_size, struct.pack(self.order + pointer, target)))
        return tuple(patches)

    def ifd_for(self, options: dict[str, float]) -> Ifd:
        """The IFD libvips reads with these load options (page and/or subifd)."""
        page = int(options.get("page", 0))
        if not 0 <= page < len(self.pages):
            raise TiffError("no such page")
        if "subifd" not in options:
            return self.pages[page]
        offsets = self.subifd_offsets(page)
        index = int(options["subifd"])
        if not 0 <= index < len(offsets):
            raise TiffError("no such SubIFD")
        return self.ifd(offsets[index])

    def tiled_level(self, ifd: Ifd) -> TiledLevel:
        """The tile offsets, byte counts and JPEG tables of a tiled IFD (read once, then kept)."""
        if ifd.offset not in self._levels:
            entries = ifd.entries
            if not ifd.tiled or TILE_OFFSETS not in entries or TILE_BYTE_COUNTS not in entries:
                raise TiffError("not a tiled level")
            tables = entries.get(JPEG_TABLES)
            self._levels[ifd.offset] = TiledLevel(
                ifd,
                self.values(entries[TILE_OFFSETS]),
                self.values(entries[TILE_BYTE_COUNTS]),
                self.raw(tables) if tables else b"",
            )
        return self._levels[ifd.offset]

    def description(self, ifd: Ifd, limit: int = MAX_DESCRIPTION) -> str:
        """The IFD's ImageDescription ("" when absent, unreadable or longer than `limit`: a
        description only names things, as libtiff, which ignores a broken one)."""
        entry = ifd.entries.get(DESCRIPTION)
        if entry is None or entry.kind != 2 or entry.count > limit:
            return ""
        try:
            return self.raw(entry).split(b"\0", 1)[0].decode("latin-1")
        except TiffError:
            return ""

    def value_patch(self, ifd: Ifd, tag: int, value: int) -> tuple[int, bytes]:
        """(offset, bytes) that, written over the file, make `tag` of `ifd` read `value`: how
        a reader shows libvips an IFD as it can read it (a 1-bit mask as MinIsBlack)."""
        entry = ifd.entries.get(tag)
        if entry is None or entry.count != 1 or entry.kind not in (3, 4):
            raise TiffError(f"no single integer tag {tag}")
        return self._value_field(ifd, tag), struct.pack(self.order + TYPE_CODES[entry.kind], value)

    def first_value_patch(self, ifd: Ifd, tag: int, value: int) -> tuple[int, bytes]:
        """(offset, bytes) that, written over the file, make the first of the integers of
        `tag` of `ifd` (inline or in an array elsewhere) read `value`."""
        entry = ifd.entries.get(tag)
        if entry is None or entry.kind not in INTEGER_TYPES:
            raise TiffError(f"no integer tag {tag}")
        packed = struct.pack(self.order + TYPE_CODES[entry.kind], value)
        if TYPE_SIZES[entry.kind] * entry.count <= (8 if self.big else 4):
            return self._value_field(ifd, tag), packed
        return struct.unpack(self.order + ("Q" if self.big else "I"), entry.field)[0], packed

    def _value_field(self, ifd: Ifd, tag: int) -> int:
        """Where the value field (an inline value, or the offset of the values) of `tag` lies."""
        count, entry_size, count_size = self._entry_layout(ifd.offset)
        raw = self._bytes(ifd.offset + count_size, count * entry_size)
        for i in range(count):  # the first of repeated tags, as _entries keeps
            if struct.unpack(self.order + "H", raw[i * entry_size : i * entry_size + 2])[0] == tag:
                return ifd.offset + count_size + i * entry_size + (12 if self.big else 8)
        raise TiffError(f"no tag {tag}")

    def tags(self, ifd: Ifd) -> list[tuple[int, int, int, bytes]]:
        """Every tag of `ifd` as (tag, type, count, value bytes in the file's byte order), in
        file order, whatever its type: what a writer copying the directory needs (Ifd.entries
        keeps only the integer and byte types this parser reads)."""
        count, entry_size, count_size = self._entry_layout(ifd.offset)
        raw = self._bytes(ifd.offset + count_size, count * entry_size)
        inline = 8 if self.big else 4
        found = []
        for i in range(count):
            entry = raw[i * entry_size : (i + 1) * entry_size]
            tag, kind = struct.unpack(self.order + "HH", entry[:4])
            n = struct.unpack(self.order + ("Q" if self.big else "I"), entry[4 : 4 + inline])[0]
            if kind not in FIELD_SIZES or n > MAX_VALUES:
                raise TiffError(f"tag {tag}: type {kind} × {n}")
            size, field = FIELD_SIZES[kind] * n, entry[4 + inline :]
            where = struct.unpack(self.order + ("Q" if self.big else "I"), field)[0]
            found.append((tag, kind, n, field[:size] if size <= inline else self._bytes(where, size)))
        return found

    def ifd(self, offset: int, exact: bool = False) -> Ifd:
        """The directory at `offset`; `exact` reads it by its own small range rather than
        through the block cache (a SubIFD far from everything else read so far)."""
        entries = self._entries(offset, exact)

        def first(tag: int, default: int = 0) -> int:
            entry = entries.get(tag)
            values = self.values(entry) if entry is not None and entry.count == 1 else ()
            return values[0] if values else default

        orientation = first(ORIENTATION, 1) if entries.get(ORIENTATION, Entry(3, 1, b"")).kind in INTEGER_TYPES else 1

        if WIDTH not in entries or HEIGHT not in entries:
            raise TiffError("an IFD without a size")
        return Ifd(
            offset=offset,
            width=first(WIDTH),
            height=first(HEIGHT),
            tile_width=first(TILE_WIDTH),
            tile_height=first(TILE_HEIGHT),
            compression=first(COMPRESSION, 1),
            photometric=first(PHOTOMETRIC),
            samples=first(SAMPLES, 1),
            subfile_type=first(NEW_SUBFILE_TYPE),
            entries=entries,
            orientation=orientation if 1 <= orientation <= 8 else 1,
        )

    # -- reading ---------------------------------------------------------------------
    def values(self, entry: Entry) -> tuple[int, ...]:
        return struct.unpack(f"{self.order}{entry.count}{TYPE_CODES[entry.kind]}", self.raw(entry))

    def raw(self, entry: Entry) -> bytes:
        size = TYPE_SIZES[entry.kind] * entry.count
        inline = 8 if self.big else 4
        if size <= inline:
            return entry.field[:size]
        return self._bytes(struct.unpack(self.order + ("Q" if self.big else "I"), entry.field)[0], size)

    def first_value(self, entry: Entry) -> int:
        """A tag's first value, without reading the rest (a tile offset array's first)."""
        size = TYPE_SIZES[entry.kind]
        if size * entry.count <= (8 if self.big else 4):
            return self.values(entry)[0]
        pointer = struct.unpack(self.order + ("Q" if self.big else "I"), entry.field)[0]
        value: int = struct.unpack(self.order + TYPE_CODES[entry.kind], self._bytes(pointer, size))[0]
        return value

    def chain(self, offset: int, offsets: list[int] | None = None) -> list[int]:
        """The offsets of the IFDs chained from `offset` (the pages), appended to `offsets`
        as they are read (what was walked when a read fails)."""
        offsets = [] if offsets is None else offsets
        seen: set[int] = set()
        while offset and offset not in seen:
            if len(offsets) >= MAX_IFDS:
                raise TiffError(f"more than {MAX_IFDS} pages")
            seen.add(offset)
            offsets.append(offset)
            count, entry_size, count_size = self._entry_layout(offset)
            offset = self._unpack("Q" if self.big else "I", offset + count_size + count * entry_size)[0]
        return offsets

    def _entry_layout(self, offset: int, head: bytes = b"") -> tuple[int, int, int]:
        count_size = 8 if self.big else 2
        code = self.order + ("Q" if self.big else "H")
        if len(head) >= count_size:
            count = struct.unpack(code, head[:count_size])[0]
        else:
            count = self._unpack("Q" if self.big else "H", offset)[0]
        if count > MAX_ENTRIES:
            raise TiffError("implausible IFD")
        return count, 20 if self.big else 12, count_size

    def _entries(self, offset: int, exact: bool = False) -> dict[int, Entry]:
        if exact:  # one GET for the usual directory: its count and entries together
            head = self._bytes(offset, min(DIRECTORY_READ, self.size - offset), exact=True)
            count, entry_size, count_size = self._entry_layout(offset, head)
            end = count_size + count * entry_size
            raw = (
                head[count_size:end]
                if len(head) >= end
                else self._bytes(offset + count_size, end - count_size, exact=True)
            )
        else:
            count, entry_size, count_size = self._entry_layout(offset)
            raw = self._bytes(offset + count_size, count * entry_size)
        inline = 8 if self.big else 4
        entries = {}
        for i in range(count):
            entry = raw[i * entry_size : (i + 1) * entry_size]
            tag, kind = struct.unpack(self.order + "HH", entry[:4])
            n = struct.unpack(self.order + ("Q" if self.big else "I"), entry[4 : 4 + inline])[0]
            # A repeated tag: the first counts, as libtiff reads it (it ignores the others).
            if kind in TYPE_SIZES and 0 < n <= MAX_VALUES and tag not in entries:
                entries[tag] = Entry(kind, n, entry[4 + inline :])
        return entries

    def _bytes(self, offset: int, length: int, exact: bool = False) -> bytes:
        if offset < 0 or offset + length > self.size:
            raise TiffError("offset past the end of the file")
        return self.reader.read(offset, length, exact)

    def _unpack(self, code: str, offset: int) -> tuple[int, ...]:
        return struct.unpack(self.order + code, self._bytes(offset, struct.calcsize(code)))
