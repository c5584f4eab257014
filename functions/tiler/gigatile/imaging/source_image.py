"""One page of one version of one source image: its size, its levels (formats.levels), the
level to read for a scale, and the images kept beside it (a slide's label, macro,
thumbnail). A TIFF is described from its parsed directories (formats.tiff, formats.levels)
and opened by libvips only when a view first needs its pixels, one level at a time;
SubIFD levels (OME-TIFF, libvips pyramids) are parsed, at their true sizes, when a view
below full resolution first needs them. Other formats are described by libvips' header.
"""

from __future__ import annotations

import math
import threading

from ..errors import PageNotFound, TooLarge, UnsupportedImage
from ..formats import dicom, stored, vendors
from ..formats.levels import Associated, Level, Mask, is_tiled_pyramid, structure
from ..formats.tiff import (
    MAX_IFDS,
    NotRead,
    TiffError,
    TiffFile,
    directory_windows,
    header_patches,
    is_tiff,
    open_reads,
)
from ..sources.base import ObjectVersion
from ..sources.joined import AnyReader, JoinedReader
from ..sources.reader import ObjectReader, VersionReader
from ..sources.vips_source import PatchedReader, patched_size
from .dicom_series import open_series
from .opened import Opened, OpenImages, joined


class _Fetched:
    """One version's bytes fetched so far, as formats.tiff reads them (NotRead for others)."""

    def __init__(self, reader: ObjectReader, version: ObjectVersion):
        self.reader = reader
        self.version = version

    def read(self, offset: int, length: int, exact: bool = False) -> bytes:
        data = self.reader.fetched(offset, length, self.version)
        if data is None:
            raise NotRead(offset)
        return data


def _fetch_chain(reader: ObjectReader, version: ObjectVersion, tail: tuple[int, int]) -> None:
    """Fetch the directories the open parses (a page pyramid's IFDs, each behind its
    level's data) round by round: each round fetches the next directory not at hand and one
    guessed from the `tail` window (formats.tiff.directory_before), in parallel, and with
    them page 0's first tile, which libtiff reads when libvips first opens page 0 (a tile
    later), but never that tile in a round of its own. Stops when no directory is wanted
    or nothing new is fetched (the read budget keeps it for the reads); a structure this
    parser refuses is left to the parse after it to report."""
    fetched = _Fetched(reader, version)
    for _ in range(MAX_IFDS):
        try:
            wanted = open_reads(fetched, version.size, tail)
        except (TiffError, NotRead):  # a guess only: the parse after it reads what it needs
            return
        ranges = wanted.directories + ([wanted.first_tile] if wanted.first_tile else [])
        if not wanted.directories or not reader.prefetch(ranges, version, blocks=True):
            return


class SourceImage:
    def __init__(
        self,
        reader: ObjectReader,
        images: OpenImages,
        max_image_pixels: int,
        max_decode_pixels: int,
        page: int = 0,
    ):
        self.reader: AnyReader = reader
        self.images = images
        # The version of the object opened (what an open image is kept by); `version` is what
        # is read: for a DICOM series, the version set of all its objects.
        self.object_version = self.version = reader.version()
        head = reader.read(0, 132, version=self.version)
        # Bytes libvips reads in place of the object's: a DICOM series shown as a TIFF.
        self.patches: tuple[tuple[int, bytes], ...] = ()
        if vendors.is_dicom(head):  # decided from the first bytes
            try:  # the series' objects read as one (imaging.dicom_series), of their version set
                self.reader, self.patches = open_series(reader, self.version)
            except dicom.DicomError as exc:
                raise UnsupportedImage(f"{vendors.DICOM_REFUSED}: {exc}") from None
            self.version = self.reader.version()
        pinned = VersionReader(self.reader, self.version)
        # Directories beyond the first read (libvips' own pyramids): fetched in parallel
        # now, so that the walk through them costs no further round trips; from a local
        # folder, where a read costs no round trip, the walk just reads them.
        windows = directory_windows(head, self.version.size, reader.open_bytes) if reader.store.remote else []
        if windows:
            reader.prefetch(windows, self.version, blocks=True)
            _fetch_chain(reader, self.version, windows[-1])
        self.max_decode_pixels = max_decode_pixels
        self.tiff: TiffFile | None = None
        seen = PatchedReader(pinned, self.version.size, self.patches) if self.patches else pinned
        # A TIFF is described from its own directories, parsed here, and libvips checks its
        # first page's header without reading a pixel (formats.tiff.header_patches: libtiff
        # would read a tile of a JPEG-coded YCbCr page, one more round trip); libvips opens
        # a level for its pixels when a view first needs them. Anything else is described
        # by libvips' header.
        first = None if is_tiff(seen.read(0, 4)) else self.open(()).image
        self.loader = "tiff" if first is None else first.get("vips-loader").removesuffix("_source").removesuffix("load")
        # Any structure this parser refuses (found by fuzzing: a SubIFD array past the end of
        # the file) is an unreadable file, not a server error.
        try:
            self.tiff = TiffFile(seen, patched_size(self.version.size, self.patches)) if first is None else None
            if self.tiff is not None:
                self._check_header(self.tiff)
            # The scanner layout it follows ("aperio", "philips" …; None for other files).
            self.flavor = "dicom" if self.patches else vendors.flavor(self.tiff) if self.tiff is not None else None
            refused = vendors.refusal(self.flavor)
            if refused:  # before any pixel is read
                raise UnsupportedImage(refused)
            # Tiled with stored levels: the file needs no derived pyramid.
            self.tiled_pyramid = self.tiff is not None and is_tiled_pyramid(self.tiff)
            layout = structure(self.loader, first, self.tiff, page)
        except TiffError as exc:
            raise UnsupportedImage(f"not a readable TIFF: {exc}") from None
        except vendors.Unsupported as exc:
            raise UnsupportedImage(str(exc)) from None
        self.pages = layout.pages
        if not 0 <= page < self.pages:
            raise PageNotFound(f"page {page} is outside 0…{self.pages - 1}")
        # An OME-TIFF's Z and T sizes and the plane (z, t) this page is; None for other images.
        self.planes = layout.planes
        if not layout.levels:
            raise UnsupportedImage(f"page {page}: the pages of this plane's channels cannot be read as one image")
        self.page = page
        self._levels = layout.levels
        self._more_levels = layout.more_levels
        self._stored_levels = len(layout.levels) + (layout.more_levels.count if layout.more_levels else 0)
        self._levels_lock = threading.Lock()
        self.associated: dict[str, Associated] = {a.name: a for a in layout.associated}
        # An OME-TIFF's channels (names), of which the first three are the image's bands.
        self.channels = layout.channels
        if self.tiff is not None and not self.base_level.options:
            base_ifd = self.tiff.pages[0]  # page 0, whose header libvips has checked
            self.width, self.height = base_ifd.width, base_ifd.height
            # EXIF orientation (1–8), as libvips reads it: thumbnails are turned upright;
            # tiles stay in stored order.
            self.orientation = base_ifd.orientation
        else:
            base = self.open(self.base_level.options).image
            self.width, self.height = base.width, base.height
            self.orientation = base.get("orientation") if "orientation" in base.get_fields() else 1
        # Checked from the header, before any pixel is decoded: refuses decompression bombs.
        if self.width * self.height > max_image_pixels:
            raise TooLarge(f"image is {self.width}×{self.height}, over the {max_image_pixels} pixel limit")

    def _check_header(self, tiff: TiffFile) -> None:
        """libvips reads page 0's header (its size, sample type, tiling: what libvips refuses
        is 415 now, not at the first tile) without reading its pixels; not kept open."""
        patches = () if self.patches else header_patches(tiff, tiff.pages[0])  # a DICOM series: as it is
        self.images.open_once(self.reader, {}, self.patches + patches)

    def changed(self) -> bool:
        """Whether an object of its DICOM series was replaced or deleted since it was opened
        (the object opened itself is checked by whoever keeps it open, by its ETag)."""
        return isinstance(self.reader, JoinedReader) and self.reader.changed()

    @property
    def base_level(self) -> Level:
        """Full resolution (known without reading any reduced level's directory)."""
        return self._levels[0]

    @property
    def levels(self) -> tuple[Level, ...]:
        """Every level, finest first (reads every SubIFD directory not read yet)."""
        return self._levels_to(float("inf"))

    @property
    def stored_levels(self) -> int:
        """How many levels the file stores, without reading a SubIFD directory."""
        return self._stored_levels

    def _levels_to(self, scale: float) -> tuple[Level, ...]:
        """The levels known once the first coarser than `scale` is, or every one is. A read
        that fails (S3) leaves the rest to be read by a later view."""
        with self._levels_lock:
            more = self._more_levels
            while more is not None and self._levels[-1].downsample <= scale:
                found = more.level(len(self._levels) - 1, self._levels[-1].downsample)
                if found is None:  # past the last SubIFD, or one that is no coarser level
                    self._more_levels = more = None
                    break
                self._levels = (*self._levels, found)
            return self._levels

    @property
    def format(self) -> str:
        return "dicom" if self.flavor == "dicom" else self.loader

    def open(self, options: tuple, patches: tuple = ()) -> Opened:
        loaded = dict(options)
        if "n" in loaded and self.tiff is not None:
            # `n` pages `stride` apart (an OME-TIFF's channels): each opened on its own, as
            # the file's whole directory chain (formats.tiff.chain_patches), so that libvips
            # walks no other directory, and joined as bands. Read as one tall image (`n=`)
            # instead, a channel's tile rows would straddle its stored tiles' (the page
            # height is rarely a multiple of the tile height): 3 tiles read for one.
            single = {k: v for k, v in loaded.items() if k in ("subifd",)} | {"page": 0}
            parts = [
                self.images.open(self.reader, self.version.etag, single, self.patches + self.tiff.chain_patches([page]))
                for page in self.tiff_pages(loaded)
            ]
            return joined(parts)
        return self.images.open(self.reader, self.version.etag, loaded, self.patches + patches)

    def tiff_pages(self, options: dict) -> list[int]:
        """The main-chain pages libvips reads with `options` (formats.tiff.ifds_for)."""
        page, stride = int(options.get("page", 0)), int(options.get("stride", 1))
        return [page + i * stride for i in range(int(options.get("n", 1)))]

    def open_mask(self, mask: Mask) -> Opened:
        """A level's 1-bit mask, as a one-band uchar image (255 where the level is opaque)."""
        return self.open(mask.options, mask.patches)

    def level_for(self, scale: float) -> tuple[Level, Opened, float]:
        """The cheapest level whose pixels are at least as fine as 1/`scale` of the source,
        opened, and that level's exact downsample factor.

        Stored levels reduce the content exactly (libvips drops an odd last pixel:
        30000 → 15000 → … → 937; Aperio's 4× of 32914 is 8228), so the factor is the
        level's nominal downsample whenever its size matches it; levels whose size does not
        (an odd SubIFD, a resampled converter level) use their measured ratio.
        """
        level = self.level_at(scale)
        if self.tiff is not None:
            try:  # before libvips reads a byte of the level's pixels (of each channel's page)
                for ifd in self.tiff.ifds_for(dict(level.options)):
                    stored.check_chunks(self.tiff, ifd)
            except TiffError as exc:
                raise UnsupportedImage(f"not a readable TIFF: {exc}") from None
        decoded = self._decoded_at_once(level)
        if decoded > self.max_decode_pixels:
            raise TooLarge(
                f"a 1/{scale:g} view of this {self.width}×{self.height} {self.format} image "
                f"decodes {decoded} pixels at once, over the {self.max_decode_pixels} pixel budget; "
                "convert it to a tiled pyramidal TIFF"
            )
        opened = self.open(level.options)
        d = level.downsample
        nominal = level.stored_as(opened.image.width, opened.image.height, self.width, self.height)
        return level, opened, d if nominal else self.width / opened.image.width

    def level_at(self, scale: float) -> Level:
        """The coarsest level whose downsample is at most `scale`: the nearest stored level
        at least as fine as the view (a 1/8 view of a slide with levels 1, 4, 16 reads 4×)."""
        if scale <= 1:  # full resolution: no reduced level's directory is read
            return self.base_level
        return [lv for lv in self._levels_to(scale) if lv.downsample <= scale][-1]

    def _decoded_at_once(self, level: Level) -> int:
        if self.tiff is not None:  # a tile at a time, or the whole level (formats.stored)
            return stored.decoded_at_once(self.tiff, self.tiff.ifd_for(dict(level.options)))
        return math.ceil(self.width / level.downsample) * math.ceil(self.height / level.downsample)
