"""A pyvips SourceCustom over an ObjectReader: libvips sees a seekable file of known size."""

from __future__ import annotations

import os
import threading
import time

from ..errors import DeadlineExceeded, GigatileError
from ..vips import vips
from . import budget
from .joined import AnyReader


def patched_size(size: int, patches: tuple[tuple[int, bytes], ...]) -> int:
    """The object's size as `patches` show it (longer when one lies past its end)."""
    return max([size] + [offset + len(value) for offset, value in patches])


def overlay(start: int, data: bytes, patches: tuple[tuple[int, bytes], ...], want: int) -> bytes:
    """`data`, read at `start`, with `patches` written over it; `want` bytes long where the
    read ran past the object's end into a patch."""
    out = bytearray(data.ljust(want, b"\0"))
    for offset, value in patches:
        lo, hi = max(offset, start), min(offset + len(value), start + len(out))
        if lo < hi:
            out[lo - start : hi - start] = value[lo - offset : hi - offset]
    return bytes(out)


class PatchedReader:
    """A version of an object as `patches` show it, for parsers (formats.tiff) that must read
    what libvips reads."""

    def __init__(self, reader, size: int, patches: tuple[tuple[int, bytes], ...]):
        self.reader = reader  # a VersionReader
        self.size = patched_size(size, patches)
        self.patches = patches

    def read(self, offset: int, length: int, exact: bool = False) -> bytes:
        data = self.reader.read(offset, length, exact) if length else b""
        return overlay(offset, data, self.patches, max(0, min(length, self.size - offset)))


class RangeSource:
    """Holds the read position and the first error a callback hit.

    An exception inside on_read would reach libvips only as EOF or a short read, so
    it is recorded here and re-raised by `raise_pending()` after the libvips call.
    """

    def __init__(self, reader: AnyReader, patches: tuple[tuple[int, bytes], ...] = ()):
        self.reader = reader
        # (offset, bytes) shown in place of the object's own: a few bytes of a directory,
        # to let libvips read an image the way the format layer says it is; past the end,
        # bytes the object seems to end with (a DICOM instance's TIFF directory).
        self.patches = patches
        # Pinned: an image reads the version it was opened from, or fails (SourceChanged).
        self.version = reader.version()
        self.size = patched_size(self.version.size, patches)
        self._pos = 0
        # Set once the header is parsed and the format is known to be random-access:
        # from then on each read is a tile's bytes, fetched exactly.
        self.exact_reads = False
        # The latest deadline of the renders reading through this source (monotonic time):
        # a read after it fails, so a render stuck on slow S3 ends as a 504.
        self.deadline = 0.0
        # The read budget of the latest render reading through this source, for the reads
        # libvips makes from its own worker threads (they do not see the request's context).
        self.budget: budget.ReadBudget | None = None
        self._error: GigatileError | None = None
        # libvips worker threads call the handlers; the position is shared state.
        self._lock = threading.Lock()
        self.source = vips().SourceCustom()
        self.source.on_read(self._on_read)
        self.source.on_seek(self._on_seek)

    def start_render(self, deadline: float) -> None:
        """A render of the current request reads through this source from now on."""
        with self._lock:
            self.deadline = max(self.deadline, deadline)
            self.budget = budget.current() or self.budget

    def _on_read(self, length: int) -> bytes | None:
        with self._lock:
            try:
                if self.deadline and time.monotonic() > self.deadline:
                    raise DeadlineExceeded("the request's time budget ran out while reading the image")
                with budget.using(self.budget):
                    data = self.reader.read(self._pos, length, self.exact_reads, self.version)
            except GigatileError as exc:
                self._error = self._error or exc
                return None
            if self.patches:
                data = overlay(self._pos, data, self.patches, max(0, min(length, self.size - self._pos)))
            self._pos += len(data)
            return data

    def _on_seek(self, offset: int, whence: int) -> int:
        with self._lock:
            base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}.get(whence)
            if base is None or base + offset < 0:
                return -1
            self._pos = base + offset
            return self._pos

    def raise_pending(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error
