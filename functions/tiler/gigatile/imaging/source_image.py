"""One page of one version of one source image: its size, its levels, and the level to
read for a scale.

Levels are what the file offers cheaply: the pages or SubIFDs of a pyramidal TIFF, JPEG's
shrink-on-load (1, 2, 4, 8), WebP's scale-on-load. Level sizes are checked by opening the
level itself (its header only) when it is first needed, so an open costs one level.

Pages are separate images: the frames of a GIF or animated WebP, the pages of a TIFF whose
pages are not the levels of one pyramid (a scanned document, a stack of unrelated images).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ..errors import PageNotFound, TooLarge
from ..sources.reader import ObjectReader
from .opened import Opened, OpenImages
from .stored_tiles import NotPassable, TiffLayout


@dataclass(frozen=True)
class Level:
    downsample: int  # nominal: 2 ** index
    options: tuple  # load options, e.g. (("subifd", 0),) or (("shrink", 4),)


def _n_pages(image) -> int:
    return image.get("n-pages") if "n-pages" in image.get_fields() else 1


def _is_page_pyramid(first, opener) -> bool:
    """Whether a TIFF's pages are the levels of one pyramid (each half the one before) rather
    than separate images. Page 1 and the last page are checked: two header reads."""
    n = _n_pages(first)
    if not first.get("vips-loader").startswith("tiffload") or n < 2:
        return False
    for page in (1, n - 1):
        image = opener((("page", page),)).image
        expected_w, expected_h = first.width / 2**page, first.height / 2**page
        if abs(image.width - expected_w) > 1 or abs(image.height - expected_h) > 1:
            return False
    return True


def _levels(base, page_option: tuple, page_pyramid: bool) -> list[Level]:
    """The levels of one page: `base` is that page opened with `page_option`."""
    loader = base.get("vips-loader")
    longest = max(base.width, base.height)
    if loader.startswith("tiffload"):
        if page_pyramid:
            return [Level(2**i, (("page", i),) if i else ()) for i in range(_n_pages(base))]
        n_sub = base.get("n-subifds") if "n-subifds" in base.get_fields() else 0
        return [Level(1, page_option)] + [Level(2 ** (i + 1), (*page_option, ("subifd", i))) for i in range(n_sub)]
    if loader.startswith("jpegload"):
        return [Level(s, (("shrink", s),) if s > 1 else ()) for s in (1, 2, 4, 8) if s <= longest]
    if loader.startswith("webpload"):
        steps = range(int(math.log2(longest)) + 1)
        return [Level(2**i, (*page_option, ("scale", 1 / 2**i)) if i else page_option) for i in steps]
    return [Level(1, page_option)]


class SourceImage:
    def __init__(
        self, reader: ObjectReader, images: OpenImages, max_image_pixels: int, max_decode_pixels: int, page: int = 0
    ):
        self.reader = reader
        self.images = images
        self.version = reader.version()
        self.max_decode_pixels = max_decode_pixels
        first = self.open(()).image
        page_pyramid = _is_page_pyramid(first, self.open)
        self.pages = 1 if page_pyramid else _n_pages(first)
        if not 0 <= page < self.pages:
            raise PageNotFound(f"page {page} is outside 0…{self.pages - 1}")
        self.page = page
        page_option = (("page", page),) if page else ()
        base = self.open(page_option)
        self.width, self.height = base.image.width, base.image.height
        # Checked from the header, before any pixel is decoded: refuses decompression bombs.
        if self.width * self.height > max_image_pixels:
            raise TooLarge(f"image is {self.width}×{self.height}, over the {max_image_pixels} pixel limit")
        self.loader = base.image.get("vips-loader").removesuffix("_source").removesuffix("load")
        self.levels = _levels(base.image, page_option, page_pyramid)
        # EXIF orientation (1–8): thumbnails are turned upright; tiles stay in stored order.
        self.orientation = base.image.get("orientation") if "orientation" in base.image.get_fields() else 1
        # Set on a derived pyramid standing in for this source: what clients see (size,
        # version, format) stays the original's.
        self.derived_from: SourceImage | None = None
        # When a source that should have a derived pyramid was found without one (monotonic).
        self.awaiting_pyramid: float | None = None

    @property
    def format(self) -> str:
        return self.loader

    def open(self, options: tuple) -> Opened:
        return self.images.open(self.reader, self.version.etag, dict(options))

    def level_for(self, scale: float) -> tuple[Opened, float]:
        """The cheapest level whose pixels are at least as fine as 1/`scale` of the source,
        and that level's exact downsample factor.

        Pyramid levels halve the content exactly (libvips drops an odd last pixel:
        30000 → 15000 → … → 937), so the factor is the nominal power of two whenever the
        level's size matches it; other writers' levels use their measured ratio.
        """
        level = self.level_at(scale)
        if not self._decode_fits(level):
            raise TooLarge(
                f"a 1/{scale:g} view of this {self.width}×{self.height} {self.format} image "
                f"needs a full decode over the {self.max_decode_pixels} pixel budget; "
                "convert it to a tiled pyramidal TIFF"
            )
        opened = self.open(level.options)
        d = level.downsample
        nominal = abs(opened.image.width - self.width / d) <= 1 and abs(opened.image.height - self.height / d) <= 1
        return opened, d if nominal else self.width / opened.image.width

    def level_at(self, scale: float) -> Level:
        """The coarsest level whose nominal downsample is at most `scale`."""
        return [lv for lv in self.levels if lv.downsample <= max(scale, 1)][-1]

    @functools.cached_property
    def tiff_layout(self) -> TiffLayout | None:
        """Where a TIFF stores its tiles (for pass-through), or None for other files."""
        if self.format != "tiff":
            return None
        try:
            return TiffLayout(self.reader)
        except NotPassable:
            return None

    def _decode_fits(self, level: Level) -> bool:
        if self.format == "tiff":  # read tile by tile, never decoded whole
            return True
        pixels = math.ceil(self.width / level.downsample) * math.ceil(self.height / level.downsample)
        return pixels <= self.max_decode_pixels
