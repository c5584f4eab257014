"""The watchdog stops a CPU-bound libvips computation at its deadline (no S3 read to refuse)."""

from __future__ import annotations

import time

import pytest

from gigatile.imaging.watchdog import Watchdog
from gigatile.vips import vips


def test_a_late_computation_is_killed_and_an_early_one_is_not():
    pyvips = vips()
    dog = Watchdog()
    slow = pyvips.Image.gaussnoise(8000, 8000).gaussblur(40)  # many seconds on one core
    start = time.monotonic()
    with pytest.raises(pyvips.Error), dog.guard(slow, start + 0.3):
        slow.avg()
    assert time.monotonic() - start < 5
    quick = pyvips.Image.black(64, 64) + 1
    with dog.guard(quick, time.monotonic() + 5):
        assert quick.avg() == 1
    assert dog._images == {}  # nothing left watched
