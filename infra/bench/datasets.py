"""The benchmark's datasets, generated reproducibly and cached (git-ignored).

- pyramid: the 30,000 × 50,000 tiled pyramidal JPEG TIFF (256 px tiles, Q85) written by
  libvips — the same file `make demo` serves;
- cog: the same pixels as a Cloud-Optimized GeoTIFF written by GDAL (rasterio's COG driver);
- giant: a 100,000 × 100,000 pyramid for the memory test (a repeated texture, so that it
  is quick to write; memory depends on tile counts and sizes, not on the content);
- baseline: a 12,000 × 16,000 baseline (non-tiled) JPEG for the whole-object path;
- static: `dzsave` tiles of the pyramid, the pre-tiled floor (only the tiles a run needs
  are uploaded).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from infra.local_stack import make_pyramid, pattern


@dataclass(frozen=True)
class Datasets:
    pyramid: Path
    cog: Path
    giant: Path
    baseline: Path
    static: Path  # dzsave folder: <static>_files/<level>/<x>_<y>.jpeg


def _timed(label: str, path: Path, make) -> Path:
    if not path.exists():
        start = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        make(tmp)
        tmp.rename(path)
        print(f"  made {label} {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def make_cog(source: Path, path: Path) -> Path:
    """The pyramid's full-resolution pixels as a COG: JPEG Q85, 256 px blocks, GDAL's overviews."""
    import rasterio
    from rasterio.shutil import copy

    def write(tmp: Path) -> None:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=512):
            copy(
                str(source),
                str(tmp),
                driver="COG",
                COMPRESS="JPEG",
                QUALITY=85,
                BLOCKSIZE=256,
                BIGTIFF="YES",
                OVERVIEW_RESAMPLING="AVERAGE",
            )

    return _timed("COG", path, write)


def make_giant(path: Path, width: int, height: int) -> Path:
    def write(tmp: Path) -> None:
        texture = pattern(4096, 4096, seed=5).copy_memory()  # computed once, not once per copy
        image = texture.replicate(-(-width // 4096), -(-height // 4096)).crop(0, 0, width, height)
        image.tiffsave(
            str(tmp), tile=True, tile_width=256, tile_height=256, pyramid=True, subifd=True,
            compression="jpeg", Q=85, bigtiff=True,
        )  # fmt: skip

    return _timed("giant pyramid", path, write)


def make_baseline(path: Path, width: int, height: int) -> Path:
    return _timed("baseline JPEG", path, lambda tmp: pattern(width, height, seed=9).jpegsave(str(tmp), Q=85))


def make_static(source: Path, folder: Path) -> Path:
    """`vips dzsave` of the pyramid: 256 px tiles, no overlap, JPEG Q85 (the viewer's floor)."""
    from gigatile.vips import vips

    base = folder / "static"
    if not (folder / "static.dzi").exists():
        start = time.perf_counter()
        shutil.rmtree(folder / "static_files", ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        vips().Image.new_from_file(str(source)).dzsave(str(base), tile_size=256, overlap=0, suffix=".jpeg[Q=85]")
        print(f"  made dzsave tiles in {time.perf_counter() - start:.0f} s", flush=True)
    return base


def build(cache: Path, width: int, height: int, giant: int, baseline: tuple[int, int]) -> Datasets:
    suffix = f"{width}x{height}"
    pyramid = make_pyramid(cache / f"sample-{suffix}.tif", width, height)
    return Datasets(
        pyramid=pyramid,
        cog=make_cog(pyramid, cache / f"cog-{suffix}.tif"),
        giant=make_giant(cache / f"giant-{giant}.tif", giant, giant),
        baseline=make_baseline(cache / f"baseline-{baseline[0]}x{baseline[1]}.jpg", *baseline),
        static=make_static(pyramid, cache / f"dz-{suffix}"),
    )
