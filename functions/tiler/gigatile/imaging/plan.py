"""What a request asks to be rendered, independent of any file: the Plan."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StretchRequest:
    """What a request asks: 0-based bands (1 or 3) and value ranges (one for all, or one per
    band); None leaves each to the image's default."""

    bands: tuple[int, ...] | None = None
    ranges: tuple[tuple[float, float], ...] | None = None

    def key(self) -> str:
        """Canonical text for ETags: equal requests, equal keys."""
        bands = ",".join(str(b + 1) for b in self.bands) if self.bands else ""
        ranges = ",".join(f"{lo!r},{hi!r}" for lo, hi in self.ranges) if self.ranges else ""
        return f"bands:{bands};range:{ranges}"


@dataclass(frozen=True)
class Plan:
    """What to render: the image reduced by `scale` as a `view`-sized virtual image, the
    `box` (left, top, width, height) of it to cut, resized to `out`, then mirrored,
    rotated clockwise by `rotation` degrees and turned to `quality`.

    `icc` says what becomes of an embedded colour profile: "strip" keeps the stored pixel
    values and drops it (tiles: what pass-through serves too), "srgb" converts the pixels
    to sRGB with it, "keep" keeps the stored values and embeds it in the output.

    `stretch`: the bands and value ranges of non-8-bit data to show (imaging.stretch)."""

    scale: float
    view: tuple[int, int]
    box: tuple[int, int, int, int]
    out: tuple[int, int]
    mirror: bool = False
    rotation: float = 0
    quality: str = "color"  # color, gray or bitonal
    icc: str = "strip"
    stretch: StretchRequest | None = None  # None: the image's default (imaging.stretch)

    @property
    def transformed(self) -> bool:
        """Whether anything but cutting and scaling is asked for."""
        turned = self.mirror or self.rotation % 360
        return bool(turned or self.quality != "color" or self.icc != "strip" or self.stretch)
