"""Open libvips images, each over its own range source, kept in an LRU bounded in bytes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..errors import DeadlineExceeded, GigatileError, UnsupportedImage
from ..sources.reader import ObjectReader
from ..sources.vips_source import RangeSource
from ..vips import vips
from .watchdog import WATCHDOG


@dataclass
class Opened:
    image: Any  # pyvips.Image
    source: RangeSource
    cost: int  # bytes this open image may come to hold (decoded pixels, tile cache)
    random_access: bool


def _libvips_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    detail = [line for line in text if line and not line.startswith("unable to call")]
    return (detail[-1] if detail else "image could not be decoded")[:200]


@contextlib.contextmanager
def vips_errors(source: RangeSource):
    """Turn a libvips failure into the error that caused it: S3's if a read failed, else 415."""
    pyvips = vips()
    try:
        yield
    except pyvips.Error as exc:
        source.raise_pending()
        raise UnsupportedImage(f"not a readable image: {_libvips_message(exc)}") from None
    source.raise_pending()


def _cost(image, random_access: bool) -> int:
    sample = {"uchar": 1, "char": 1, "ushort": 2, "short": 2, "float": 4}.get(image.format, 8)
    per_row = image.width * image.bands * sample
    if random_access:
        # libvips keeps about two rows of tiles of a tiled TIFF level it reads.
        tile_height = image.get("tile-height") if "tile-height" in image.get_fields() else 256
        return 2 * tile_height * per_row + (1 << 20)
    return image.height * per_row


class OpenImages:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, Opened] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def open(self, reader: ObjectReader, etag: str, options: dict) -> Opened:
        key = (reader.store.name, reader.key, etag, tuple(sorted(options.items())))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        source = RangeSource(reader)
        if source.size == 0:
            raise UnsupportedImage("the object is empty")
        with vips_errors(source):
            image = vips().Image.new_from_source(source.source, "", access="random", fail_on="error", **options)
        random_access = image.get("vips-loader").startswith("tiffload")
        source.exact_reads = random_access
        opened = Opened(image, source, _cost(image, random_access), random_access)
        self._put(key, opened)
        return opened

    def _put(self, key: tuple, opened: Opened) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = opened
            self._bytes += opened.cost
            # Keep at least the newest image even when it alone is over budget.
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.cost

    def discard(self, opened: Opened) -> None:
        """Drop an image whose read failed: libvips may have marked it unusable."""
        with self._lock:
            for key, value in list(self._items.items()):
                if value is opened:
                    del self._items[key]
                    self._bytes -= value.cost

    @property
    def size(self) -> int:
        return self._bytes


def run_guarded(opened: Opened, cache: OpenImages, image, fn, deadline: float):
    """Run `fn`, a libvips call computing `image` from `opened`, within `deadline`
    (monotonic): map failures to their cause and drop the open image they may have spoilt."""
    opened.source.extend_deadline(deadline)
    try:
        with WATCHDOG.guard(image, deadline), vips_errors(opened.source):
            return fn()
    except GigatileError:
        cache.discard(opened)
        if time.monotonic() > deadline:
            raise DeadlineExceeded("the request's time budget ran out while rendering") from None
        raise
