"""The one place pyvips is imported: environment first, then loader policy.

libvips reads VIPS_CONCURRENCY and VIPS_BLOCK_UNTRUSTED when it starts, so they
must be in the environment before the first `import pyvips`. Import is lazy so
that settings errors and the health route do not pay for it.
"""

from __future__ import annotations

import functools
import os

# Loaders gigatile serves. Everything else (svg, pdf, magick, vips, matrix, …) stays blocked.
ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadTiff",
    "VipsForeignLoadNsgif",  # libnsgif: GIF frames
    "VipsForeignLoadHeif",
)


_concurrency = 1  # one libvips worker per render: renders are already parallel across requests


def configure(concurrency: int) -> None:
    """libvips worker threads per render (Settings.vips_concurrency); takes effect if set
    before the first vips() call."""
    global _concurrency
    _concurrency = concurrency


@functools.cache
def vips():
    os.environ.setdefault("VIPS_CONCURRENCY", str(_concurrency))
    os.environ.setdefault("VIPS_BLOCK_UNTRUSTED", "1")
    import pyvips

    # Our own LRU keeps open images; libvips' operation cache would hold pixels unbounded.
    pyvips.cache_set_max(0)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in ALLOWED_LOADERS:
        pyvips.operation_block_set(name, False)
    return pyvips


def versions() -> dict:
    pyvips = vips()
    return {
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "pyvips": pyvips.__version__,
    }
