"""The tile service every protocol calls: find the image, plan, render, encode.

Everything expensive is created on first use and kept for warm invocations: the store
and its boto3 client, the block cache, open images and source headers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import __version__, memory
from .config import Settings
from .conversion.policy import PyramidPolicy, Served
from .errors import DeadlineExceeded, GigatileError, SourceChanged, TooLarge
from .formats.vendors import is_dicom
from .imaging.encode import DEFAULT_QUALITY, MEDIA_TYPES, encode
from .imaging.geometry import Grid, TileGrid
from .imaging.opened import OpenImages, run_guarded
from .imaging.passthrough import stored_tile
from .imaging.plan import Plan, StretchRequest
from .imaging.prefetch import prefetch
from .imaging.render import render, render_associated
from .imaging.source_image import SourceImage
from .imaging.stretch import default_stretch
from .lru import LRU
from .observability import logger
from .sources import budget
from .sources.base import ObjectVersion, Store
from .sources.budget import ReadStats
from .sources.ids import validate_image_id
from .sources.reader import ObjectReader
from .vips import configure as vips_configure

# Bump when rendering changes, so tile ETags change with it.
RENDER_VERSION = "6"


@dataclass
class Tile:
    body: bytes
    media_type: str
    width: int
    height: int
    stats: ReadStats = field(default_factory=ReadStats)  # the render's reads (sources/budget.py)
    render_ms: float = 0.0
    passthrough: bool = False  # the stored JPEG tile, as it is


def make_store(settings: Settings) -> Store:
    if settings.source.kind == "s3":
        from .sources.s3 import S3Store

        return S3Store(settings.source.bucket, settings.source.prefix, max_connections=4 * settings.max_renders + 4)
    from .sources.local import LocalStore

    assert settings.source.folder is not None  # Source.parse sets it for every local source
    return LocalStore(settings.source.folder)


class Tiler:
    def __init__(self, settings: Settings):
        self.settings = settings
        vips_configure(settings.vips_concurrency)
        self.store = make_store(settings)
        # Blocks and spans of source bytes, shared by every open image, bounded in bytes.
        self.blocks: LRU[bytes] = LRU(settings.block_cache_bytes, sizeof=len)
        self.images = OpenImages(settings.open_image_cache_bytes)
        self._readers: LRU[ObjectReader] = LRU(4096)
        # An id's store key, checked once: validate_image_id walks the id character by
        # character (≈ 2.4 µs), and a tile request looks its id up twice.
        self._key_of = functools.lru_cache(maxsize=4096)(self._checked_key)
        # Whether a version of a key is a DICOM instance (its first 132 bytes), as known.
        self._dicom: LRU[bool] = LRU(4096)
        self._sources: LRU[Served] = LRU(256)
        # Bounds simultaneous renders (each may use a core and a few tiles of memory).
        self._renders = threading.BoundedSemaphore(settings.max_renders)
        self.pyramids = PyramidPolicy(settings)

    # -- lookup ------------------------------------------------------------------------
    def reader(self, image_id: str) -> ObjectReader:
        key = self._key_of(image_id)
        return self._readers.get_or_make(key, lambda: self._new_reader(key))

    def _checked_key(self, image_id: str) -> str:
        return self.store.key_for(validate_image_id(image_id))

    def _new_reader(self, key: str) -> ObjectReader:
        s = self.settings
        return ObjectReader(self.store, key, self.blocks, s.block_size, s.version_ttl, s.open_read_bytes)

    def version(self, image_id: str) -> ObjectVersion:
        """The source version (0 GETs when warm): enough to answer a conditional request. A
        DICOM instance's is its series' (the ETags of all its objects): opened to know it."""
        with self._request(image_id):
            reader = self.reader(image_id)
            version = reader.version()
            known = (reader.key, version.etag)
            dicom = self._dicom.get(known)
            if dicom is None:
                dicom = is_dicom(reader.read(0, 132, version=version))  # the first block: cached
                self._dicom.put(known, dicom)
            return self.source(image_id).source.version if dicom else version

    @contextlib.contextmanager
    def _request(self, image_id: str):
        """One operation of a request (an operation inside another shares the outer one's):
        its read budget, the log line of a refusal with what was read before it, and what a
        changed object means.

        An object found changed (a read pinned to its ETag answered 412) is 503
        source_changed, not served from the new version within this request: the route has
        already chosen the response's ETag (and a `v=` URL's year-long lifetime) from the old
        version. Everything cached of the key is dropped; the next request reads the new one.
        """
        outer = budget.current() is not None
        s = self.settings
        with budget.request(s.max_request_gets, s.max_request_read_bytes) as spent:
            try:
                yield spent
            except GigatileError as exc:
                if isinstance(exc, SourceChanged):
                    self.forget(self.store.key_for(image_id))
                    if exc.key:
                        self.forget(exc.key)
                if not outer:
                    extra = {"image": image_id, "error": exc.code, "s3_gets": spent.stats.gets}
                    logger.info("refused", extra=extra | {"s3_bytes": spent.stats.bytes})
                raise

    def forget(self, key: str) -> None:
        """Drop everything cached of `key`, every version: its reader (and the version it
        learnt), descriptors, open images, blocks and spans."""
        self._readers.pop(key)
        self._dicom.drop_where(lambda k: k[0] == key)
        self._sources.drop_where(lambda k: k[0] == key)
        self.images.forget(self.store.name, key)
        self.blocks.drop_where(lambda k: k[:2] == (self.store.name, key))

    def source(self, image_id: str, page: int = 0) -> Served:
        """The page as clients see it and what its pixels are read from (kept while warm)."""
        reader = self.reader(image_id)
        key = (reader.key, reader.version().etag, page)
        served = self._sources.get_or_make(key, lambda: self._open(reader, page))
        if self.pyramids.look_again(served) or served.source.changed():
            self._forget(served)
            served = self._sources.get_or_make(key, lambda: self._open(reader, page))
        return served

    def _forget(self, served: Served) -> None:
        src = served.source
        self._sources.pop((src.reader.key, src.object_version.etag, src.page))

    def _open(self, reader: ObjectReader, page: int) -> Served:
        src = self._source_image(reader, page)
        return self.pyramids.serve(src, lambda key: self._source_image(self._new_reader(key), 0))

    def _source_image(self, reader: ObjectReader, page: int) -> SourceImage:
        s = self.settings
        return SourceImage(reader, self.images, s.max_image_pixels, s.max_decode_pixels, page)

    # -- operations --------------------------------------------------------------------
    def describe(self, image_id: str, page: int = 0) -> SourceImage:
        """The source page's header as clients see it: size, format, levels, version, pages."""
        with self._request(image_id):
            return self.source(image_id, page).source

    def meta(self, image_id: str, tile_size: int, page: int = 0) -> dict:
        with self._request(image_id):
            served = self.source(image_id, page)
            src, original = served.pixels, served.source
            stretch = default_stretch(src)  # of the pixels served (a derived pyramid's, if any)
            first = src.open(src.base_level.options).image
        grid = TileGrid(src.width, src.height, tile_size)
        return {
            "width": src.width,
            "height": src.height,
            "tile_size": tile_size,
            "max_level": grid.max_level,
            "format": original.format,
            "flavor": original.flavor,  # the scanner layout recognised: "aperio", "philips", "leica", "ome" …
            "levels": grid.levels(),
            "version": original.version.etag,
            "source_levels": src.stored_levels,
            "page": page,
            "pages": original.pages,
            "associated": list(original.associated),
            "data_type": first.format,  # libvips' band format: uchar, ushort, short, float …
            "bands": first.bands,
            "channels": list(src.channels),  # an OME-TIFF's, by name: the bands a stretch chooses from
            # An OME-TIFF's Z and T sizes and the plane this page is; None for other images.
            "planes": None if src.planes is None else vars(src.planes),
            "stretch": None if stretch is None else stretch.describe(),
        }

    def tile(
        self,
        image_id: str,
        grid_for: Callable[[int, int], Grid],
        level: int,
        x: int,
        y: int,
        fmt: str,
        quality: int | None,
        page: int = 0,
        stretch: StretchRequest | None = None,
    ) -> Tile:
        """Tile (x, y) of `level` in the grid `grid_for(width, height)` lays over the page,
        non-8-bit data stretched as `stretch` asks (None: the image's default)."""

        def plan(src: SourceImage) -> Plan:
            grid = grid_for(src.width, src.height)
            box = grid.tile_box(level, x, y)
            return Plan(grid.scale(level), grid.level_size(level), box, box[2:], stretch=stretch)

        return self.render(image_id, plan, fmt, quality, page)

    def render(
        self,
        image_id: str,
        plan_for: Callable[[SourceImage], Plan],
        fmt: str,
        quality: int | None,
        page: int = 0,
    ) -> Tile:
        """Render the plan `plan_for(source)` makes of `page`, encoded as `fmt` at `quality`
        (None: the default, or a stored JPEG tile's own quality when it can be served as it is)."""
        deadline = time.monotonic() + self.settings.deadline_ms / 1000
        try:
            with self._request(image_id) as spent:
                return self._render(image_id, page, plan_for, fmt, quality, deadline, spent.stats)
        finally:
            memory.after_render()

    def _render(self, image_id, page, plan_for, fmt, quality, deadline: float, stats: ReadStats) -> Tile:
        served = self.source(image_id, page)
        src = served.pixels
        plan = plan_for(src)
        if time.monotonic() > deadline:  # opening the image took it all
            raise DeadlineExceeded("the request's time budget ran out before rendering")
        if fmt == "jpeg" and self.settings.passthrough:
            start = time.perf_counter()
            body = stored_tile(src, plan, quality)
            if body is not None:
                elapsed = (time.perf_counter() - start) * 1000
                width, height = plan.out
                return Tile(body, MEDIA_TYPES[fmt], width, height, stats, elapsed, passthrough=True)
        prefetch(src, plan)  # the stored tiles the render reads, in a few merged GETs
        with self._renders:
            if time.monotonic() > deadline:  # waiting for a render slot
                raise DeadlineExceeded("the request's time budget ran out before rendering")
            start = time.perf_counter()
            reads, image = self._render_or_wait(image_id, page, served, plan, deadline)
            keep_icc = plan.icc == "keep"
            body = run_guarded(
                reads, self.images, image, lambda: encode(image, fmt, quality or DEFAULT_QUALITY, keep_icc), deadline
            )
            elapsed = (time.perf_counter() - start) * 1000
        if len(body) > self.settings.max_response_bytes:  # Lambda's payload limit, after base64
            raise TooLarge(f"the encoded image is {len(body)} bytes, over {self.settings.max_response_bytes}")
        return Tile(body, MEDIA_TYPES[fmt], image.width, image.height, stats, elapsed)

    def associated(self, image_id: str, name: str, fmt: str, quality: int | None) -> Tile:
        """The associated image `name` of the source (a slide's label, macro, thumbnail),
        whole, encoded as `fmt`."""
        deadline = time.monotonic() + self.settings.deadline_ms / 1000
        s = self.settings
        try:
            with self._request(image_id) as spent:
                src = self.source(image_id).source
                with self._renders:
                    start = time.perf_counter()
                    opened, image = render_associated(src, name, s.max_output_side, s.max_output_pixels)
                    body = run_guarded(
                        opened, self.images, image, lambda: encode(image, fmt, quality or DEFAULT_QUALITY), deadline
                    )
                    elapsed = (time.perf_counter() - start) * 1000
                return Tile(body, MEDIA_TYPES[fmt], image.width, image.height, spent.stats, elapsed)
        finally:
            memory.after_render()

    def _render_or_wait(self, image_id: str, page: int, served: Served, plan: Plan, deadline: float):
        """Render; a decode over the budget is the conversion policy's to settle."""
        try:
            return render(served.pixels, plan, deadline)
        except TooLarge as exc:

            def reopen() -> Served:
                self._forget(served)
                return self.source(image_id, page)

            return render(self.pyramids.over_budget(served, exc, reopen).pixels, plan, deadline)


def tile_etag(version: ObjectVersion, *params) -> str:
    """Strong ETag from the source version and every parameter that shapes the bytes."""
    text = "|".join(map(str, (RENDER_VERSION, __version__, version.etag, *params)))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def warm_up(tiler: Tiler) -> None:
    """Create now what the first request would: pyvips and libvips, the store and its boto3
    client. For Lambda's init phase or SnapStart's before-snapshot hook."""
    from .vips import vips

    vips()
    tiler.store.warm()
