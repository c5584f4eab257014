"""Tile grids the protocols lay over an image (design note contracts).

Both reduce the image by a power of two per level, each side rounded up, and cut the
level into tiles whose edge tiles are smaller; they differ in where levels start:

- simple API: max_level = ceil(log2(max(w, h) / tile_size)), level 0 fits one tile;
- DeepZoom: max_level = ceil(log2(max(w, h))), level 0 is 1 × 1, and tiles may overlap
  their neighbours by `overlap` pixels (as `vips dzsave` writes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TileNotFound


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    tile_size: int
    overlap: int = 0  # pixels each tile shares with each neighbour (DeepZoom)

    @property
    def max_level(self) -> int:
        raise NotImplementedError

    def scale(self, level: int) -> int:
        return 2 ** (self.max_level - level)

    def level_size(self, level: int) -> tuple[int, int]:
        s = self.scale(level)
        return math.ceil(self.width / s), math.ceil(self.height / s)

    def cols_rows(self, level: int) -> tuple[int, int]:
        w, h = self.level_size(level)
        return math.ceil(w / self.tile_size), math.ceil(h / self.tile_size)

    def levels(self) -> list[dict]:
        return [
            {"level": lv, "cols": c, "rows": r, "scale": self.scale(lv)}
            for lv in range(self.max_level + 1)
            for c, r in [self.cols_rows(lv)]
        ]

    def tile_box(self, level: int, x: int, y: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) of tile (x, y) in the level's own pixels, overlap included."""
        if not 0 <= level <= self.max_level:
            raise TileNotFound(f"level {level} is outside 0…{self.max_level}")
        cols, rows = self.cols_rows(level)
        if x >= cols or y >= rows:
            raise TileNotFound(f"tile {x},{y} is outside the {cols}×{rows} grid of level {level}")
        w, h = self.level_size(level)
        ts, o = self.tile_size, self.overlap
        left, top = max(0, x * ts - o), max(0, y * ts - o)
        right, bottom = min(w, (x + 1) * ts + o), min(h, (y + 1) * ts + o)
        return left, top, right - left, bottom - top


@dataclass(frozen=True)
class TileGrid(Grid):
    """The simple API's grid."""

    @property
    def max_level(self) -> int:
        return max(0, math.ceil(math.log2(max(self.width, self.height) / self.tile_size)))


@dataclass(frozen=True)
class DeepZoomGrid(Grid):
    """DeepZoom's grid, as OpenSeadragon reads it and `vips dzsave` writes it."""

    @property
    def max_level(self) -> int:
        return math.ceil(math.log2(max(self.width, self.height))) if max(self.width, self.height) > 1 else 0


def grid_box(
    width: int, height: int, region: tuple[int, int, int, int], out: tuple[int, int], loose: str = ""
) -> tuple[int, tuple[int, int]] | None:
    """The power-of-two scale s at which `region` (x, y, w, h of a width × height image) is
    a box of the grid's ceil-rounded level, and that box's size, when `out` asks for it:
    the region's edges fall on the level's pixels (multiples of s, or the image's edge) and
    `out` is (ceil(w/s), ceil(h/s)). Else None.

    A viewer asks a tile at the image's edge as region + size, where w/out is not s
    (5424 px → 170 px is 31.9 for 32): read as that scale, the tile is cut from the stored
    level (or the DeepZoom tile it equals), not resampled from a finer one. `loose` names
    the side of `out` the request left to the server ("w" or "h": IIIF `,h` and `w,`),
    computed from the region's aspect (257 where the level has 256): that side may be one
    pixel off and becomes the level's.
    """
    x, y, w, h = region
    ratio = h / out[1] if loose == "w" else w / out[0]
    if ratio < 1:
        return None
    low = 2 ** math.floor(math.log2(ratio))
    for s in dict.fromkeys((low, 2 * low)):
        on_pixels = not x % s and not y % s and ((x + w) % s == 0 or x + w == width)
        if not on_pixels or not ((y + h) % s == 0 or y + h == height):
            continue
        size = (math.ceil(w / s), math.ceil(h / s))
        if all(
            got == want or (side == loose and abs(got - want) <= 1)
            for side, got, want in zip("wh", out, size, strict=True)
        ):
            return s, size
    return None
