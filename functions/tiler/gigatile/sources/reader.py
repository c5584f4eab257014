"""Reads of one object at arbitrary offsets, turned into as few ranged GETs as possible.

- The first GET fetches block 0 without a version: its Content-Range and ETag tell the
  object size and version (no HEAD). Every later GET is pinned to that ETag.
- Small reads (libvips parses headers a few bytes at a time, JPEG reads 4 KiB) go through
  aligned blocks kept in the shared byte-bounded LRU; runs of sequential reads fetch growing
  windows of blocks.
- Every GET is charged to the request's read budget (sources/budget.py) before it is
  sent, and every range is clamped to the object's size.
- An image opened from one version keeps reading that version (`read(..., version=)`):
  once the object changed, its reads fail with SourceChanged, never mix two files' bytes.
- Large reads, and every pixel read of a random-access (tiled TIFF) image, when not
  already covered by blocks, are fetched exactly in one GET and kept as spans, so a new
  tile costs one GET of its own bytes and a repeated tile costs nothing.
- A render that needs several stored tiles says so first (`prefetch`): their ranges are
  merged where less than MERGE_GAP apart (as GDAL merges ranged reads) and the merged
  ranges fetched in parallel, each tile kept as its own span for libvips' exact reads.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ..errors import SourceChanged
from ..lru import LRU
from . import budget
from .base import ObjectVersion, Store

# Reads at least this long are fetched exactly instead of through blocks.
EXACT_READ_MIN = 8 * 1024
# Longest readahead window (in blocks) for sequential reads (JPEG, PNG decodes).
MAX_READAHEAD_BLOCKS = 32
# Ranges to prefetch closer than this are fetched in one GET, the gap read and dropped:
# a GET's round trip costs more than 64 KiB of transfer (GDAL merges ranges the same way).
MERGE_GAP = 64 * 1024
# Merged ranges fetched at once, each over its own connection.
PREFETCH_THREADS = 8
_prefetch_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _prefetch_pool
    with _pool_lock:
        if _prefetch_pool is None:
            _prefetch_pool = ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="gigatile-prefetch")
        return _prefetch_pool


def merge_ranges(ranges: list[tuple[int, int]], gap: int = MERGE_GAP) -> list[list[tuple[int, int]]]:
    """(start, end) ranges grouped so that each group is one read: sorted, a range joins
    the group before it when it starts less than `gap` bytes after that group's end."""
    groups: list[list[tuple[int, int]]] = []
    for start, end in sorted(ranges):
        if groups and start - groups[-1][-1][1] < gap:
            groups[-1].append((start, end))
        else:
            groups.append([(start, end)])
    return groups


class ObjectReader:
    """All byte access to one key of one store; thread-safe."""

    def __init__(
        self, store: Store, key: str, cache: LRU[bytes], block_size: int, version_ttl: float, open_bytes: int = 0
    ):
        self.store = store
        self.key = key
        self.cache = cache
        self.block_size = block_size
        self.version_ttl = version_ttl
        # The first GET's size, in whole blocks: a COG keeps every IFD and tile-offset array
        # in its first few hundred KiB, so one larger first read saves round trips at open.
        self.open_blocks = max(1, -(-open_bytes // block_size))
        self.open_bytes = self.open_blocks * block_size  # what the first GET asks for
        self._version: ObjectVersion | None = None
        self._checked_at = 0.0
        self._last_fetched = -2
        self._streak = 0
        self._lock = threading.Lock()

    # -- version ---------------------------------------------------------------------
    def version(self) -> ObjectVersion:
        """The pinned version, learnt (or re-checked after `version_ttl`) with one GET of the
        first `open_blocks` blocks."""
        with self._lock:
            version, checked_at = self._version, self._checked_at
        if version is not None and time.monotonic() - checked_at < self.version_ttl:
            return version
        bs = self.block_size
        data, version = self._get(0, self.open_blocks * bs - 1, None)
        with self._lock:
            self._version = version
            self._checked_at = time.monotonic()
        for i in range(0, max(len(data), 1), bs):
            self.cache.put(self._block_key(version, i // bs), data[i : i + bs])
        return version

    def forget_version(self) -> None:
        """After SourceChanged: the next read learns the new version (old blocks age out)."""
        with self._lock:
            self._version = None

    # -- reads -----------------------------------------------------------------------
    def read(self, offset: int, length: int, exact: bool = False, version: ObjectVersion | None = None) -> bytes:
        """Bytes at offset of `version` (default: the current one); `exact` fetches a miss as
        exactly that range (random-access pixels)."""
        version = version or self.version()
        end = min(offset + length, version.size)
        if offset >= end:
            return b""
        bs = self.block_size
        first, last, blocks = self._cached_blocks(version, offset, end)
        missing = next((i for i, b in enumerate(blocks) if b is None), None)
        if missing is None:
            self._count_hit()
            return b"".join(b for b in blocks if b is not None)[offset - first * bs : end - first * bs]
        if exact or end - offset >= EXACT_READ_MIN:
            span = self.cache.get(self._span_key(version, offset, end))  # prefetched whole
            if span is not None:
                self._count_hit()
                return span
            # Use the cached leading blocks, if any, and fetch the rest exactly.
            start = max(offset, (first + missing) * bs)
            head = b"".join(b for b in blocks[:missing] if b is not None)[offset - first * bs : start - first * bs]
            return head + self._read_exact(version, start, end)
        return self._read_blocks(version, offset, end, first, last, blocks)

    def prefetch(self, ranges: list[tuple[int, int]], version: ObjectVersion, blocks: bool = False) -> int:
        """Fetch the (offset, length) ranges of `version` about to be read, in as few GETs as
        merging allows, those GETs in parallel; returns the GETs sent. Each range is kept
        as the span its exact read looks up (a render's tiles), or with `blocks` as the
        aligned blocks around it (directories libvips parses a few bytes at a time)."""
        bs = self.block_size
        wanted = []
        for offset, length in ranges:
            if offset < 0 or length <= 0:
                raise ValueError(f"no such range: {offset}, {length}")
            end = min(offset + length, version.size)
            if blocks:
                wanted += [
                    (i * bs, min((i + 1) * bs, version.size))
                    for i in range(offset // bs, (end - 1) // bs + 1)
                    if offset < end and self.cache.get(self._block_key(version, i)) is None
                ]
            elif offset < end and not self._cached(version, offset, end):
                wanted.append((offset, end))
        groups = merge_ranges(sorted(set(wanted)))
        spent = budget.current()  # pool threads do not see the request's context
        if spent is not None and spent.gets_left() <= len(groups):
            # A prefetch is a guess: it never spends the GETs the reads themselves need.
            return 0

        def fetch(group: list[tuple[int, int]]) -> None:
            lo, hi = group[0][0], max(end for _, end in group)
            with budget.using(spent):
                data, _ = self._get(lo, hi - 1, version.etag)
            for start, end in group:
                key = self._block_key(version, start // bs) if blocks else self._span_key(version, start, end)
                self.cache.put(key, data[start - lo : end - lo])

        if len(groups) == 1:
            fetch(groups[0])
        elif groups:
            for future in [_pool().submit(fetch, group) for group in groups]:
                future.result()  # the first failure (S3, budget, changed object) is the caller's
        return len(groups)

    def fetched(self, offset: int, length: int, version: ObjectVersion) -> bytes | None:
        """Bytes at offset of `version` if its blocks are all cached, else None: never a GET
        (what a walk through directories can parse before it decides what to fetch)."""
        end = min(offset + length, version.size)
        if offset >= end:
            return b""
        bs = self.block_size
        first, last, blocks = self._cached_blocks(version, offset, end)
        if any(b is None for b in blocks):
            return None
        if first == last:  # the usual few bytes of a directory: no copy of the whole block
            return blocks[0][offset - first * bs : end - first * bs] if blocks[0] is not None else None
        return b"".join(b for b in blocks if b is not None)[offset - first * bs : end - first * bs]

    def _cached_blocks(self, version: ObjectVersion, offset: int, end: int) -> tuple[int, int, list[bytes | None]]:
        """The first and last block of offset..end, and each block between, or None if not cached."""
        first, last = offset // self.block_size, (end - 1) // self.block_size
        return first, last, [self.cache.get(self._block_key(version, i)) for i in range(first, last + 1)]

    def _cached(self, version: ObjectVersion, offset: int, end: int) -> bool:
        """Whether reading offset..end needs no GET: kept as a span, or inside cached blocks."""
        if self.cache.get(self._span_key(version, offset, end)) is not None:
            return True
        bs = self.block_size
        return all(
            self.cache.get(self._block_key(version, i)) is not None for i in range(offset // bs, (end - 1) // bs + 1)
        )

    def _span_key(self, version: ObjectVersion, offset: int, end: int):
        return (self.store.name, self.key, version.etag, "span", offset, end)

    def _read_exact(self, version: ObjectVersion, offset: int, end: int) -> bytes:
        span_key = self._span_key(version, offset, end)
        data = self.cache.get(span_key)
        if data is not None:
            self._count_hit()
            return data
        data, _ = self._get(offset, end - 1, version.etag)
        self.cache.put(span_key, data)
        return data

    def _read_blocks(self, version, offset, end, first, last, blocks) -> bytes:
        bs = self.block_size
        missing = [first + i for i, b in enumerate(blocks) if b is None]
        lo, hi = missing[0], missing[-1]
        with self._lock:
            # Misses that each need the block after the last one fetched are a sequential
            # decode (JPEG, PNG) or a walk through IFDs packed at the end of a file: fetch
            # a window that doubles with the run, so it costs a few GETs, not one per block.
            self._streak = self._streak + 1 if lo == self._last_fetched + 1 else 0
            ahead = min(2**self._streak, MAX_READAHEAD_BLOCKS) - 1 if self._streak else 0
            hi = min(hi + ahead, (version.size - 1) // bs)
            self._last_fetched = hi
        data, _ = self._get(lo * bs, min((hi + 1) * bs, version.size) - 1, version.etag)
        for i in range(lo, hi + 1):
            chunk = data[(i - lo) * bs : (i - lo + 1) * bs]
            self.cache.put(self._block_key(version, i), chunk)
            if first <= i <= last:
                blocks[i - first] = chunk
        return b"".join(blocks)[offset - first * bs : end - first * bs]

    def _get(self, start: int, end: int, etag: str | None) -> tuple[bytes, ObjectVersion]:
        spent = budget.current()
        if spent is not None:
            spent.charge(end - start + 1)  # refused here, before the GET is sent
        try:
            data, version = self.store.fetch(self.key, start, end, etag)
        except SourceChanged as exc:
            self.forget_version()
            exc.key = self.key
            raise
        if spent is not None:
            spent.received(len(data))
        return data, version

    def _count_hit(self) -> None:
        spent = budget.current()
        if spent is not None:
            spent.hit()

    def _block_key(self, version: ObjectVersion, index: int):
        return (self.store.name, self.key, version.etag, "block", index)


class ReadsVersions(Protocol):
    """Reads of a given version of an object (an ObjectReader, a JoinedReader)."""

    def read(self, offset: int, length: int, exact: bool = False, version: ObjectVersion | None = None) -> bytes: ...


class VersionReader:
    """One version of an object, for parsers that read it after it was opened (formats.tiff):
    once the object is another, its reads fail with SourceChanged."""

    def __init__(self, reader: ReadsVersions, version: ObjectVersion):
        self.reader = reader
        self.version = version

    def read(self, offset: int, length: int, exact: bool = False) -> bytes:
        return self.reader.read(offset, length, exact, self.version)
