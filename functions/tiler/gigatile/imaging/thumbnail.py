"""Thumbnail geometry: fit a whole page into a box, upright, as a render Plan.

The plan is made in the stored pixel order and its mirror/rotation turn the result
upright, so the EXIF orientation costs nothing: the source is read and shrunk exactly as
for tiles (the cheapest pyramid level or shrink-on-load, then Lanczos3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidParameter, TooLarge
from .plan import Plan
from .source_image import SourceImage

# EXIF orientation → (mirror, clockwise degrees), applied in that order (as IIIF's "!90").
ORIENTATIONS = {
    1: (False, 0),
    2: (True, 0),
    3: (False, 180),
    4: (True, 180),
    5: (True, 270),
    6: (False, 90),
    7: (True, 90),
    8: (False, 270),
}
FITS = ("contain", "cover")


@dataclass(frozen=True)
class Box:
    width: int | None
    height: int | None
    fit: str = "contain"  # contain: all of the image inside the box; cover: fill it, crop the centre

    def __post_init__(self):
        if self.width is None and self.height is None:
            raise InvalidParameter("a thumbnail needs a width, a height, or both")
        if self.fit not in FITS:
            raise InvalidParameter(f"fit must be one of {', '.join(FITS)}, got {self.fit!r}")

    def scale_for(self, width: int, height: int) -> float:
        """The reduction of an upright width × height image; never below 1 (no enlarging)."""
        ratios = [r for r in (self.width and width / self.width, self.height and height / self.height) if r]
        both = self.width and self.height
        scale = min(ratios) if self.fit == "cover" and both else max(ratios)
        return max(scale, 1.0)


def thumbnail_plan(box: Box, icc: str, max_side: int, max_pixels: int) -> Callable[[SourceImage], Plan]:
    def plan(src: SourceImage) -> Plan:
        mirror, rotation = ORIENTATIONS.get(src.orientation, (False, 0))
        turned = rotation in (90, 270)
        upright = (src.height, src.width) if turned else (src.width, src.height)
        scale = box.scale_for(*upright)
        view = (max(1, round(src.width / scale)), max(1, round(src.height / scale)))
        out = view
        if box.fit == "cover":  # crop the centre of what overflows the box (in stored order)
            limit_w, limit_h = (box.height, box.width) if turned else (box.width, box.height)
            out = (min(view[0], limit_w or view[0]), min(view[1], limit_h or view[1]))
        if max(out) > max_side or out[0] * out[1] > max_pixels:
            limits = f"{max_side} px a side, {max_pixels} pixels"
            raise TooLarge(f"a {out[0]}×{out[1]} thumbnail is over the output limits ({limits})")
        left, top = (view[0] - out[0]) // 2, (view[1] - out[1]) // 2
        return Plan(scale, view, (left, top, *out), out, mirror, rotation, icc=icc)

    return plan
