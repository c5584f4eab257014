"""Hand freed heap memory back to the system every so many renders.

Renders allocate and free many buffers of a few hundred KiB from several threads; glibc
keeps what they free in its arenas, so RSS climbed ~11 MiB per 1,000 tiles (~56 MiB for
IIIF regions) with no live object behind it — `malloc_trim(0)` every 1,000 requests kept
it flat (`python -m infra.bench soak`). A trim takes a few ms; every 100 renders it
costs ~0.03 ms a tile. Not glibc (macOS, musl): nothing to do.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable

EVERY = 100

_trim: Callable[[int], int] | None
try:
    _trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _trim = None
_count = itertools.count(1)


def after_render() -> None:
    if _trim is not None and next(_count) % EVERY == 0:
        _trim(0)
