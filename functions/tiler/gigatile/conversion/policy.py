"""The tiler's conversion policy: which sources are read from a derived pyramid, where that
pyramid lives, when to look for it again, and when to ask the converter for it.

A large non-tiled source (a 30,000 × 50,000 baseline JPEG) cannot give a full-resolution
tile without a full decode, so the converter writes a tiled pyramidal TIFF of each version
to `<pyramid prefix><source key>@<source ETag>.tif`. The tiler reads that pyramid instead
of the source as soon as it exists; clients see the source's size, version and format.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import Settings
from ..errors import ConversionPending, Forbidden, ImageNotFound, TooLarge
from ..imaging import jpeg2000
from ..imaging.source_image import SourceImage
from .on_demand import ConversionRequests

# How long a large non-tiled source found without its pyramid is served as it is before the
# pyramid is looked for again (the converter may have finished meanwhile).
PYRAMID_RECHECK_SECONDS = 60


def derived_key(pyramid_prefix: str, source_key: str, etag: str) -> str:
    return f"{pyramid_prefix}{source_key}@{etag}.tif"


@dataclass(frozen=True)
class Served:
    """A source page as clients see it (size, version, format, pages), and what its pixels
    are read from: the source itself or its derived pyramid."""

    source: SourceImage
    pixels: SourceImage
    # When the pyramid this source wants was looked for and not found (monotonic), or None.
    missing_since: float | None = None

    @property
    def derived(self) -> bool:
        return self.pixels is not self.source


class PyramidPolicy:
    def __init__(self, settings: Settings):
        self.prefix = settings.pyramid_prefix
        self.min_pixels = settings.convert_min_pixels
        self.max_pixels = settings.max_image_pixels
        # The converter's switch: over-budget views wait for it (503) instead of a 413.
        self.converter = settings.converter
        on_demand = settings.convert_on_demand and settings.source.kind == "s3"
        self.requests = ConversionRequests(settings.convert_on_demand, settings.source.bucket) if on_demand else None

    def refusal(self, tiled_pyramid: bool, width: int, height: int) -> str | None:
        """Why an image gets no derived pyramid, or None when it should have one: the one
        rule, for the converter (what to convert) and the tiler (what to look for)."""
        pixels = width * height
        if tiled_pyramid:
            return "already a tiled pyramid"
        if pixels < self.min_pixels:
            return f"{pixels} pixels, under GIGATILE_CONVERT_MIN_PIXELS"
        if pixels > self.max_pixels:
            return "over GIGATILE_MAX_IMAGE_PIXELS"
        return None

    def wants_pyramid(self, src: SourceImage) -> bool:
        """Whether a derived pyramid is ever made for this page (the converter takes page 0;
        it reads through libvips, which cannot decode JPEG 2000 tiles); for the rest the
        look-up is spared."""
        refused = self.refusal(src.tiled_pyramid, src.width, src.height)
        if not self.prefix or src.page != 0 or refused is not None:
            return False
        return jpeg2000.level_ifd(src, src.base_level) is None

    def serve(self, src: SourceImage, open_derived: Callable[[str], SourceImage]) -> Served:
        """Where to read `src` from: its derived pyramid when the converter has made one for
        this exact version (one GET, a 404 until then), else the source itself."""
        if not self.wants_pyramid(src):
            return Served(src, src)
        try:
            derived = open_derived(derived_key(self.prefix, src.reader.key, src.version.etag))
        except (ImageNotFound, Forbidden):  # S3 says 403 for a missing key without ListBucket
            # None yet: served as it is for now; on demand, the converter is asked for it as
            # soon as the image is first opened, not only when a view needs it.
            if self.requests is not None:
                self.requests.request(src.reader.key, src.version.etag)
            return Served(src, src, time.monotonic())
        if (derived.width, derived.height) != (src.width, src.height) or derived.format != "tiff":
            return Served(src, src)
        return Served(src, derived)

    def look_again(self, served: Served) -> bool:
        """Whether a pyramid found missing may exist by now."""
        since = served.missing_since
        return since is not None and time.monotonic() - since > PYRAMID_RECHECK_SECONDS

    def over_budget(self, served: Served, exc: TooLarge, reopen: Callable[[], Served]) -> Served:
        """A view of `served` needs a decode over the budget. With the converter on, look
        for the pyramid once more (it may have been finished since the source was opened)
        and read that; with none yet, the client is told to come back (503 + Retry-After)
        instead of refused. `reopen` opens the source anew."""
        if not self.converter or not self.wants_pyramid(served.source):
            raise exc
        fresh = reopen()
        if fresh.derived:
            return fresh
        raise ConversionPending(f"{exc.message}; a pyramid is being built, retry later") from None
