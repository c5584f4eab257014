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
