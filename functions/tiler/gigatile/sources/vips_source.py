"""A pyvips SourceCustom over an ObjectReader: libvips sees a seekable file of known size."""

from __future__ import annotations

import os
import threading

from ..errors import GigatileError
from ..vips import vips
from .reader import ObjectReader


class RangeSource:
    """Holds the read position and the first error a callback hit.

    An exception inside on_read would reach libvips only as EOF or a short read, so
    it is recorded here and re-raised by `raise_pending()` after the libvips call.
    """

    def __init__(self, reader: ObjectReader):
        self.reader = reader
        self.size = reader.version().size
        self._pos = 0
        # Set once the header is parsed and the format is known to be random-access:
        # from then on each read is a tile's bytes, fetched exactly.
        self.exact_reads = False
        self._error: GigatileError | None = None
        # libvips worker threads call the handlers; the position is shared state.
        self._lock = threading.Lock()
        self.source = vips().SourceCustom()
        self.source.on_read(self._on_read)
        self.source.on_seek(self._on_seek)

    def _on_read(self, length: int) -> bytes | None:
        with self._lock:
            try:
                data = self.reader.read(self._pos, length, self.exact_reads)
            except GigatileError as exc:
                self._error = self._error or exc
                return None
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
