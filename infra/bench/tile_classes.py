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

Prints CPU ms per tile (time.process_time, the lowest of the repeats) per class and for
the whole list; `--profile N` prints cProfile's top N functions of the rendered tiles.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
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
    profiler = cProfile.Profile() if args.profile else None
    for kind, tile in tiles:
        plan, best = plan_of(kind, tile), math.inf
        for _ in range(args.repeats):
            start = time.process_time()
            result = tiler.render(key, plan, "jpeg", None)
            best = min(best, time.process_time() - start)
        if profiler is not None and not result.passthrough:
            profiler.runcall(tiler.render, key, plan, "jpeg", None)
        rows[classify(src, plan(src), result.passthrough)].append(best * 1000)

    every = [ms for values in rows.values() for ms in values]
    out = [
        f"{key}: {src.width}×{src.height}, {stored} stored levels; workload {args.workload}: {len(every)} first "
        f"visits of {args.tiles} draws (seed {args.seed}); CPU ms per tile, lowest of {args.repeats} repeats",
        "| class | tiles | share | CPU ms per tile | CPU ms, sum |",
        "|---|---|---|---|---|",
    ]
    for name, values in rows.items():
        if values:
            mean = sum(values) / len(values)
            out.append(f"| {name} | {len(values)} | {len(values) / len(every):.0%} | {mean:.3f} | {sum(values):.0f} |")
    out.append(f"| all | {len(every)} | 100% | {sum(every) / len(every):.3f} | {sum(every):.0f} |")
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.profile)
        out.append(text.getvalue())
    return out
