"""atheris: arbitrary bytes as a source image, through the range source into open, level
choice, render and encode: tiles of the first and last page, and a colour-managed,
orientation-turned thumbnail. Anything but a gigatile error (4xx/5xx) is a crash.

    python tests/fuzz/fuzz_images.py tests/fuzz/corpus/images -max_total_time=60
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions" / "tiler"))

with atheris.instrument_imports(include=["gigatile"]):
    from gigatile.errors import GigatileError
    from gigatile.imaging.encode import encode
    from gigatile.imaging.geometry import TileGrid
    from gigatile.imaging.opened import OpenImages, run_guarded
    from gigatile.imaging.passthrough import stored_tile
    from gigatile.imaging.plan import Plan
    from gigatile.imaging.render import render
    from gigatile.imaging.source_image import SourceImage
    from gigatile.imaging.thumbnail import Box, thumbnail_plan
    from gigatile.lru import LRU
    from gigatile.sources.base import ObjectVersion, Store
    from gigatile.sources.reader import ObjectReader


class MemoryStore(Store):
    """One object held in memory (the harness's input)."""

    name = "memory"

    def __init__(self):
        self.data = b""
        self.etag = ""

    def key_for(self, image_id: str) -> str:
        return image_id

    def fetch(self, key, start, end, etag):
        version = ObjectVersion(size=len(self.data), etag=self.etag, last_modified=None)
        return self.data[start : end + 1], version


STORE = MemoryStore()
BLOCKS = LRU(16 * 2**20, sizeof=len)
IMAGES = OpenImages(64 * 2**20)


def TestOneInput(data: bytes) -> None:
    STORE.data, STORE.etag = data, hashlib.sha1(data).hexdigest()
    reader = ObjectReader(STORE, "input", BLOCKS, 4096, 0, 4096)
    try:
        src = SourceImage(reader, IMAGES, 50_000_000, 4_000_000)
        pages = [src] if src.pages == 1 else [src, SourceImage(reader, IMAGES, 50_000_000, 4_000_000, src.pages - 1)]
        for page in pages:
            grid = TileGrid(page.width, page.height, 256)
            for level in {0, grid.max_level}:
                box = grid.tile_box(level, 0, 0)
                plan = Plan(grid.scale(level), grid.level_size(level), box, box[2:])
                if stored_tile(page, plan, None) is None:
                    draw(page, plan, "jpeg")
        draw(src, thumbnail_plan(Box(64, 48, "cover"), "srgb", 10_000, 16_000_000)(src), "png")
    except GigatileError:
        pass


def draw(src, plan, fmt: str) -> None:
    opened, image = render(src, plan)
    run_guarded(opened, IMAGES, image, lambda: encode(image, fmt, 80), time.monotonic() + 5)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
