"""Open libvips images, each over its own range source, kept in an LRU bounded in bytes."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from ..errors import DeadlineExceeded, GigatileError, UnsupportedImage
from ..lru import LRU
from ..sources.joined import AnyReader
from ..sources.vips_source import RangeSource
from ..vips import vips
from .watchdog import WATCHDOG


@dataclass
class Opened:
    image: Any  # pyvips.Image
    source: RangeSource
    cost: int  # bytes this open image may come to hold (decoded pixels, tile cache)
    random_access: bool
    # The open images it joins, one a band (an OME-TIFF's channels, each page opened on
    # its own): showing some of them then reads only their pages' tiles, and a tile of
    # the joined image reads one stored tile per channel.
    parts: tuple[Opened, ...] = ()

    def band(self, b: int):
        return self.parts[b].image if self.parts else self.image[b]

    @property
    def reads(self) -> tuple[Opened, ...]:
        """The open images whose sources a computation of `image` reads."""
        return self.parts or (self,)


def joined(parts: list[Opened]) -> Opened:
    """One-band open images side by side as the bands of one (kept open by their own keys:
    joining them again is a few libvips calls, no read)."""
    image = parts[0].image.bandjoin([p.image for p in parts[1:]]).copy(interpretation="multiband")
    return Opened(image, parts[0].source, sum(p.cost for p in parts), parts[0].random_access, tuple(parts))


def _libvips_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    detail = [line for line in text if line and not line.startswith("unable to call")]
    return (detail[-1] if detail else "image could not be decoded")[:200]


@contextlib.contextmanager
def vips_errors(*sources: RangeSource):
    """Turn a libvips failure into the error that caused it: S3's if a read of one of the
    `sources` failed, else 415."""
    pyvips = vips()
    try:
        yield
    except pyvips.Error as exc:
        for source in sources:
            source.raise_pending()
        raise UnsupportedImage(f"not a readable image: {_libvips_message(exc)}") from None
    for source in sources:
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
    """Open images by (store, key, version, load options), bounded by their estimated cost.
    One over the whole budget is still kept, alone, so that the next tile reuses it."""

    def __init__(self, max_bytes: int):
        self._cache: LRU[Opened] = LRU(max_bytes, sizeof=lambda opened: min(opened.cost, max_bytes))

    def open(self, reader: AnyReader, etag: str, options: dict, patches: tuple = ()) -> Opened:
        """`patches`: (offset, bytes) libvips reads in place of the file's (formats.levels.Mask)."""
        key = (reader.store.name, reader.key, etag, tuple(sorted(options.items())), patches)
        return self._cache.get_or_make(key, lambda: self._open(reader, options, patches))

    def open_once(self, reader: AnyReader, options: dict, patches: tuple = ()) -> Opened:
        """An image read whole by one request, not kept: libvips reads a stripped TIFF page
        in order, once (a second read from the top fails). Its header and bytes come from
        the block cache on the next request."""
        return self._open(reader, options, patches)

    def _open(self, reader: AnyReader, options: dict, patches: tuple) -> Opened:
        source = RangeSource(reader, patches)
        if source.size == 0:
            raise UnsupportedImage("the object is empty")
        with vips_errors(source):
            image = vips().Image.new_from_source(source.source, "", access="random", fail_on="error", **options)
        # libvips reads a tiled TIFF by tiles; anything else is decoded whole (formats.stored).
        random_access = image.get("vips-loader").startswith("tiffload") and "tile-width" in image.get_fields()
        source.exact_reads = random_access
        return Opened(image, source, _cost(image, random_access), random_access)

    def forget(self, store: str, key: str) -> None:
        """Drop every open image of `key`, whatever its version (the object changed)."""
        self._cache.drop_where(lambda k: k[:2] == (store, key))

    def discard(self, opened: Opened) -> None:
        """Drop an image whose read failed: libvips may have marked it unusable."""
        for each in opened.reads:
            self._cache.discard(each)

    @property
    def size(self) -> int:
        return self._cache.size

    def __len__(self) -> int:
        return len(self._cache)


def run_guarded(opened: Opened | tuple[Opened, ...], cache: OpenImages, image, fn, deadline: float):
    """Run `fn`, a libvips call computing `image` from `opened` (an open image, or all those
    it reads: a level and its mask), within `deadline` (monotonic): map failures to their
    cause and drop the open images they may have spoilt."""
    reads = tuple(read for each in ((opened,) if isinstance(opened, Opened) else opened) for read in each.reads)
    for each in reads:
        each.source.start_render(deadline)
    try:
        with WATCHDOG.guard(image, deadline), vips_errors(*(each.source for each in reads)):
            return fn()
    except GigatileError:
        for each in reads:
            cache.discard(each)
        if time.monotonic() > deadline:
            raise DeadlineExceeded("the request's time budget ran out while rendering") from None
        raise
