"""A full-resolution view of a striped TIFF too large to decode whole, from the strips it
covers only: their ranges fetched in merged GETs, repacked as a small TIFF
(formats.strips) and decoded by libvips from memory.

Used where libvips would decode the whole level (over the decode budget: refused, or 503
while a pyramid is made); a striped level within the budget is decoded whole once and kept
open, which serves every zoom of it. A reduced view of a striped level still needs every
row of it, so only full resolution (scale 1) is read this way.
"""

from __future__ import annotations

from ..errors import TooLarge, UnsupportedImage
from ..formats import stored
from ..formats.strips import repack, strips_of
from ..formats.tiff import TiffError
from ..vips import vips
from .opened import vips_errors
from .plan import Plan
from .source_image import SourceImage


def striped_region(source: SourceImage, plan: Plan):
    """The plan's box of the full-resolution level as a lazy libvips image read from the
    strips covering it, or None when the plan is not for this path (not full resolution,
    not a striped TIFF level, one libvips decodes whole within the budget, or with a mask)."""
    level = source.base_level
    if source.tiff is None or plan.scale != 1 or level.mask is not None or int(dict(level.options).get("n", 1)) != 1:
        return None
    tiff = source.tiff
    try:
        ifd = tiff.ifd_for(dict(level.options))
        if ifd.tiled or stored.decoded_at_once(tiff, ifd) <= source.max_decode_pixels:
            return None
        stored.check_chunks(tiff, ifd)
        strips = strips_of(tiff, ifd)
    except TiffError as exc:
        raise UnsupportedImage(f"not a readable TIFF: {exc}") from None
    left, top, width, height = plan.box
    covered = strips.covering(top, height)
    first, rows = strips.rows(covered)
    if ifd.width * rows > source.max_decode_pixels:
        raise TooLarge(
            f"this view decodes the {len(covered)} strip(s) of {strips.rows_per_strip} rows it covers of a "
            f"{ifd.width}×{ifd.height} striped TIFF, {ifd.width * rows} pixels, over the "
            f"{source.max_decode_pixels} pixel budget; convert it to a tiled pyramidal TIFF"
        )
    ranges = strips.ranges(covered)
    reader, version = source.reader, source.version
    reader.prefetch(ranges, version)  # adjacent strips: one GET
    data = [reader.read(offset, length, True, version) for offset, length in ranges]
    with vips_errors():  # the header only: the strips are decoded when the render runs
        band = vips().Image.tiffload_buffer(repack(tiff, strips, covered, data), access="random", fail_on="error")
    if (band.width, band.height) != (ifd.width, rows):  # libtiff read the tags otherwise than we did
        raise UnsupportedImage(f"not a readable TIFF: strips decode to {band.width}×{band.height}")
    return band.crop(left, top - first, width, height)
