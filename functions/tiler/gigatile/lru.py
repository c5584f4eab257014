"""The one LRU cache of the package (blocks and spans of bytes, open images, readers,
source headers): cachetools' LRUCache behind a lock, bounded by count or, with `sizeof`,
by the size of what it holds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class LRU(Generic[V]):
    def __init__(self, limit: int, sizeof: Callable[[V], int] | None = None):
        self.limit = limit
        self._sizeof = sizeof
        self._cache: LRUCache[Hashable, V] = LRUCache(limit, getsizeof=sizeof)
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: Hashable, value: V) -> None:
        """Keep `value`, evicting the least recently used; one larger than the whole limit is
        not kept."""
        if self._sizeof is not None and self._sizeof(value) > self.limit:
            return
        with self._lock:
            self._cache[key] = value

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value kept for `key`, or `make()`'s, kept (made outside the lock: opening an
        image reads S3; two threads racing on one key keep the first)."""
        value = self.get(key)
        if value is not None:
            return value
        value = make()
        with self._lock:
            kept = self._cache.get(key)
            if kept is not None:
                return kept
        self.put(key, value)
        return value

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def discard(self, value: V) -> None:
        """Drop every key holding this very object."""
        with self._lock:
            for key in [k for k, v in self._cache.items() if v is value]:
                del self._cache[key]

    def drop_where(self, wanted: Callable[[Any], bool]) -> int:
        """Drop every entry whose key `wanted` says; how many were dropped."""
        with self._lock:
            keys = [k for k in self._cache if wanted(k)]
            for key in keys:
                del self._cache[key]
        return len(keys)

    @property
    def size(self) -> int:
        """What it holds: a count, or the sum of `sizeof`."""
        with self._lock:
            return int(self._cache.currsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)
