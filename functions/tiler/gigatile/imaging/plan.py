"""What a request asks to be rendered, independent of any file: the Plan."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """What to render: the image reduced by `scale` as a `view`-sized virtual image, the
    `box` (left, top, width, height) of it to cut, resized to `out`, then mirrored,
    rotated clockwise by `rotation` degrees and turned to `quality`.

    `icc` says what becomes of an embedded colour profile: "strip" keeps the stored pixel
    values and drops it (tiles: what pass-through serves too), "srgb" converts the pixels
    to sRGB with it, "keep" keeps the stored values and embeds it in the output."""

    scale: float
    view: tuple[int, int]
    box: tuple[int, int, int, int]
    out: tuple[int, int]
    mirror: bool = False
    rotation: float = 0
    quality: str = "color"  # color, gray or bitonal
    icc: str = "strip"

    @property
    def transformed(self) -> bool:
        """Whether anything but cutting and scaling is asked for."""
        return bool(self.mirror or self.rotation % 360 or self.quality != "color" or self.icc != "strip")
