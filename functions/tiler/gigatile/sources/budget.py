"""What one request may read from the store: a number of GETs and of bytes.

A hostile file can make a format's reader ask for absurd ranges (a tile whose byte count
says 4 GiB, an IFD chain walked to the end of a multi-GB object), and every GET is billed
and takes time. Each request therefore carries a budget, checked in the one place every
read goes through (ObjectReader) before a GET is sent: the range asked for (already
clamped to the object's size) must fit in what is left, else ReadBudgetExceeded (413).

The budget of the request a thread works for is a context variable, set by the tiler
around each operation. libvips decodes in its own worker threads, which do not see it:
the range source a render reads through carries that render's budget for them
(`RangeSource.budget`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from ..errors import ReadBudgetExceeded


@dataclass
class ReadStats:
    gets: int = 0
    bytes: int = 0
    hits: int = 0


class ReadBudget:
    def __init__(self, max_gets: int, max_bytes: int):
        self.max_gets = max_gets
        self.max_bytes = max_bytes
        self.stats = ReadStats()
        self._asked = 0  # bytes asked for, counted before the GET (the answer may be shorter)
        self._lock = threading.Lock()

    def charge(self, length: int) -> None:
        """Count one GET of `length` bytes about to be sent, or refuse it."""
        with self._lock:
            if self.stats.gets + 1 > self.max_gets:
                raise ReadBudgetExceeded(
                    f"the request needs more than {self.max_gets} reads from storage "
                    f"(read {self.stats.gets} GETs, {self.stats.bytes} bytes): a corrupt file, or one that "
                    "needs a tiled pyramid"
                )
            if self._asked + length > self.max_bytes:
                raise ReadBudgetExceeded(
                    f"the request needs more than {self.max_bytes} bytes from storage "
                    f"(read {self.stats.bytes} bytes in {self.stats.gets} GETs, "
                    f"the next read asks {length}): a corrupt file, or one that needs a tiled pyramid"
                )
            self.stats.gets += 1
            self._asked += length

    def gets_left(self) -> int:
        with self._lock:
            return self.max_gets - self.stats.gets

    def received(self, length: int) -> None:
        with self._lock:
            self.stats.bytes += length

    def hit(self) -> None:
        with self._lock:
            self.stats.hits += 1


_current: ContextVar[ReadBudget | None] = ContextVar("gigatile_read_budget", default=None)


def current() -> ReadBudget | None:
    """The budget of the request this thread reads for; None outside requests (the
    converter, the CLI): nothing is limited there."""
    return _current.get()


@contextlib.contextmanager
def using(budget: ReadBudget | None) -> Iterator[ReadBudget | None]:
    """Charge this thread's reads to `budget` while inside (a libvips worker reading for a
    render); one already in effect (the request's own thread) is kept."""
    if budget is None or _current.get() is not None:
        yield _current.get()
        return
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


@contextlib.contextmanager
def request(max_gets: int, max_bytes: int) -> Iterator[ReadBudget]:
    """A new budget for the reads of one request; inside another (an operation calling
    another), the outer request's."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    budget = ReadBudget(max_gets, max_bytes)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
