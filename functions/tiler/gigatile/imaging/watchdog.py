"""One thread that stops libvips computations which outlive their request's deadline.

libvips checks an image's kill flag as it computes, so setting it from another thread
ends the computation with an error. This replaced an "eval" signal handler per render,
which made RSS grow by ~5 MiB per 1,000 tiles (a Python callback connected to every
rendered image; measured by `python -m infra.bench soak`).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from typing import Any


class Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._images: dict[int, Any] = {}  # pyvips.Image
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self, image, deadline: float):
        """While inside, `image` (a pyvips.Image) is killed once `deadline` (monotonic) passes."""
        key = next(self._ids)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gigatile-watchdog", daemon=True)
                self._thread.start()
            self._images[key] = image
            heapq.heappush(self._heap, (deadline, key))
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._images.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._images:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, key = self._heap[0]
                late = deadline - time.monotonic()
                if late > 0:
                    self._cond.wait(late)
                    continue
                heapq.heappop(self._heap)
                self._images.pop(key).set_kill(True)


WATCHDOG = Watchdog()
