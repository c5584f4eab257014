"""Which stored images are the levels of one page, and how many pages an object has.

Levels are what a file offers cheaply: the pages or SubIFDs of a pyramidal TIFF, JPEG's
shrink-on-load (1, 2, 4, 8), WebP's scale-on-load. Each is named by the libvips load
options that read it. Pages are separate images: the frames of a GIF or animated WebP,
the pages of a TIFF whose pages are not the levels of one pyramid (a scanned document,
a stack of unrelated images).

This is where the rules of other writers' layouts belong (SVS, OME SubIFDs, COG
overviews and masks): TIFFs are decided from their parsed structure, the rest from the
libvips header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .tiff import TiffFile

# libvips load options as (name, value) pairs, e.g. (("subifd", 0),) or (("shrink", 4),).
LoadOptions = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Level:
    downsample: int  # nominal: 2 ** index
    options: LoadOptions


@dataclass(frozen=True)
class Structure:
    """How many pages an object has, and the levels of one of them."""

    pages: int
    levels: tuple[Level, ...]


def _page_option(page: int) -> LoadOptions:
    return (("page", page),) if page else ()


def is_tiled_pyramid(tiff: TiffFile) -> bool:
    """Tiled, with stored reduced levels (pages or SubIFDs): every zoom is read by ranges."""
    return tiff.pages[0].tiled and (len(tiff.pages) > 1 or bool(tiff.subifd_offsets(0)))


def is_page_pyramid(tiff: TiffFile) -> bool:
    """Whether a TIFF's pages are the levels of one pyramid (each half the one before) rather
    than separate images: page 1 and the last page are each the first halved that many times."""
    pages = tiff.pages
    if len(pages) < 2:
        return False
    first = pages[0]
    for index in (1, len(pages) - 1):
        expected_w, expected_h = first.width / 2**index, first.height / 2**index
        if abs(pages[index].width - expected_w) > 1 or abs(pages[index].height - expected_h) > 1:
            return False
    return True


def structure(loader: str, first: Any, tiff: TiffFile | None, page: int) -> Structure:
    """The structure of page `page`; `first` is the object's first page as libvips opened it,
    `loader` its loader family ("tiff", "jpeg", "webp", …), `tiff` its parsed TIFF structure."""
    option = _page_option(page)
    if tiff is not None:
        if is_page_pyramid(tiff):
            return Structure(1, tuple(Level(2**i, _page_option(i)) for i in range(len(tiff.pages))))
        pages = len(tiff.pages)
        reduced = tiff.subifd_offsets(page) if 0 <= page < pages else ()
        return Structure(
            pages, (Level(1, option), *(Level(2 ** (i + 1), (*option, ("subifd", i))) for i in range(len(reduced))))
        )
    pages = first.get("n-pages") if "n-pages" in first.get_fields() else 1
    longest = max(first.width, first.height)
    if loader == "jpeg":
        levels = tuple(Level(s, (("shrink", s),) if s > 1 else ()) for s in (1, 2, 4, 8) if s <= longest)
    elif loader == "webp":
        steps = range(int(math.log2(longest)) + 1)
        levels = tuple(Level(2**i, (*option, ("scale", 1 / 2**i)) if i else option) for i in steps)
    else:
        levels = (Level(1, option),)
    return Structure(pages, levels)
