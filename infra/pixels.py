"""Pixel comparisons, for tests and measurements."""

from __future__ import annotations

import numpy as np


def to_array(image) -> np.ndarray:
    return np.ndarray(
        buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands)
    ).astype(np.float64)


def psnr(a, b) -> float:
    x, y = to_array(a), to_array(b)
    assert x.shape == y.shape, (x.shape, y.shape)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def decode(body: bytes):
    from gigatile.vips import vips

    return vips().Image.new_from_buffer(body, "")
