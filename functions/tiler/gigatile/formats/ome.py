"""What an OME-TIFF's OME-XML (the first page's ImageDescription) says about its first image:
how many channels, Z planes and time points it has, in which order its pages hold them,
and the channels' names.

Bio-Formats 6+ and tifffile write one page per plane (a 3-channel image is 3 pages, each
16-bit grey, with its reduced levels in SubIFDs), so the channels of one plane are pages
that formats.levels composes into one image.

Parsed with xml.etree, refusing a DTD (OME-XML has none; one only declares entities), and
only up to MAX_XML characters; anything malformed means "not OME", as a reader that cannot
use the metadata shows the pages as they are.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

MAX_XML = 1024 * 1024  # OME-XML of a plate with thousands of planes runs to a few hundred KiB
MAX_CHANNELS = 4096


@dataclass(frozen=True)
class Ome:
    size_c: int
    size_z: int
    size_t: int
    dimension_order: str  # XYCZT, XYZCT, …
    channels: tuple[str, ...]  # one name per channel ("" where the file names none)

    @property
    def channels_adjacent(self) -> bool:
        """Whether the channels of the first plane are consecutive pages (page c is channel c)."""
        return self.dimension_order.startswith("XYC") or self.size_z * self.size_t == 1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _positive(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and 0 < int(text) <= 1_000_000 else None


def parse(description: str) -> Ome | None:
    """The first image's dimensions and channel names, or None when `description` is not
    usable OME-XML."""
    text = description.lstrip()
    if not text.startswith("<") or "<OME" not in text[:4096] or len(text) > MAX_XML or "<!DOCTYPE" in text:
        return None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None
    if _local(root.tag) != "OME":
        return None
    pixels = next((e for e in root.iter() if _local(e.tag) == "Pixels"), None)
    if pixels is None:
        return None
    sizes = [_positive(pixels.get(name)) for name in ("SizeC", "SizeZ", "SizeT")]
    order = pixels.get("DimensionOrder", "")
    if None in sizes or len(order) != 5 or sorted(order) != sorted("XYCZT") or order[:2] != "XY":
        return None
    size_c, size_z, size_t = (s or 1 for s in sizes)
    if size_c > MAX_CHANNELS:
        return None
    found = [e for e in pixels if _local(e.tag) == "Channel"]
    names = [(e.get("Name") or "")[:200] for e in found]
    # A Channel element of SamplesPerPixel 3 (an RGB page) stands for three of SizeC.
    if len(names) != size_c:
        names = [""] * size_c
    return Ome(size_c, size_z, size_t, order, tuple(names))
