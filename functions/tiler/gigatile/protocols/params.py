"""Query parameters shared by the protocols, declared once."""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import Query, Request

from ..errors import InvalidParameter
from ..imaging.plan import StretchRequest
from ..service import Tiler

ImageId = Annotated[
    str, Query(alias="path", min_length=1, max_length=1024, description="image id (key under the prefix)")
]
TileSize = Annotated[int, Query(ge=64, le=1024)]
Quality = Annotated[int | None, Query(ge=1, le=100, description="default 90, or a stored tile's own")]
Page = Annotated[int, Query(ge=0, le=65535, description="frame of a GIF or animated WebP, page of a multi-page TIFF")]
Format = Annotated[str, Query(max_length=8)]

STRETCH_HELP = (
    "display stretch of non-8-bit data: `bands:3,2,1;range:0,3000` — bands (1-based, 1 or 3 of them) "
    "and/or value ranges (min,max once for all bands, or once per band); default: the image's own (meta)"
)
MAX_STRETCH = 300
# ASCII digits only: str.isdigit() and re's \d accept "²" and "١", which int() then refuses.
NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?$", re.ASCII)
BAND = re.compile(r"^\d{1,3}$", re.ASCII)
MAX_BANDS = 255


def parse_stretch(text: str | None) -> StretchRequest | None:
    """`bands:B[,B,B];range:MIN,MAX[,MIN,MAX,MIN,MAX]`, either part optional, validated
    strictly (400): whether the bands exist is checked against the image when rendering."""
    if text is None:
        return None

    def bad(reason: str) -> InvalidParameter:
        return InvalidParameter(f"stretch: {reason} (expected e.g. `bands:3,2,1;range:0,3000`)")

    if not text or len(text) > MAX_STRETCH:
        raise bad(f"empty or longer than {MAX_STRETCH} characters")
    parts: dict[str, list[str]] = {}
    for part in text.split(";"):
        name, sep, value = part.partition(":")
        if not sep or name not in ("bands", "range"):
            raise bad(f"{part!r} is not `bands:…` or `range:…`")
        if name in parts:
            raise bad(f"`{name}` given twice")
        parts[name] = value.split(",")
    bands = None
    if "bands" in parts:
        if not all(BAND.match(b) and 1 <= int(b) <= MAX_BANDS for b in parts["bands"]):
            raise bad(f"bands are band numbers 1…{MAX_BANDS}")
        if len(parts["bands"]) not in (1, 3):
            raise bad("give 1 band (grey) or 3 (red, green, blue)")
        bands = tuple(int(b) - 1 for b in parts["bands"])
    ranges = None
    if "range" in parts:
        values = parts["range"]
        if not all(NUMBER.match(v) for v in values) or len(values) % 2:
            raise bad("a range is min,max as finite decimal numbers, once or once per band")
        numbers = [float(v) for v in values]
        if not all(math.isfinite(n) for n in numbers):
            raise bad("range values must be finite")
        ranges = tuple(zip(numbers[::2], numbers[1::2], strict=True))
        if not all(lo < hi for lo, hi in ranges):
            raise bad("each range's min must be below its max")
        if bands is not None and len(ranges) not in (1, len(bands)):
            raise bad(f"{len(ranges)} ranges for {len(bands)} bands (give 1 or {len(bands)})")
    return StretchRequest(bands, ranges)


Stretch = Annotated[str | None, Query(max_length=MAX_STRETCH, description=STRETCH_HELP)]


def tiler_of(request: Request) -> Tiler:
    """The app's one Tiler (and through it, its Settings), made by create_app. Read from the
    app rather than injected as a FastAPI dependency: FastAPI solves a dependency anew on
    every request, a measurable share of a pass-through tile (docs/performance.md)."""
    return request.app.state.tiler
