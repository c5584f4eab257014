"""Which stored images are the levels of one page, which are masks or associated images,
and how many pages an object has.

Levels are what a file offers cheaply: the pages or SubIFDs of a pyramidal TIFF, an
Aperio slide's own levels (4×, 16×, 32× …, not halvings), JPEG's shrink-on-load (1, 2, 4,
8), WebP's scale-on-load. Each is named by the libvips load options that read it and
carries its downsample: the full-resolution size over its own. Pages are separate
images: the frames of a GIF or animated WebP, the pages of a TIFF whose pages are not the
levels of one pyramid (a scanned document, a stack of unrelated images). An OME-TIFF's
one grey page per plane is not: its pages are its Z planes and time points (page
t × SizeZ + z), each one image whose bands are the pages of that plane's channels
(wherever the OME-XML puts them), described as `n` pages `stride` apart and opened one
page at a time (imaging.source_image).

Neither are the other images a TIFF may hold: GDAL's internal transparency masks (one per
level, each belonging to the level of its size) and a slide's associated images (label,
macro, thumbnail), reachable by name.

This is where the rules of other writers' layouts belong: TIFFs are decided from their
parsed structure, the rest from the libvips header.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .ome import MAX_XML as OME_MAX_XML
from .ome import Ome
from .ome import parse as parse_ome
from .tiff import PHOTOMETRIC, PHOTOMETRIC_MINISBLACK, Ifd, TiffError, TiffFile
from .vendors import MAX_XML as VENDOR_MAX_XML
from .vendors import flavor, leica_layout, philips_downsamples

# libvips load options as (name, value) pairs, e.g. (("subifd", 0),) or (("shrink", 4),).
LoadOptions = tuple[tuple[str, float], ...]
# (offset, bytes) written over the file as a reader shows it to libvips.
Patches = tuple[tuple[int, bytes], ...]

# Aperio writes "Aperio Image Library v10.0.51\r\nlabel 387x463" (OpenSlide's format notes).
ASSOCIATED_WORD = re.compile(r"^\s*(label|macro|thumbnail)\b", re.IGNORECASE)


# An OME-TIFF's channels read as the bands of one image (libvips opens each channel's
# page on its own): beyond these, channels are listed but cannot be shown.
COMPOSED_CHANNELS = 32


@dataclass(frozen=True)
class Mask:
    """A level's internal 1-bit transparency mask (GDAL), as libvips can read it: libvips has
    no reader for PhotometricInterpretation 4, so `patches` make the mask's IFD read as
    MinIsBlack (1 → white: opaque)."""

    options: LoadOptions
    patches: Patches


@dataclass(frozen=True)
class Level:
    downsample: float  # full-resolution size over this level's: 2 ** i when halving, 4, 16 … on slides
    options: LoadOptions
    mask: Mask | None = None
    padded: bool = False  # stored with its sides padded to whole tiles (Philips): larger than nominal

    def stored_as(self, width: int, height: int, base_width: int, base_height: int) -> bool:
        """Whether a stored width × height is the base size reduced by `downsample` (sides
        within 1 px; for a padded level, at least that and less than a tile more)."""
        w, h = base_width / self.downsample, base_height / self.downsample
        if self.padded:
            return width >= w - 1 and height >= h - 1
        return abs(width - w) <= 1 and abs(height - h) <= 1


@dataclass(frozen=True)
class Associated:
    """An image kept beside the main one (a slide's label, macro, thumbnail), by name."""

    name: str
    options: LoadOptions


@dataclass(frozen=True)
class Structure:
    """How many pages an object has, the levels of one of them, and its associated images."""

    pages: int
    levels: tuple[Level, ...]
    associated: tuple[Associated, ...] = ()
    channels: tuple[str, ...] = ()  # an OME-TIFF's channels (names, "" if unnamed), read as bands
    # The levels after `levels` when finding them costs reads (SubIFD directories lie
    # anywhere in the file): taken one at a time, as views need them.
    more_levels: SubIfdLevels | None = None
    planes: Planes | None = None  # an OME-TIFF's Z and T (None: any other image)


@dataclass(frozen=True)
class TiffLayout:
    """The IFDs of a TIFF's main chain (by index) sorted by role."""

    images: tuple[int, ...]  # the pages, or the levels of one pyramid when `pyramid`
    downsamples: tuple[float, ...]  # of each image against the first, when `pyramid`
    masks: dict[int, int]  # image IFD → the IFD of its mask
    associated: tuple[tuple[str, int], ...]  # (name, IFD)
    padded: bool = False  # levels stored padded to whole tiles (Philips)

    @property
    def pyramid(self) -> bool:
        return len(self.downsamples) > 1


def _page_option(page: int) -> LoadOptions:
    return (("page", page),) if page else ()


def downsample(base: Ifd, ifd: Ifd) -> float | None:
    """The factor d with |w − W/d| ≤ 1 and |h − H/d| ≤ 1, if any: `ifd` is then `base`
    reduced by d, sides rounded either way. The integer when one fits (30000 → 937 is 32,
    46000 × 32914 → 11500 × 8228 is 4), else a ratio of the sizes."""
    w, h = ifd.width, ifd.height
    if w < 1 or h < 1:
        return None
    low = max(base.width / (w + 1), base.height / (h + 1))
    high = min(base.width / (w - 1) if w > 1 else math.inf, base.height / (h - 1) if h > 1 else math.inf)
    for d in (round(base.width / w), base.width / w, base.height / h):
        if d >= 1 and low <= d <= high:
            return float(d)
    return None


def is_aperio(tiff: TiffFile) -> bool:
    return tiff.description(tiff.pages[0]).startswith("Aperio")


def _associated_name(tiff: TiffFile, index: int, aperio: bool) -> str | None:
    """The name of IFD `index` if it is an associated image rather than a page or level: an
    untiled image beside a tiled one, that the file marks as such (an Aperio slide; a
    reduced-image NewSubfileType) or whose ImageDescription names it."""
    ifd, base = tiff.pages[index], tiff.pages[0]
    if ifd.tiled or not base.tiled:
        return None
    lines = tiff.description(ifd).splitlines()
    words = [m.group(1).lower() for line in lines[:3] if (m := ASSOCIATED_WORD.match(line))]
    if words:
        return words[0]
    if aperio and index == 1:  # IFD 1 of an Aperio slide is always its thumbnail
        return "thumbnail"
    if aperio or ifd.reduced:
        return "thumbnail" if downsample(base, ifd) is not None else f"image{index}"
    return None


def tiff_layout(tiff: TiffFile) -> TiffLayout:
    """The roles of the IFDs: by the scanner's own metadata where its layout needs it
    (Leica SCN, Philips TIFF), else by the rules of the module docstring."""
    name = flavor(tiff)
    if name == "leica":
        found = _leica_layout(tiff)
        if found is not None:
            return found
    layout = _generic_layout(tiff)
    if name == "philips":
        return _philips_layout(tiff, layout)
    return layout


def _leica_layout(tiff: TiffFile) -> TiffLayout | None:
    """A Leica SCN's main image as one pyramid (its levels are IFDs the XML names, after
    the macro), its macro as an associated image; other IFDs are neither."""
    scn = leica_layout(tiff.description(tiff.pages[0], VENDOR_MAX_XML))
    if scn is None or not all(0 <= i < len(tiff.pages) for i in scn.levels):
        return None
    base = tiff.pages[scn.levels[0]]
    found = [1.0]
    for index in scn.levels[1:]:
        d = downsample(base, tiff.pages[index])
        if d is None or d <= found[-1] or not tiff.pages[index].tiled:
            return None
        found.append(d)
    macro = (("macro", scn.macro),) if scn.macro is not None and 0 <= scn.macro < len(tiff.pages) else ()
    return TiffLayout(scn.levels, tuple(found), {}, macro)


def _philips_layout(tiff: TiffFile, layout: TiffLayout) -> TiffLayout:
    """A Philips TIFF's tiled levels at the downsamples its XML gives: each level's stored
    size is padded to whole tiles, so its size does not say its downsample."""
    found = philips_downsamples(tiff.description(tiff.pages[0], VENDOR_MAX_XML))
    tiled = tuple(i for i in layout.images if tiff.pages[i].tiled)
    if found is None or len(found) != len(tiled) or tiled != layout.images[: len(tiled)]:
        return layout
    if any(b <= a for a, b in zip(found, found[1:], strict=False)) or found[0] != 1:
        return layout
    return TiffLayout(tiled, found, {}, layout.associated, padded=True)


def _generic_layout(tiff: TiffFile) -> TiffLayout:
    ifds = tiff.pages
    aperio = is_aperio(tiff)
    images: list[int] = [0]
    mask_ifds: list[int] = []
    named: dict[str, int] = {}
    for index in range(1, len(ifds)):
        if ifds[index].mask:
            mask_ifds.append(index)
        elif (name := _associated_name(tiff, index, aperio)) is not None:
            named[name if name not in named else f"{name}{index}"] = index
        else:
            images.append(index)
    masks: dict[int, int] = {}
    for index in mask_ifds:  # each to the image of its size, the nearest before it first
        size = (ifds[index].width, ifds[index].height)
        owners = [i for i in images if (ifds[i].width, ifds[i].height) == size and i not in masks]
        before = [i for i in owners if i < index]
        if owners:
            masks[before[-1] if before else owners[0]] = index
    return TiffLayout(tuple(images), _pyramid(tiff, images, aperio), masks, tuple(named.items()))


def _pyramid(tiff: TiffFile, images: list[int], aperio: bool) -> tuple[float, ...]:
    """The downsamples of `images` when they are the levels of one image, else (1.0,): each
    smaller than the one before with the first's aspect, stored alike, and marked as a
    reduced level (NewSubfileType, an Aperio slide) or each half the one before."""
    base = tiff.pages[images[0]]
    found = [1.0]
    for k, index in enumerate(images[1:], 1):
        ifd = tiff.pages[index]
        d = downsample(base, ifd)
        if d is None or d <= found[-1] or ifd.tiled != base.tiled:
            return (1.0,)
        if not (aperio or ifd.reduced or d == 2**k):
            return (1.0,)
        found.append(d)
    return tuple(found)


def is_tiled_pyramid(tiff: TiffFile) -> bool:
    """Tiled, with stored reduced levels (pages or SubIFDs): every zoom is read by ranges."""
    return tiff.pages[0].tiled and (tiff_layout(tiff).pyramid or bool(tiff.subifd_offsets(0)))


def _mask(tiff: TiffFile, layout: TiffLayout, index: int) -> Mask | None:
    if index not in layout.masks:
        return None
    ifd = tiff.pages[layout.masks[index]]
    return Mask(_page_option(layout.masks[index]), (tiff.value_patch(ifd, PHOTOMETRIC, PHOTOMETRIC_MINISBLACK),))


@dataclass(frozen=True)
class SubIfdLevels:
    """A page's SubIFDs as levels, finest first, with the downsamples their sizes say (any
    factor), as far as each is a reduction of the page smaller than the one before (a
    SubIFD that cannot be parsed ends them: libvips could not read it either). Each
    directory is read, by its own small range, only when a view needs to know that level."""

    tiff: TiffFile
    page: int  # the IFD whose SubIFDs these are
    option: LoadOptions
    count: int  # SubIFDs stored

    def level(self, i: int, finer: float) -> Level | None:
        """SubIFD `i` as a level, or None when there is none or it is no coarser than `finer`."""
        if i >= self.count:
            return None
        try:
            ifd = self.tiff.ifd(self.tiff.subifd_offsets(self.page)[i], exact=True)
        except TiffError:
            return None
        d = downsample(self.tiff.pages[self.page], ifd)
        return Level(d, (*self.option, ("subifd", i))) if d is not None and d > finer else None


@dataclass(frozen=True)
class Planes:
    """An OME-TIFF's Z and T sizes, and the plane (z, t) a Structure's levels show."""

    size_z: int
    size_t: int
    z: int = 0
    t: int = 0


def _ome_plane(tiff: TiffFile, images: tuple[int, ...], z: int, t: int) -> tuple[Ome, tuple[int, ...]] | None:
    """The OME-XML and the pages of the channels of plane (z, t), when they can be read as
    one image: grey pages of one size and tiling, in ascending order at a constant stride
    (the DimensionOrder's: the level's options say `page`, `n`, `stride`; each page is
    opened on its own and joined as bands, imaging.source_image). None when the file is not such an OME-TIFF, or
    (z, t) is outside it."""
    ome = parse_ome(tiff.description(tiff.pages[0], OME_MAX_XML))
    if ome is None or not (0 <= z < ome.size_z and 0 <= t < ome.size_t):
        return None
    pages = ome.channel_ifds(z, t)
    if pages is None or not set(pages) <= set(images):
        return None
    pages = pages[:COMPOSED_CHANNELS]
    strides = {b - a for a, b in zip(pages, pages[1:], strict=False)}
    if len(strides) > 1 or min(strides, default=1) < 1:
        return None
    first = tiff.pages[pages[0]]
    for ifd in (tiff.pages[i] for i in pages):
        same = (ifd.width, ifd.height, ifd.tiled) == (first.width, first.height, first.tiled)
        if not same or ifd.samples != 1:
            return None
    return ome, pages


def _plain_page(
    tiff: TiffFile, layout: TiffLayout, index: int, pages: int, associated: tuple[Associated, ...]
) -> Structure:
    """IFD `index` as one of `pages` pages: its own image, its SubIFDs its levels."""
    base = Level(1, _page_option(index), _mask(tiff, layout, index))
    count = len(tiff.subifd_offsets(index))
    more = SubIfdLevels(tiff, index, base.options, count) if count else None
    return Structure(pages, (base,), associated, (), more)


def _ome_series(xml: Ome, images: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    """The pages of an OME-TIFF's images after the first, in file order, and those of them
    that are a slide's label, macro or thumbnail by their Name (bfconvert names a slide's
    "label image", "macro image"), as (name, IFD). Every other page outside the first
    image's planes is a page after its planes: a further series is reachable whatever it
    holds (each of its planes a page, as any TIFF's)."""
    if xml.size_c * xml.size_z * xml.size_t > len(images):  # the first image fills the file
        return (), ()
    named: dict[str, int] = {}
    for name, ifds in xml.others:
        word = ASSOCIATED_WORD.match(name)
        if word and len(ifds) == 1 and ifds[0] in images:
            key = word.group(1).lower()
            named[key if key not in named else f"{key}{ifds[0]}"] = ifds[0]
    taken = set(xml.ifds()) | set(named.values())
    return tuple(i for i in images if i not in taken), tuple(named.items())


def tiff_structure(tiff: TiffFile, page: int) -> Structure:
    layout = tiff_layout(tiff)
    associated = tuple(Associated(name, _page_option(index)) for name, index in layout.associated)

    def level(d: float, index: int) -> Level:
        return Level(d, _page_option(index), _mask(tiff, layout, index), layout.padded)

    if layout.pyramid:
        return Structure(1, tuple(map(level, layout.downsamples, layout.images)), associated)
    # An OME-TIFF whose first plane composes: its pages are its planes, page t × SizeZ + z,
    # then the pages of its other images (series).
    ome = _ome_plane(tiff, layout.images, 0, 0)
    if ome is None:
        pages = len(layout.images)
        if not 0 <= page < pages:
            return Structure(pages, (), associated)
        return _plain_page(tiff, layout, layout.images[page], pages, associated)
    xml = ome[0]
    extra, named = _ome_series(xml, layout.images)
    associated += tuple(Associated(name, _page_option(index)) for name, index in named)
    planes_count = xml.size_z * xml.size_t
    pages = planes_count + len(extra)
    if planes_count <= page < pages:
        return _plain_page(tiff, layout, extra[page - planes_count], pages, associated)
    planes = Planes(xml.size_z, xml.size_t, page % xml.size_z, page // xml.size_z)
    channels = xml.channels if xml.size_c > 1 else ()
    found = _ome_plane(tiff, layout.images, planes.z, planes.t) if 0 <= page < pages else None
    if found is None:  # no such page, or one whose channels cannot be read as one image
        return Structure(pages, (), associated, channels, None, planes)
    _, channel_pages = found
    index = channel_pages[0]
    option: LoadOptions = _page_option(index)
    if len(channel_pages) > 1:
        stride = channel_pages[1] - channel_pages[0]
        option = (("page", index), ("n", len(channel_pages)), ("stride", stride))
    count = len(tiff.subifd_offsets(index))
    more = SubIfdLevels(tiff, index, option, count) if count else None
    return Structure(pages, (Level(1, option),), associated, channels, more, planes)


def structure(loader: str, first: Any, tiff: TiffFile | None, page: int) -> Structure:
    """The structure of page `page`; `first` is the object's first page as libvips opened it,
    `loader` its loader family ("tiff", "jpeg", "webp", …), `tiff` its parsed TIFF structure."""
    if tiff is not None:
        return tiff_structure(tiff, page)
    option = _page_option(page)
    pages = first.get("n-pages") if "n-pages" in first.get_fields() else 1
    longest = max(first.width, first.height)
    levels: tuple[Level, ...]
    if loader == "jpeg":
        levels = tuple(Level(s, (("shrink", s),) if s > 1 else ()) for s in (1, 2, 4, 8) if s <= longest)
    elif loader == "webp":
        steps = range(int(math.log2(longest)) + 1)
        levels = tuple(Level(2**i, (*option, ("scale", 1 / 2**i)) if i else option) for i in steps)
    else:
        levels = (Level(1, option),)
    return Structure(pages, levels)
