"""Pyramid conversion: any source libvips reads (a baseline JPEG, a PNG map…) into a tiled
pyramidal TIFF, streamed through libvips without holding the image in memory.

Its reduced levels are ceil(W / 2^k) × ceil(H / 2^k), the sizes DeepZoom and IIIF (and the
`sizes` viewers pick levels from) give each zoom, so every whole stored tile is a zoom's
tile as it is. libvips' pyramid writer floor-halves (3001 → 1500); given the image padded
to ceil(W / 2^K) · 2^K (edge pixels repeated, under 2^K more per side) its floor-halved
levels are exact 2 × 2 means that hold the wanted sizes at their top left, and
tiff_writer.py cuts each level to its size while putting every directory first.

Used by `gigatile pyramid SRC DST` and by the converter Lambda (converter.py); where the
result lives and when the tiler reads it is policy.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..vips import vips
from .tiff_writer import rewrite

COMPRESSIONS = ("jpeg", "deflate", "webp")


@dataclass(frozen=True)
class Converted:
    width: int
    height: int
    levels: int
    bytes: int
    seconds: float

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)


def convert(
    image: Any,  # pyvips.Image
    out: Path,
    quality: int = 85,
    compression: str = "jpeg",
    tile_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Converted:
    """Write `image` (a pyvips.Image opened with access="sequential") as a tiled pyramidal
    TIFF at `out`; `progress(percent)` is called as libvips computes."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}")
    start = time.perf_counter()
    sizes = level_sizes(image.width, image.height, tile_size)
    depth = len(sizes) - 1
    last_width, last_height = sizes[-1]
    padded = image.embed(0, 0, last_width << depth, last_height << depth, extend="copy")
    if progress is not None:
        padded.set_progress(True)
        padded.signal_connect("eval", lambda _image, p: progress(p.percent))
    options = {"Q": quality} if compression in ("jpeg", "webp") else {"predictor": "horizontal"}
    staging = out.with_name(f".{out.name}.libvips")
    try:
        padded.tiffsave(
            str(staging),
            tile=True,
            tile_width=tile_size,
            tile_height=tile_size,
            pyramid=True,
            subifd=True,  # one IFD chain entry: cheapest to open over S3
            compression=compression,
            bigtiff=True,  # whatever its size; the rewrite picks classic TIFF when it fits
            **options,
        )
        rewrite(staging, out, sizes)
    finally:
        staging.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    written = vips().Image.new_from_file(str(out))
    levels = 1 + (written.get("n-subifds") if "n-subifds" in written.get_fields() else 0)
    return Converted(image.width, image.height, levels, out.stat().st_size, seconds)


def level_sizes(width: int, height: int, tile_size: int) -> list[tuple[int, int]]:
    """Full resolution, then each ceil-halved level while the one before does not fit in one
    tile and has both sides over 1 px: libvips' own stopping rule (depth "onetile")."""
    sizes = [(width, height)]
    while (sizes[-1][0] > tile_size or sizes[-1][1] > tile_size) and min(sizes[-1]) > 1:
        w, h = sizes[-1]
        sizes.append((-(-w // 2), -(-h // 2)))
    return sizes
