"""Hostile and broken files for the bad-input matrix, made from the fixtures' good ones."""

from __future__ import annotations

import struct
import zipfile
import zlib
from io import BytesIO
from pathlib import Path


def _first_ifd(data: bytes) -> int:
    assert data[:4] == b"II*\x00", "classic little-endian TIFF expected"
    return struct.unpack("<I", data[4:8])[0]


def _entries(data: bytes, ifd: int):
    count = struct.unpack("<H", data[ifd : ifd + 2])[0]
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, kind, n, value = struct.unpack("<HHII", data[at : at + 12])
        yield at, tag, kind, n, value


def tiff_ifd_loop(tiff: bytes) -> bytes:
    """The first IFD's next-IFD pointer points back at itself."""
    data = bytearray(tiff)
    ifd = _first_ifd(data)
    count = struct.unpack("<H", data[ifd : ifd + 2])[0]
    struct.pack_into("<I", data, ifd + 2 + 12 * count, ifd)
    return bytes(data)


def tiff_offsets_past_eof(tiff: bytes) -> bytes:
    """Every tile offset of the first IFD points past the end of the file."""
    data = bytearray(tiff)
    for _at, tag, kind, n, value in _entries(data, _first_ifd(data)):
        if tag == 324:  # TileOffsets
            size = 4 if kind == 4 else 8
            for i in range(n):
                struct.pack_into("<I" if size == 4 else "<Q", data, value + i * size, len(data) + 10**6 + i)
    return bytes(data)


def tiff_header_claims(width: int, height: int) -> bytes:
    """A tiny tiled TIFF whose header claims width × height (a decompression bomb)."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (277, 3, 1, 1),
        (322, 3, 1, 256),
        (323, 3, 1, 256),
        (324, 4, 1, 0),
        (325, 4, 1, 0),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def png_header_claims(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_header_claims(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF frame header is rewritten to claim width × height."""
    data = bytearray(jpeg)
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, height, width)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF marker")


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="10" height="10"/></svg>'
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def zip_of(path: Path) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(path, path.name)
    return buffer.getvalue()


def vips_native(pyvips) -> bytes:
    """A file in libvips' own .v format (a loader gigatile must not use)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "native.v"
        pyvips.Image.black(64, 64).write_to_file(str(path))
        return path.read_bytes()


# -- crafted TIFFs (issue #18): small files that claim or point at much more -----------------
SHORT, LONG, ASCII, UNDEFINED = 3, 4, 2, 7


class TiffWriter:
    """A classic little-endian TIFF laid out by hand: blobs and IFDs appended in order, so
    that offsets can point anywhere (backwards, at themselves, past the end)."""

    def __init__(self):
        self.data = bytearray(b"II*\x00\x00\x00\x00\x00")

    def blob(self, payload: bytes) -> int:
        if len(self.data) % 2:
            self.data += b"\x00"
        at = len(self.data)
        self.data += payload
        return at

    def ifd(self, tags: dict[int, tuple[int, object]], next_ifd: int = 0) -> int:
        """Write an IFD of {tag: (type, values or bytes)}; values that do not fit inline go
        into a blob first. Returns its offset."""
        entries = []
        for tag in sorted(tags):
            kind, values = tags[tag]
            if isinstance(values, bytes):
                raw, count = values, len(values)
            else:
                seq = list(values) if isinstance(values, list | tuple | range) else [values]
                raw, count = struct.pack(f"<{len(seq)}{'H' if kind == SHORT else 'I'}", *seq), len(seq)
            field = raw.ljust(4, b"\x00") if len(raw) <= 4 else struct.pack("<I", self.blob(raw))
            entries.append(struct.pack("<HHI", tag, kind, count) + field)
        at = self.blob(struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", next_ifd))
        return at

    def first(self, offset: int) -> bytes:
        struct.pack_into("<I", self.data, 4, offset)
        return bytes(self.data)

    def set_inline(self, ifd: int, tag: int, value: int) -> None:
        """Overwrite the one inline LONG value of `tag` in the IFD at `ifd`."""
        for at, found, _kind, _n, _value in _entries(self.data, ifd):
            if found == tag:
                struct.pack_into("<I", self.data, at + 8, value)
                return
        raise KeyError(tag)

    def set_next(self, ifd: int, next_ifd: int) -> None:
        count = struct.unpack("<H", self.data[ifd : ifd + 2])[0]
        struct.pack_into("<I", self.data, ifd + 2 + 12 * count, next_ifd)


def gray_tiled_tags(
    width: int, height: int, tile: int, data_offset: int, count: int, extra: dict | None = None
) -> dict:
    """Tags of an uncompressed 8-bit grey tiled image whose every tile is the same stored bytes."""
    tiles = -(-width // tile) * -(-height // tile)
    tags = {
        256: (LONG, width),
        257: (LONG, height),
        258: (SHORT, 8),
        259: (SHORT, 1),
        262: (SHORT, 1),
        277: (SHORT, 1),
        322: (LONG, tile),
        323: (LONG, tile),
        324: (LONG, [data_offset] * tiles),
        325: (LONG, [count] * tiles),
    }
    tags.update(extra or {})
    return tags


def _grey_tile(w: TiffWriter, tile: int = 256) -> int:
    """One stored tile of a gradient, shared by every tile of the crafted images."""
    return w.blob(bytes((x + y) % 256 for y in range(tile) for x in range(tile)))


def tiff_with_subifds(count: int = 0, self_reference: bool = False, loop: bool = False, larger: bool = False) -> bytes:
    """A 512 × 512 tiled base whose SubIFDs are `count` copies of one 256 × 256 level, or its
    own IFD (`self_reference`), or a level whose next-IFD pointer is itself (`loop`), or one
    level of 4096 × 4096, larger than the base (`larger`)."""
    w = TiffWriter()
    tile = _grey_tile(w)
    side = 4096 if larger else 256
    level = w.ifd(gray_tiled_tags(side, side, 256, tile, 65536, {254: (LONG, 1)}))
    if loop:
        w.set_next(level, level)
    subifds = [level] * max(count, 1)
    base_tags = gray_tiled_tags(512, 512, 256, tile, 65536)
    if self_reference:
        # The base's SubIFDs tag names the base itself: patched in once its offset is known.
        base_tags[330] = (LONG, 0)
        base = w.ifd(base_tags)
        w.set_inline(base, 330, base)
        return w.first(base)
    base_tags[330] = (LONG, subifds)
    return w.first(w.ifd(base_tags))


def tiff_page_chain(pages: int) -> bytes:
    """`pages` IFDs of one 256 × 256 tiled image in a chain (libvips counts every one)."""
    w = TiffWriter()
    tile = _grey_tile(w)
    tags = gray_tiled_tags(256, 256, 256, tile, 65536)
    first = w.ifd(tags)
    previous = first
    for _ in range(pages - 1):
        at = w.ifd(tags)
        w.set_next(previous, at)
        previous = at
    return w.first(first)


def tiff_sized(width: int, height: int, tile: int = 256, tiles: int | None = None) -> bytes:
    """A tiled grey TIFF claiming width × height with tile × tile tiles (all one stored
    deflated tile; a placeholder of 1 KiB for tiles over 1024², never decoded), its offset
    arrays `tiles` long (default: the whole grid)."""
    w = TiffWriter()
    body = zlib.compress(b"\x00" * (tile * tile if tile <= 1024 else 1024))
    data = w.blob(body)
    tags = gray_tiled_tags(width, height, tile, data, len(body), {259: (SHORT, 8)})
    if tiles is not None:
        tags[324], tags[325] = (LONG, [data] * tiles), (LONG, [len(body)] * tiles)
    return w.first(w.ifd(tags))


def tiff_size_repeated(claim: int) -> bytes:
    """A 256² tiled grey TIFF whose ImageWidth and ImageLength each appear twice: 256, then
    `claim`. libtiff reads the first of a repeated tag (and warns of the other)."""
    w = TiffWriter()
    body = zlib.compress(b"\x00" * 256 * 256)
    tags = gray_tiled_tags(256, 256, 256, w.blob(body), len(body), {259: (SHORT, 8)})
    ifd = w.ifd(tags)
    entries = []
    for at, tag, _kind, _n, _value in _entries(w.data, ifd):
        entries.append(bytes(w.data[at : at + 12]))
        if tag in (256, 257):
            entries.append(struct.pack("<HHII", tag, LONG, 1, claim))
    return w.first(w.blob(struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)))


def tiff_samples(bits: int, samples: int, sample_format: int = 1) -> bytes:
    """A 256 × 256 uncompressed tiled TIFF with odd bit depths or sample counts."""
    w = TiffWriter()
    size = 256 * 256 * samples * -(-bits // 8)
    data = w.blob(bytes(i % 251 for i in range(size)))
    tags = gray_tiled_tags(256, 256, 256, data, size)
    tags.update({258: (SHORT, [bits] * samples), 277: (SHORT, samples), 339: (SHORT, [sample_format] * samples)})
    if samples >= 3:
        tags[262] = (SHORT, 2)
        tags[338] = (SHORT, [0] * (samples - 3))  # extra samples, unspecified
    return w.first(w.ifd(tags))


def tiff_striped(width: int, height: int, rows_per_strip: int = 1, count: int | None = None) -> bytes:
    """A deflated striped grey TIFF whose strips all share one stored strip: a few MiB that
    declare width × height (the issue's case: 1000 × 1,000,000, one row per strip). `count`
    overrides every strip's byte count."""
    w = TiffWriter()
    body = zlib.compress(bytes(x % 256 for x in range(width)) * rows_per_strip)
    data = w.blob(body)
    strips = -(-height // rows_per_strip)
    tags = {
        256: (LONG, width),
        257: (LONG, height),
        258: (SHORT, 8),
        259: (SHORT, 8),
        262: (SHORT, 1),
        273: (LONG, [data] * strips),
        277: (SHORT, 1),
        278: (LONG, rows_per_strip),
        279: (LONG, [len(body) if count is None else count] * strips),
    }
    return w.first(w.ifd(tags))


def tiff_description(size: int) -> bytes:
    """A 256 × 256 tiled TIFF whose ImageDescription is `size` bytes."""
    w = TiffWriter()
    tile = _grey_tile(w)
    text = (b"gigatile " * (size // 9 + 1))[: size - 1] + b"\x00"
    return w.first(w.ifd(gray_tiled_tags(256, 256, 256, tile, 65536, {270: (ASCII, text)})))


def _patch_first_ifd(tiff: bytes, fix) -> bytes:
    """Apply `fix(data, entry_at, tag, kind, n, value)` to each entry of the first IFD."""
    data = bytearray(tiff)
    for at, tag, kind, n, value in list(_entries(data, _first_ifd(data))):
        fix(data, at, tag, kind, n, value)
    return bytes(data)


def tiff_counts(tiff: bytes, count: int) -> bytes:
    """Every TileByteCount of the first IFD set to `count` (0, or 2^32−1: the issue's case)."""

    def fix(data, at, tag, kind, n, value):
        if tag == 325:
            assert kind == LONG
            where = value if n > 1 else at + 8
            for i in range(n):
                struct.pack_into("<I", data, where + 4 * i, count)

    return _patch_first_ifd(tiff, fix)


def tiff_short_arrays(tiff: bytes) -> bytes:
    """TileOffsets and TileByteCounts that say they hold one value, for a grid of many."""

    def fix(data, at, tag, kind, n, value):
        if tag in (324, 325):
            first = struct.unpack("<I", data[value : value + 4])[0]
            struct.pack_into("<II", data, at + 4, 1, first)

    return _patch_first_ifd(tiff, fix)


def tiff_big_jpeg_tables(tiff: bytes, size: int = 1 << 20) -> bytes:
    """The first IFD's JPEGTables grown to `size` bytes with comment segments (still valid)."""
    data = bytearray(tiff)
    for at, tag, _kind, n, value in _entries(data, _first_ifd(data)):
        if tag == 347:
            tables = bytes(data[value : value + n])
            assert tables[:2] == b"\xff\xd8" and tables[-2:] == b"\xff\xd9"
            pad, chunk = bytearray(), 65533
            while len(tables) + len(pad) < size:
                pad += b"\xff\xfe" + struct.pack(">H", chunk + 2) + b"\x00" * chunk
            grown = tables[:2] + bytes(pad) + tables[2:]
            offset = len(data) + len(data) % 2
            data += b"\x00" * (offset - len(data)) + grown
            struct.pack_into("<II", data, at + 4, len(grown), offset)
            return bytes(data)
    raise ValueError("no JPEGTables")


# -- the formats added since (issue #18 part 2): SVS, COG masks, non-8-bit, JPEG 2000 ---------
APERIO = "Aperio Image Library v12.0.15"


def _chained(w: TiffWriter, ifds: list[dict]) -> bytes:
    """The IFDs written in one chain, in order."""
    offsets = [w.ifd(tags) for tags in ifds]
    for a, b in zip(offsets, offsets[1:], strict=False):
        w.set_next(a, b)
    return w.first(offsets[0])


def _deflated_tile(w: TiffWriter, raw: bytes) -> tuple[int, int]:
    body = zlib.compress(raw)
    return w.blob(body), len(body)


def _grey_deflated(width: int, height: int, tile: int, at: int, count: int, extra: dict | None = None) -> dict:
    return gray_tiled_tags(width, height, tile, at, count, {259: (SHORT, 8), **(extra or {})})


def svs(
    level: tuple[int, int] | None = None,
    label: tuple[int, int] | None = None,
    label_tiled: bool = False,
    description: bytes | None = None,
    base: int = 1024,
) -> bytes:
    """A grey deflated Aperio-like slide (IFD 0 a `base`² tiled baseline with an Aperio
    ImageDescription, IFD 1 a 64² striped thumbnail), then a tiled reduced level of `level`
    (w, h), then a label of `label` (w, h), striped (strips sharing one stored strip) or tiled.
    `description` replaces the baseline's ImageDescription."""
    w = TiffWriter()
    at, count = _deflated_tile(w, bytes((x + y) % 256 for y in range(256) for x in range(256)))
    text = description or f"{APERIO} \r\n{base}x{base} [0,0 {base}x{base}] (256x256) |AppMag = 20|MPP = 0.499".encode()
    ifds = [_grey_deflated(base, base, 256, at, count, {270: (ASCII, text + b"\x00")})]
    strip_at, strip_count = _deflated_tile(w, bytes(range(64)) * 64)
    thumb = {
        256: (LONG, 64),
        257: (LONG, 64),
        258: (SHORT, 8),
        259: (SHORT, 8),
        262: (SHORT, 1),
        273: (LONG, strip_at),
        277: (SHORT, 1),
        278: (LONG, 64),
        279: (LONG, strip_count),
        270: (ASCII, f"{APERIO} \r\n{base}x{base} -> 64x64 - |AppMag = 20\x00".encode()),
    }
    ifds.append(thumb)
    if level is not None:
        lw, lh = level
        desc = f"{APERIO} \r\n{base}x{base} [0,0 {base}x{base}] (256x256) -> {lw}x{lh}|AppMag = 20\x00".encode()
        tiles = max(1, -(-lw // 256) * -(-lh // 256))
        tags = _grey_deflated(lw, lh, 256, at, count, {270: (ASCII, desc), 254: (LONG, 1)})
        tags[324], tags[325] = (LONG, [at] * tiles), (LONG, [count] * tiles)
        ifds.append(tags)
    if label is not None:
        lw, lh = label
        desc = f"{APERIO}\nlabel {lw}x{lh}\x00".encode()
        if label_tiled:
            ifds.append(_grey_deflated(lw, lh, 256, at, count, {270: (ASCII, desc), 254: (LONG, 1)}))
        else:
            rows = 100
            row_at, row_count = _deflated_tile(w, bytes(lw) * rows)
            strips = -(-lh // rows)
            ifds.append(
                {
                    256: (LONG, lw),
                    257: (LONG, lh),
                    258: (SHORT, 8),
                    259: (SHORT, 8),
                    262: (SHORT, 1),
                    273: (LONG, [row_at] * strips),
                    277: (SHORT, 1),
                    278: (LONG, rows),
                    279: (LONG, [row_count] * strips),
                    270: (ASCII, desc),
                    254: (LONG, 1),
                }
            )
    return _chained(w, ifds)


def svs_description_garbage(size: int = 1 << 20) -> bytes:
    """An Aperio ImageDescription of `size` bytes whose MPP and AppMag are garbage (over 64
    KiB, the TIFF parser does not read it: the file is then not seen as Aperio's)."""
    head = f"{APERIO} \r\n1024x1024 [0,0 1024x1024] (256x256) |AppMag = 1e999|MPP = NaN|MPP = -0|AppMag = x".encode()
    return svs(description=(head + b"|Garbage = " + b"\xff|=" * size)[: size - 1])


def cog_masks(
    mask: tuple[int, int] | None = (512, 512), bits: int = 1, past_eof: bool = False, extra_masks: int = 0
) -> bytes:
    """A 512² grey tiled base with a 256² reduced level, each followed by an internal mask
    (NewSubfileType 4 / 5, PhotometricInterpretation 4) as GDAL writes them; the base's mask
    is `mask` (w, h) of `bits` bits, its tiles past the end when `past_eof`; then
    `extra_masks` masks of sizes no level has (64², 32² …)."""
    w = TiffWriter()
    at, count = _deflated_tile(w, bytes((x + y) % 256 for y in range(256) for x in range(256)))
    side = 256 * bits // 8  # bytes a row
    mask_at, mask_count = _deflated_tile(w, b"\xff" * (side * 256))

    def mask_tags(mw: int, mh: int, subfile: int) -> dict:
        tags = gray_tiled_tags(
            mw,
            mh,
            256,
            mask_at,
            mask_count,
            {254: (LONG, subfile), 258: (SHORT, bits), 259: (SHORT, 8), 262: (SHORT, 4)},
        )
        if past_eof:
            tiles = -(-mw // 256) * -(-mh // 256)
            tags[324] = (LONG, [10**7 + i for i in range(tiles)])
        return tags

    ifds = [_grey_deflated(512, 512, 256, at, count)]
    if mask is not None:
        ifds.append(mask_tags(*mask, 4))
    ifds.append(_grey_deflated(256, 256, 256, at, count, {254: (LONG, 1)}))
    ifds.append(mask_tags(256, 256, 5))
    for i in range(extra_masks):
        ifds.append(mask_tags(64 >> i, 64 >> i, 5))
    return _chained(w, ifds)


def tiff_typed(
    values: bytes, bits: int, sample_format: int, samples: int = 1, side: int = 256, extra: dict | None = None
) -> bytes:
    """A side² deflated tiled TIFF whose one tile holds `values` (bytes of the stored type,
    repeated to fill it), with GDAL tags or others in `extra`."""
    w = TiffWriter()
    size = side * side * samples * bits // 8
    at, count = _deflated_tile(w, (values * (size // len(values) + 1))[:size])
    tags = _grey_deflated(side, side, side, at, count, extra)
    tags.update({258: (SHORT, [bits] * samples), 277: (SHORT, samples), 339: (SHORT, [sample_format] * samples)})
    return w.first(w.ifd(tags))


def float32(values: list[float], extra: dict | None = None) -> bytes:
    return tiff_typed(struct.pack(f"<{len(values)}f", *values), 32, 3, extra=extra)


def gdal_text(text: bytes) -> tuple[int, bytes]:
    """An ASCII tag value (GDAL_NODATA, GDAL_METADATA)."""
    return ASCII, text + b"\x00"


def gdal_statistics(minimum: str, maximum: str) -> bytes:
    return (
        f'<GDALMetadata><Item name="STATISTICS_MINIMUM" sample="0">{minimum}</Item>'
        f'<Item name="STATISTICS_MAXIMUM" sample="0">{maximum}</Item></GDALMetadata>'
    ).encode()


def gdal_scale(scale: str, offset: str) -> bytes:
    return (
        f'<GDALMetadata><Item name="SCALE" sample="0" role="scale">{scale}</Item>'
        f'<Item name="OFFSET" sample="0" role="offset">{offset}</Item></GDALMetadata>'
    ).encode()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lollollollollollollollollollol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b']><GDALMetadata><Item name="STATISTICS_MINIMUM" sample="0">&lol9;</Item></GDALMetadata>'
)


def tiff_jpeg2000(tile: bytes) -> bytes:
    """A 512² RGB tiled TIFF of compression 33003 (Aperio's JPEG 2000) whose every tile is `tile`."""
    w = TiffWriter()
    at = w.blob(tile)
    tags = gray_tiled_tags(512, 512, 256, at, len(tile), {259: (SHORT, 33003), 262: (SHORT, 2)})
    tags.update({258: (SHORT, [8, 8, 8]), 277: (SHORT, 3)})
    return w.first(w.ifd(tags))


def j2k_header(width: int, height: int, components: int = 3) -> bytes:
    """The start of a JPEG 2000 codestream: SOC and a SIZ marker segment (the image one tile
    of width × height, 8-bit components), and nothing after it."""
    fields = (38 + 3 * components, 0, width, height, 0, 0, width, height, 0, 0, components)
    return b"\xff\x4f\xff\x51" + struct.pack(">HHIIIIIIIIH", *fields) + b"\x07\x01\x01" * components


# A 256² 3-component codestream cut after its SIZ, in the first bytes of its COD.
J2K_TRUNCATED = j2k_header(256, 256) + bytes.fromhex("ff52000c")


def added_formats() -> dict[str, bytes]:
    """The crafted SVS, COG-mask, non-8-bit and JPEG 2000 files, each a few KiB (the 1 MiB
    description and metadata aside)."""
    nan, inf = float("nan"), float("inf")
    u16 = struct.pack("<4H", 100, 2000, 30000, 65000)
    return {
        "svs-level-larger.tif": svs(level=(4096, 4096)),
        "svs-level-zero.tif": svs(level=(0, 0)),
        "svs-level-10000x.tif": svs(level=(2, 2), base=20000),
        "svs-label-huge.tif": svs(label=(100_000, 100_000)),
        "svs-label-tiled.tif": svs(label=(300, 200), label_tiled=True),
        "svs-description-1mib.tif": svs_description_garbage(),
        "svs-mpp-garbage.tif": svs_description_garbage(size=512),
        "mask-size-differs.tif": cog_masks(mask=(300, 200)),
        "mask-8-bits.tif": cog_masks(bits=8),
        "mask-offsets-past-eof.tif": cog_masks(past_eof=True),
        "mask-no-level.tif": cog_masks(extra_masks=3),
        "float32-nan.tif": float32([nan]),
        "float32-inf.tif": float32([inf, -inf]),
        "nodata-abc.tif": float32([1.0, 2.0], {42113: gdal_text(b"abc")}),
        "nodata-1e999.tif": float32([1.0, 2.0], {42113: gdal_text(b"1e999")}),
        "nodata-16kib.tif": tiff_typed(u16, 16, 1, extra={42113: gdal_text(b"-9999 " * 2731)}),
        "metadata-malformed.tif": tiff_typed(u16, 16, 1, extra={42112: gdal_text(b"<GDALMetadata><Item name=")}),
        "metadata-1mib.tif": tiff_typed(
            u16, 16, 1, extra={42112: gdal_text(gdal_statistics("0", "1000" + " " * (1 << 20)))}
        ),
        "metadata-laughs.tif": tiff_typed(u16, 16, 1, extra={42112: gdal_text(BILLION_LAUGHS)}),
        "statistics-min-over-max.tif": tiff_typed(u16, 16, 1, extra={42112: gdal_text(gdal_statistics("5000", "10"))}),
        "statistics-nan.tif": float32([1.0, 2.0], {42112: gdal_text(gdal_statistics("nan", "NaN"))}),
        "scale-1e308.tif": tiff_typed(u16, 16, 1, extra={42112: gdal_text(gdal_scale("1e308", "-1e308"))}),
        "scale-zero.tif": float32([1.0, 2.0], {42112: gdal_text(gdal_scale("0", "5"))}),
        "scale-1e-320.tif": tiff_typed(u16, 16, 1, extra={42112: gdal_text(gdal_scale("1e-320", "0"))}),
        "bits-12.tif": tiff_typed(b"\x12\x34\x56", 12, 1),
        "bits-24.tif": tiff_typed(b"\x12\x34\x56", 24, 1),
        "uint16-samples-64.tif": tiff_typed(u16, 16, 1, samples=64, side=128),
        "j2k-garbage.tif": tiff_jpeg2000(bytes(range(256)) * 16),
        "j2k-truncated.tif": tiff_jpeg2000(J2K_TRUNCATED),
        "j2k-oversized.tif": tiff_jpeg2000(j2k_header(60_000, 60_000)),  # in a TIFF of 256² tiles
    }


def corpus_files() -> dict[str, bytes]:
    """Compact versions of the crafted TIFFs (a few KiB each), seeds for the image fuzzer."""
    tiled = tiff_sized(1024, 1024)
    return {
        "budget-counts-max.tif": tiff_counts(tiled, 2**32 - 1),
        "budget-counts-zero.tif": tiff_counts(tiled, 0),
        "budget-short-arrays.tif": tiff_short_arrays(tiled),
        "budget-zero-width.tif": tiff_sized(0, 256),
        "budget-width-2-31.tif": tiff_sized(2**31, 1, tiles=1),
        "budget-tile-8192.tif": tiff_sized(65536, 65536, tile=8192),
        "budget-tile-16384.tif": tiff_sized(65536, 65536, tile=16384),
        "budget-one-level-4096.tif": tiff_sized(4096, 4096),
        "budget-striped-tall.tif": tiff_striped(1000, 100_000, rows_per_strip=100),
        "budget-striped-counts-max.tif": tiff_striped(256, 256, 16, count=2**32 - 1),
        **{f"budget-{name}": data for name, data in added_formats().items() if len(data) < 20 * 1024},
    }


if __name__ == "__main__":
    # python tests/hostile_files.py tests/fuzz/corpus/images
    import sys

    for name, data in corpus_files().items():
        (Path(sys.argv[1]) / name).write_bytes(data)
