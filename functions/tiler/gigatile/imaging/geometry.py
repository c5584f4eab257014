"""Tile grid of the simple API (design note contract).

max_level = ceil(log2(max(w, h) / tile_size)); level L is the image scaled down by
2 ** (max_level - L), each side rounded up; tile (x, y) covers x * tile_size … of that
level, and edge tiles are smaller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TileNotFound


@dataclass(frozen=True)
class TileGrid:
    width: int
    height: int
    tile_size: int

    @property
    def max_level(self) -> int:
        return max(0, math.ceil(math.log2(max(self.width, self.height) / self.tile_size)))

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
        """(left, top, width, height) of tile (x, y) in the level's own pixels."""
        if not 0 <= level <= self.max_level:
            raise TileNotFound(f"level {level} is outside 0…{self.max_level}")
        cols, rows = self.cols_rows(level)
        if x >= cols or y >= rows:
            raise TileNotFound(f"tile {x},{y} is outside the {cols}×{rows} grid of level {level}")
        w, h = self.level_size(level)
        left, top = x * self.tile_size, y * self.tile_size
        return left, top, min(self.tile_size, w - left), min(self.tile_size, h - top)
