"""Several objects read as one: each version pinned, laid one after another.

A DICOM WSI series keeps each level in its own object; libvips reads one source. Shown the
objects end to end (formats.dicom writes the TIFF directories whose offsets point into
them), the series is one multi-level image and every rule for reading a tiled TIFF by
ranges applies. Each read goes to the object it falls in, through that object's own
reader, block cache and version pin: a read never mixes objects or versions.
"""

from __future__ import annotations

import bisect
import hashlib

from ..errors import ImageNotFound, SourceChanged
from .base import ObjectVersion
from .reader import ObjectReader


class JoinedReader:
    """`parts` (reader, version) as one object, known by `key` (the image opened), whose
    version is the set of all their versions. Reads past the last part's end are empty (the
    patches a source shows there fill them)."""

    def __init__(self, key: str, parts: list[tuple[ObjectReader, ObjectVersion]]):
        first = parts[0][0]
        self.store, self.key = first.store, key
        self.parts = parts
        self.starts: list[int] = []  # where each part begins in the joined object
        at = 0
        for _, version in parts:
            self.starts.append(at)
            at += version.size
        # The version set: any part replaced (another ETag) is another joined version.
        listing = "\n".join(f"{reader.key}:{version.etag}" for reader, version in parts)
        modified = [v.last_modified for _, v in parts if v.last_modified is not None]
        self._version = ObjectVersion(
            at, hashlib.sha256(listing.encode()).hexdigest()[:32], max(modified) if modified else None
        )

    def version(self) -> ObjectVersion:
        return self._version

    def changed(self) -> bool:
        """Whether a part is now another version, or gone: each part's reader checks its
        version again (one GET) once its version_ttl has passed, as for any object."""
        for reader, version in self.parts:
            try:
                if reader.version().etag != version.etag:
                    return True
            except ImageNotFound:
                return True
        return False

    def part_at(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def read(self, offset: int, length: int, exact: bool = False, version: ObjectVersion | None = None) -> bytes:
        """Bytes at `offset` of the joined object; a read across parts is joined from each."""
        end = min(offset + length, self._version.size)
        chunks = []
        while offset < end:
            k = self.part_at(offset)
            reader, part = self.parts[k]
            start = self.starts[k]
            take = min(end, start + part.size) - offset
            chunks.append(self._pinned(reader, part, offset - start, take, exact))
            offset += take
        return b"".join(chunks)

    def prefetch(self, ranges: list[tuple[int, int]], version: ObjectVersion, blocks: bool = False) -> int:
        """ObjectReader.prefetch, each range sent to its part (a stored tile lies in one)."""
        by_part: dict[int, list[tuple[int, int]]] = {}
        for offset, length in ranges:
            k = self.part_at(offset)
            if k >= 0 and offset + length <= self.starts[k] + self.parts[k][1].size:
                by_part.setdefault(k, []).append((offset - self.starts[k], length))
        return sum(self.parts[k][0].prefetch(found, self.parts[k][1], blocks) for k, found in by_part.items())

    @staticmethod
    def _pinned(reader: ObjectReader, version: ObjectVersion, offset: int, length: int, exact: bool) -> bytes:
        try:
            return reader.read(offset, length, exact, version)
        except ImageNotFound:  # a part deleted since the series was opened: it changed
            changed = SourceChanged(f"{reader.key} is no longer there")
            changed.key = reader.key
            raise changed from None


# What an open image reads through: one object, or a series' objects joined.
AnyReader = ObjectReader | JoinedReader
