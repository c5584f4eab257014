"""What an OME-TIFF's OME-XML (the first page's ImageDescription) says about its first image:
how many channels, Z planes and time points it has, which page holds each plane (the
TiffData elements, else the DimensionOrder from page 0), and the channels' names; and of
each further image (series: bfconvert writes a slide's label and macro after the main
image), its Name and the pages its TiffData map it to.

Bio-Formats 6+ and tifffile write one page per plane (a 3-channel image is 3 pages, each
16-bit grey, with its reduced levels in SubIFDs), so the channels of one (z, t) are pages
that formats.levels composes into one image.

Parsed with xml.etree, refusing a DTD (OME-XML has none; one only declares entities), and
only up to MAX_XML characters; anything malformed means "not OME", as a reader that cannot
use the metadata shows the pages as they are.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace

MAX_XML = 1024 * 1024  # OME-XML of a plate with thousands of planes runs to a few hundred KiB
MAX_CHANNELS = 4096
MAX_PLANES = 1_000_000  # planes mapped to pages (Z × C × T); a larger image is not composed


@dataclass(frozen=True)
class Ome:
    size_c: int
    size_z: int
    size_t: int
    dimension_order: str  # XYCZT, XYZCT, …
    channels: tuple[str, ...]  # one name per channel ("" where the file names none)
    # TiffData (IFD, first plane index, plane count) runs; () means the DimensionOrder from IFD 0.
    tiff_data: tuple[tuple[int, int, int], ...] = ()
    # The images after the first, as (Name, the pages their TiffData map planes to).
    others: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def plane_index(self, z: int, c: int, t: int) -> int:
        """The position of (z, c, t) in the DimensionOrder (XYZCT: z + SizeZ × (c + SizeC × t))."""
        coords, sizes = {"Z": z, "C": c, "T": t}, {"Z": self.size_z, "C": self.size_c, "T": self.size_t}
        index, stride = 0, 1
        for name in self.dimension_order[2:]:
            index += coords[name] * stride
            stride *= sizes[name]
        return index

    def ifd(self, z: int, c: int, t: int) -> int | None:
        """The page (main IFD chain index) holding plane (z, c, t), or None when the file maps
        it to no page (or to another file: multi-file OME-TIFFs are not followed)."""
        index = self.plane_index(z, c, t)
        if not self.tiff_data:
            return index
        for first_ifd, first_plane, count in self.tiff_data:
            if first_plane <= index < first_plane + count:
                return first_ifd + index - first_plane
        return None

    def channel_ifds(self, z: int, t: int) -> tuple[int, ...] | None:
        """The pages of the channels of (z, t), in channel order, or None where one is unmapped."""
        found = tuple(self.ifd(z, c, t) for c in range(self.size_c))
        return None if None in found else found  # type: ignore[return-value]

    def ifds(self) -> tuple[int, ...]:
        """Every page holding a plane of this image, ascending (an RGB plane's Channel of
        SamplesPerPixel 3 stands for three of SizeC in one page: the others map to none)."""
        found = (self.ifd(z, c, t) for z in range(self.size_z) for c in range(self.size_c) for t in range(self.size_t))
        return tuple(sorted({ifd for ifd in found if ifd is not None}))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _positive(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and 0 < int(text) <= 1_000_000 else None


def parse(description: str) -> Ome | None:
    """The first image's dimensions and channel names, and the other images' pages, or None
    when `description` is not usable OME-XML."""
    text = description.lstrip()
    if not text.startswith("<") or "<OME" not in text[:4096] or len(text) > MAX_XML or "<!DOCTYPE" in text:
        return None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None
    if _local(root.tag) != "OME":
        return None
    images = [e for e in root if _local(e.tag) == "Image"]
    found = [(image, _pixels(image)) for image in images]
    if not found:  # Pixels not inside an Image: taken as the one image
        pixels = next((e for e in root.iter() if _local(e.tag) == "Pixels"), None)
        found = [(root, pixels)]
    first = _image(found[0][1])
    if first is None:
        return None
    others = []
    planes = first.size_c * first.size_z * first.size_t
    for image, pixels in found[1:]:
        other = _image(pixels)
        if other is None or not other.tiff_data:  # pages unknown: left where they are (plain pages)
            continue
        planes += other.size_c * other.size_z * other.size_t
        if planes > MAX_PLANES:
            break
        others.append(((image.get("Name") or "")[:200], other.ifds()))
    return replace(first, others=tuple(others))


def _pixels(image: ElementTree.Element) -> ElementTree.Element | None:
    return next((e for e in image if _local(e.tag) == "Pixels"), None)


def _image(pixels: ElementTree.Element | None) -> Ome | None:
    """One image's sizes, channel names and TiffData, or None where they are unusable."""
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
    if size_c * size_z * size_t > MAX_PLANES:
        return None
    ome = Ome(size_c, size_z, size_t, order, tuple(names))
    runs = _tiff_data(ome, [e for e in pixels if _local(e.tag) == "TiffData"])
    return None if runs is None else Ome(size_c, size_z, size_t, order, tuple(names), runs)


def _count(element: ElementTree.Element, name: str, default: int) -> int | None:
    text = element.get(name)
    if text is None:
        return default
    return int(text) if text.isdigit() and int(text) <= MAX_PLANES else None


def _tiff_data(ome: Ome, found: list[ElementTree.Element]) -> tuple[tuple[int, int, int], ...] | None:
    """The TiffData elements as (first IFD, first plane index, plane count) runs; None when one
    is malformed or names another file (a UUID with a FileName: multi-file sets). Per the OME
    schema, IFD defaults to 0 and PlaneCount to 1 where an IFD is given, else to every plane."""
    total = ome.size_z * ome.size_c * ome.size_t
    runs = []
    for element in found:
        if any(_local(child.tag) == "UUID" and child.get("FileName") for child in element):
            return None
        first = [_count(element, name, 0) for name in ("IFD", "FirstZ", "FirstC", "FirstT")]
        count = _count(element, "PlaneCount", 1 if element.get("IFD") is not None else total)
        if None in first or count is None:
            return None
        ifd, z, c, t = (v or 0 for v in first)
        if z >= ome.size_z or c >= ome.size_c or t >= ome.size_t:
            return None
        runs.append((ifd, ome.plane_index(z, c, t), count))
    return tuple(runs)
