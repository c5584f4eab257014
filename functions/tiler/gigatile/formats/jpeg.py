"""JPEG streams as TIFF and DICOM store them.

A tiled TIFF with JPEG compression usually keeps the quantisation and Huffman tables once
(JPEGTables, SOI … EOI) and each tile as a stream without them. Splicing the two gives a
complete JPEG of exactly the pixels libvips would decode. A DICOM frame (and the tile of a
TIFF without JPEGTables) is a complete stream already, tables included.
"""

from __future__ import annotations

import struct

DQT, DHT, SOS = 0xDB, 0xC4, 0xDA
SOF = {0xC0, 0xC1, 0xC2}  # baseline, extended, progressive Huffman frames
# Adobe APP14 with transform 0: "these three components are RGB, not YCbCr". libtiff writes
# RGB JPEG streams without it (libvips does so at Q ≥ 90), leaving decoders to guess.
ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
# IJG's luminance table at quality 50 (libjpeg, mozjpeg and libtiff all scale it).
STD_LUMINANCE_SUM = sum(
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29)
    + (51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121)
    + (120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
)


def is_tables(tables: bytes) -> bool:
    """Whether `tables` is a tables-only JPEG stream (SOI … EOI)."""
    return tables[:2] == b"\xff\xd8" and tables[-2:] == b"\xff\xd9"


def is_complete(stream: bytes) -> bool:
    """Whether `stream` is an interchange JPEG: SOI, then its quantisation and Huffman
    tables and a frame header before the scan, and EOI at the end (then at most one 0 byte:
    DICOM pads a frame to an even length)."""
    body = stream[:-1] if stream.endswith(b"\0") else stream
    if body[:2] != b"\xff\xd8" or body[-2:] != b"\xff\xd9":
        return False
    seen: set[int] = set()
    i = 2
    while i + 4 <= len(stream) and stream[i] == 0xFF:
        marker = stream[i + 1]
        if marker == SOS:
            return {DQT, DHT} <= seen and bool(seen & SOF)
        seen.add(marker)
        i += 2 + struct.unpack(">H", stream[i + 2 : i + 4])[0]
    return False


def splice(tables: bytes, tile: bytes, marker: bytes = b"") -> bytes | None:
    """One JPEG from the shared tables (SOI … EOI), a marker segment and a tile stream
    (SOI … EOI); None when the tile is not a JPEG stream."""
    if tile[:2] != b"\xff\xd8":
        return None
    return tables[:-2] + marker + tile[2:]


def quality(tables: bytes) -> int | None:
    """The IJG quality that produced the first (luminance) quantisation table, if any."""
    i = 2
    while i + 4 <= len(tables) and tables[i] == 0xFF:
        marker, length = tables[i + 1], struct.unpack(">H", tables[i + 2 : i + 4])[0]
        if marker == 0xDB and length >= 67:
            precision = tables[i + 4] >> 4
            end = i + 5 + (128 if precision else 64)
            if end > len(tables):  # a table cut short: no estimate
                return None
            values = struct.unpack(">64H", tables[i + 5 : end]) if precision else tuple(tables[i + 5 : end])
            scale = sum(values) * 100 / STD_LUMINANCE_SUM
            estimate = (200 - scale) / 2 if scale <= 100 else 5000 / scale
            return max(1, min(100, round(estimate)))
        i += 2 + length
    return None


def sampling(stream: bytes) -> tuple[int, int] | None:
    """The first component's (luma's) horizontal and vertical sampling factors in the frame
    header of a JPEG stream (what a TIFF's YCbCrSubsampling must say); None without one."""
    i = 2
    while i + 4 <= len(stream) and stream[i] == 0xFF:
        marker, length = stream[i + 1], struct.unpack(">H", stream[i + 2 : i + 4])[0]
        if marker in SOF:
            if length < 11 or i + 12 > len(stream):
                return None
            factors = stream[i + 11]  # length, precision, height, width, count, then (id, H << 4 | V, table)
            return factors >> 4, factors & 0xF
        if marker == SOS:
            return None
        i += 2 + length
    return None
