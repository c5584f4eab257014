"""Before a render: the stored tiles it will read, fetched in a few merged, parallel GETs.

libvips reads a tiled level one tile at a time as it computes a region, so a view that
needs 3 × 3 stored tiles would otherwise cost nine GETs one after another. The format
layer knows where every tile lies; the plan says which part of which level the render
reads (the box at the view's scale, widened by the resize kernel's reach). Their ranges
go to the reader at once (ObjectReader.prefetch), which merges neighbours and keeps each
tile where libvips' exact read finds it.
"""

from __future__ import annotations

import math

from ..formats.levels import Level
from ..formats.tiff import COMPRESSION_JPEG2000, Ifd, TiffError
from .plan import Plan
from .source_image import SourceImage

# Lanczos3 reaches 3 output pixels either side; one more level pixel for rounding.
KERNEL_REACH = 3

Box = tuple[int, int, int, int]


def level_window(src: SourceImage, level: Level, ifd: Ifd, scale: float, box: Box, margin: int = 0) -> Box:
    """(x0, y0, x1, y1): the pixels of `level` (its IFD `ifd`) that the 1/`scale` view's `box`
    (left, top, width, height) is computed from, the resize kernel's reach (and `margin`
    level pixels) around it included, within the level."""
    # Level pixels per view pixel, as render.view_at resizes (formats: nominal or measured).
    d = level.downsample
    nominal = abs(ifd.width - src.width / d) <= 1 and abs(ifd.height - src.height / d) <= 1
    per_view = scale / (d if nominal else src.width / ifd.width)
    reach = math.ceil(KERNEL_REACH * max(per_view, 1)) + 1 + margin if per_view != 1 else 0
    left, top, width, height = box
    x0, x1 = max(0, math.floor(left * per_view) - reach), min(ifd.width, math.ceil((left + width) * per_view) + reach)
    y0, y1 = max(0, math.floor(top * per_view) - reach), min(ifd.height, math.ceil((top + height) * per_view) + reach)
    return x0, y0, x1, y1


def tiles_in(ifd: Ifd, window: Box) -> tuple[range, range]:
    """The columns and rows of the stored tiles of tiled `ifd` that `window` (x0, y0, x1, y1) covers."""
    x0, y0, x1, y1 = window
    return range(x0 // ifd.tile_width, (x1 - 1) // ifd.tile_width + 1), range(
        y0 // ifd.tile_height, (y1 - 1) // ifd.tile_height + 1
    )


def tile_ranges(src: SourceImage, plan: Plan) -> list[tuple[int, int]]:
    """(offset, length) of each stored tile of the level `plan` is rendered from that the
    render reads (of each shown channel's page, for an OME-TIFF); [] when that is not known
    (not a tiled TIFF level, a mask to combine, a region over the decode budget: the render
    refuses that itself), is one tile, or is JPEG 2000 (imaging.jpeg2000 fetches the tiles
    it decodes itself)."""
    if src.tiff is None:
        return []
    level = src.level_at(plan.scale)
    if level.mask is not None:
        return []
    try:
        ifds = src.tiff.ifds_for(dict(level.options))
    except TiffError:
        return []
    if len(ifds) > 1:  # an OME-TIFF's channels: the shown ones (by default the first three)
        shown = plan.stretch.bands if plan.stretch is not None and plan.stretch.bands else range(3)
        ifds = [ifds[b] for b in shown if b < len(ifds)]
    if not ifds:  # bands the image has not: the render refuses them
        return []
    window = level_window(src, level, ifds[0], plan.scale, plan.box)
    # One tile alone is libvips' own read; one tile of each of several channels, fetched
    # in parallel, costs the same GETs and one round trip instead of one per channel.
    return window_ranges(src, ifds, window, at_least=2 if len(ifds) == 1 else 1)


def window_ranges(src: SourceImage, ifds: list[Ifd], window: Box, at_least: int = 1) -> list[tuple[int, int]]:
    """(offset, length) of the stored tiles of each of `ifds` (a level, or its channels'
    pages: alike in size and tiling) under `window` (x0, y0, x1, y1); [] when they are not
    tiled or JPEG 2000, fewer than `at_least` a page, or over the decode budget."""
    assert src.tiff is not None
    first = ifds[0]
    if not first.tiled or first.compression in COMPRESSION_JPEG2000:
        return []
    cols, rows = tiles_in(first, window)
    if len(cols) * len(rows) < at_least:
        return []
    if len(ifds) * len(cols) * len(rows) * first.tile_width * first.tile_height > src.max_decode_pixels:
        return []
    found = []
    for ifd in ifds:
        try:
            tiles = src.tiff.tiled_level(ifd)
        except TiffError:
            return []
        found += [tiles.tile_range(col, row) for row in rows for col in cols]
    return [where for where in found if where is not None and where[0] + where[1] <= src.tiff.size]


def prefetch(src: SourceImage, plan: Plan) -> int:
    """Fetch the stored tiles the render of `plan` reads; returns the GETs that took."""
    ranges = tile_ranges(src, plan)
    return src.reader.prefetch(ranges, src.version) if ranges else 0
