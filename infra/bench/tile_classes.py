"""Where the CPU of the `iipsrv` command's workload A goes, by kind of tile, in-process.

    python -m infra.bench tile-classes [--width 12000 --height 20000] [--tiles 1000] [--repeats 5]
        [--workload A] [--profile N]

A smaller libvips page pyramid with the `iipsrv` command's layout (256 px JPEG tiles, Q85,
one page per level), served from a local folder so that no S3 read is counted; the
workload's first visits (IIIF 2 URLs as OpenSeadragon asks them) go through the IIIF
route's plan and `Tiler.render`, as the route calls it, each tile `--repeats` times (its
bytes cached after the first; libvips' operation cache is off, so every repeat decodes
and encodes again). Each tile is put in one class:

- pass-through: a stored tile's bytes, as they are;
- one stored tile: rendered at a stored level's scale from one stored tile (edge tiles);
- several stored tiles: rendered at a stored level's scale from more than one;
- resampled: read from a finer level and resized (the view's scale is no stored level's,
  e.g. a `full` region whose output size is rounded, or below the smallest level).

Prints CPU ms per tile (time.process_time: the first visit, and the lowest of the
repeats) per class and for the whole list; `--profile N` prints cProfile's top N functions of the rendered tiles.
`--pillow` also times, for the tiles of one stored tile, what iipsrv does (JTL): the
stored JPEG tile decoded by Pillow, cropped and encoded at the same quality (4:4:4, as
libvips at Q ≥ 90), without the edge pixel a floor-halved level repeats: what moving
that path off libvips would save.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from pathlib import Path

from infra.local_stack import make_pyramid

CLASSES = ("pass-through", "one stored tile", "several stored tiles", "resampled")


def classify(src, plan, passed: bool) -> str:
    """The class of a tile from its plan: which stored tiles of which level it reads."""
    if passed:
        return "pass-through"
    level, _, downsample = src.level_for(plan.scale)
    if downsample != plan.scale:
        return "resampled"
    ifd = src.tiff.ifd_for(dict(level.options))
    left, top, width, height = plan.box
    cols = (left + width - 1) // ifd.tile_width - left // ifd.tile_width + 1
    rows = (top + height - 1) // ifd.tile_height - top // ifd.tile_height + 1
    return "one stored tile" if cols * rows == 1 else "several stored tiles"


def timed(fn, *args) -> float:
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def stored_jpeg(src, plan) -> tuple[bytes, tuple[int, int, int, int]]:
    """The stored JPEG tile the plan's box lies in, as pass-through serves it, and the box
    (left, top, right, bottom) within it, clamped to the stored level."""
    from gigatile.formats import jpeg
    from gigatile.formats.tiff import PHOTOMETRIC_RGB

    ifd = src.tiff.ifd_for(dict(src.level_at(plan.scale).options))
    tiles = src.tiff.tiled_level(ifd)
    left, top, width, height = plan.box
    col, row = left // ifd.tile_width, top // ifd.tile_height
    offset, length = tiles.tile_range(col, row)
    marker = jpeg.ADOBE_RGB if ifd.photometric == PHOTOMETRIC_RGB else b""
    body = jpeg.splice(tiles.jpeg_tables, src.reader.read(offset, length, exact=True, version=src.version), marker)
    x0, y0 = col * ifd.tile_width, row * ifd.tile_height
    right, bottom = min(left + width, ifd.width) - x0, min(top + height, ifd.height) - y0
    return body, (left - x0, top - y0, right, bottom)


def pillow_jtl(body: bytes, box: tuple[int, int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(body)).crop(box).save(out, "JPEG", quality=90, subsampling=0)
    return out.getvalue()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench tile-classes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--width", type=int, default=12000)
    parser.add_argument("--height", type=int, default=20000)
    parser.add_argument("--tiles", type=int, default=1000, help="draws (the list is their first visits)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workload", choices=["A", "B", "C"], default="A")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N of the rendered tiles")
    parser.add_argument("--pillow", action="store_true", help="time Pillow's JTL of the one-stored-tile class")
    parser.add_argument("--cache", default=".cache/demo")
    args = parser.parse_args(argv)

    image = make_pyramid(
        Path(args.cache) / f"sample-{args.width}x{args.height}-pages.tif", args.width, args.height, subifd=False
    )
    os.environ.update(
        GIGATILE_SOURCE=str(image.parent.resolve()), POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING"
    )
    for line in run(image.name, args):
        print(line)


def run(key: str, args) -> list[str]:
    from gigatile.config import Settings
    from gigatile.imaging.geometry import DeepZoomGrid
    from gigatile.imaging.plan import Plan
    from gigatile.protocols.iiif import Limits, plan_for
    from gigatile.service import Tiler
    from infra.bench.iipsrv import workloads

    tiler = Tiler(Settings.from_env())
    served = tiler.source(key)
    src = served.pixels
    stored = src.stored_levels
    tiles = workloads(src.width, src.height, stored, args.tiles, args.seed)[args.workload]
    limits = Limits.of(tiler.settings)

    def plan_of(kind: str, tile: tuple):
        if kind == "iiif":
            return plan_for(*tile, "0", "default", limits, 2)
        level, x, y = tile

        def deepzoom(s) -> Plan:
            grid = DeepZoomGrid(s.width, s.height, 256)
            box = grid.tile_box(level, x, y)
            return Plan(grid.scale(level), grid.level_size(level), box, box[2:])

        return deepzoom

    rows: dict[str, list[float]] = {name: [] for name in CLASSES}
    first: dict[str, list[float]] = {name: [] for name in CLASSES}  # the first visit (its bytes read)
    pillow: list[float] = []
    profiler = cProfile.Profile() if args.profile else None
    for kind, tile in tiles:
        plan, spent = plan_of(kind, tile), []
        for _ in range(args.repeats):
            start = time.process_time()
            result = tiler.render(key, plan, "jpeg", None)
            spent.append(time.process_time() - start)
        if profiler is not None and not result.passthrough:
            profiler.runcall(tiler.render, key, plan, "jpeg", None)
        kind_of = classify(src, plan(src), result.passthrough)
        rows[kind_of].append(min(spent) * 1000)
        first[kind_of].append(spent[0] * 1000)
        if args.pillow and kind_of == "one stored tile":
            body, box = stored_jpeg(src, plan(src))
            pillow.append(min(timed(pillow_jtl, body, box) for _ in range(args.repeats)) * 1000)

    every = [ms for values in rows.values() for ms in values]
    every_first = [ms for values in first.values() for ms in values]
    out = [
        f"{key}: {src.width}×{src.height}, {stored} stored levels; workload {args.workload}: {len(every)} first "
        f"visits of {args.tiles} draws (seed {args.seed}); CPU ms per tile: the first visit, and the lowest "
        f"of {args.repeats} (the tile's bytes cached)",
        "| class | tiles | share | first visit | lowest | lowest, sum |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in rows.items():
        if values:
            mean, mean_first = sum(values) / len(values), sum(first[name]) / len(values)
            share = f"{len(values) / len(every):.0%}"
            out.append(f"| {name} | {len(values)} | {share} | {mean_first:.3f} | {mean:.3f} | {sum(values):.0f} |")
    mean_first = sum(every_first) / len(every)
    out.append(f"| all | {len(every)} | 100% | {mean_first:.3f} | {sum(every) / len(every):.3f} | {sum(every):.0f} |")
    if pillow:
        out.append(f"one stored tile by Pillow's JTL: {sum(pillow) / len(pillow):.3f} CPU ms per tile")
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.profile)
        out.append(text.getvalue())
    return out
