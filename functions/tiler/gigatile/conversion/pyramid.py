"""Pyramid conversion: any source libvips reads (a baseline JPEG, a PNG map…) into a tiled
pyramidal TIFF, streamed through libvips without holding the image in memory.

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
    if progress is not None:
        image.set_progress(True)
        image.signal_connect("eval", lambda _image, p: progress(p.percent))
    options = {"Q": quality} if compression in ("jpeg", "webp") else {"predictor": "horizontal"}
    image.tiffsave(
        str(out),
        tile=True,
        tile_width=tile_size,
        tile_height=tile_size,
        pyramid=True,
        subifd=True,  # one IFD chain entry: cheapest to open over S3
        compression=compression,
        bigtiff=image.width * image.height * image.bands > 2**31,
        **options,
    )
    seconds = time.perf_counter() - start
    written = vips().Image.new_from_file(str(out))
    levels = 1 + (written.get("n-subifds") if "n-subifds" in written.get_fields() else 0)
    return Converted(image.width, image.height, levels, out.stat().st_size, seconds)
