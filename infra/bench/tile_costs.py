"""Figures for the foundation: S3 GETs and bytes per tile, render time, peak RSS.

    python -m infra.bench tile-costs [--width 30000 --height 50000 --layout subifd|pages|striped --tiles 1000]
        [--delay-ms 20]
    python -m infra.bench tile-costs --layout svs-j2k|svs-jpeg --width 8000 --height 6000 --tiles 300

Serves the 30,000 × 50,000 demo sample from moto's S3 server (its own process, so its
memory is not counted) through the counting proxy, and renders 1,000 random tiles across
all levels with a fixed seed, in a fresh process. `--layout striped` serves a striped LZW
scan instead (`--width 12000 --height 9000`, a scanner's output) and renders full-resolution
tiles only: over the decode budget, each is read from the strips it covers. `svs-j2k` and
`svs-jpeg` serve an Aperio slide (levels 1, 4, 16, 240 px tiles, written as
tests/slide_files.py writes them), its tiles JPEG 2000 (33005, decoded by Pillow) or JPEG
(libvips). `--delay-ms` adds that much to every S3
request (S3's first-byte latency): the cold open's time then shows its sequential round trips.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from infra.counting_proxy import CountingProxy, sequential_rounds
from infra.local_stack import (
    make_pyramid,
    make_striped_scan,
    pattern,
    peak_rss_mib,
    start_moto,
    upload,
    use_credentials,
)

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "gigatile-measure"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench tile-costs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=50000)
    parser.add_argument("--layout", choices=["subifd", "pages", "striped", "svs-j2k", "svs-jpeg"], default="subifd")
    parser.add_argument("--tiles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="ms added to every S3 request")
    parser.add_argument("--cache", default=".cache/demo")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # S3 endpoint: measure in this fresh process
    args = parser.parse_args(argv)
    if args.child:
        proxy = CountingProxy(args.child, delay_ms=args.delay_ms)
        os.environ.update(
            AWS_ENDPOINT_URL_S3=proxy.endpoint,
            GIGATILE_SOURCE=f"s3://{BUCKET}",
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        use_credentials()
        run(args, proxy)
        return

    if args.layout == "striped":
        sample = make_striped_scan(
            Path(args.cache) / f"scan-{args.width}x{args.height}-striped.tif", args.width, args.height
        )
    elif args.layout.startswith("svs"):
        path = Path(args.cache) / f"sample-{args.width}x{args.height}-{args.layout}.tif"
        sample = aperio_sample(path, args.width, args.height, args.layout.removeprefix("svs-"))
    else:
        suffix = "" if args.layout == "subifd" else "-pages"
        sample = make_pyramid(
            Path(args.cache) / f"sample-{args.width}x{args.height}{suffix}.tif",
            args.width,
            args.height,
            subifd=args.layout == "subifd",
        )
    use_credentials()
    moto, endpoint = start_moto()
    try:
        upload(endpoint, BUCKET, "sample.tif", sample)
        # A fresh process, so that peak RSS is the tiler's alone (not the upload's).
        # MALLOC_ARENA_MAX=2 as on Lambda (template.yaml): glibc otherwise gives each libvips
        # worker thread its own arena.
        env = {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
        command = [sys.executable, "-m", "infra.bench", "tile-costs", *argv, "--child", endpoint]
        subprocess.run(command, check=True, env=env, cwd=ROOT)
    finally:
        moto.terminate()


def aperio_sample(path: Path, width: int, height: int, codec: str) -> Path:
    """An Aperio SVS of the demo pattern (levels 1, 4, 16), unless it exists."""
    if not path.exists():
        import numpy as np

        from tests.slide_files import aperio_svs

        path.parent.mkdir(parents=True, exist_ok=True)
        levels = [pattern(width // d, height // d, seed=1, grain=6) for d in (1, 4, 16)]
        blank = np.zeros((300, 300, 3), np.uint8)
        tmp = path.with_suffix(".partial")
        aperio_svs(tmp, levels, blank, blank, codec=codec, quality=45 if codec == "j2k" else 80)
        tmp.rename(path)
    return path


def run(args, proxy: CountingProxy) -> None:
    from gigatile.config import Settings
    from gigatile.imaging.geometry import TileGrid
    from gigatile.service import Tiler

    rss_start = peak_rss_mib()

    def make_grid(w, h):
        return TileGrid(w, h, 256)

    # The first request of a fresh tiler: what IIIF info.json and a .dzi read (the header),
    # or a full-resolution tile (a viewer's first after another instance served info.json);
    # then the cold open of the simple API's meta, which also reports libvips' pixel type.
    firsts = {}
    full_res = TileGrid(args.width, args.height, 256).max_level
    for name, request in (
        ("first request, info.json", lambda t: t.describe("sample.tif")),
        ("first request, a tile", lambda t: t.tile("sample.tif", make_grid, full_res, 3, 5, "jpeg", None)),
    ):
        fresh = Tiler(Settings.from_env())
        proxy.reset()
        started = time.perf_counter()
        request(fresh)
        firsts[name] = (proxy.gets(), (time.perf_counter() - started) * 1000)
        del fresh
    tiler = Tiler(Settings.from_env())
    proxy.reset()
    started = time.perf_counter()
    meta = tiler.meta("sample.tif", 256)
    open_ms = (time.perf_counter() - started) * 1000
    open_gets = proxy.gets()
    grid = TileGrid(meta["width"], meta["height"], 256)

    rng = random.Random(args.seed)
    plan = []
    for _ in range(args.tiles):
        # A striped scan has no stored levels: below full resolution it needs a pyramid.
        level = grid.max_level if args.layout == "striped" else rng.randint(0, grid.max_level)
        cols, rows = grid.cols_rows(level)
        plan.append((level, rng.randrange(cols), rng.randrange(rows)))

    new_tiles, seen = [], set()
    for level, x, y in plan:
        proxy.reset()
        tile = tiler.tile("sample.tif", make_grid, level, x, y, "jpeg", 90)
        records = proxy.gets()
        if (level, x, y) not in seen:
            new_tiles.append((level, len(records), sum(r.bytes for r in records), tile.render_ms))
        seen.add((level, x, y))
    cached_ms = []
    proxy.reset()
    for level, x, y in plan:
        cached_ms.append(tiler.tile("sample.tif", make_grid, level, x, y, "jpeg", 90).render_ms)
    repeat_gets = len(proxy.gets())
    peak = peak_rss_mib()

    full = [t for t in new_tiles if t[0] == grid.max_level]
    # Tiles after the first at each level (the first one opens that pyramid level).
    first_per_level = {}
    for i, t in enumerate(new_tiles):
        first_per_level.setdefault(t[0], i)
    warm = [t for i, t in enumerate(new_tiles) if i not in first_per_level.values()]
    print(f"image: {meta['width']}×{meta['height']}, {meta['source_levels']} source levels")
    for name, (gets, ms) in {"cold open (meta)": (open_gets, open_ms), **firsts}.items():
        print(
            f"{name}: {len(gets)} GETs in {sequential_rounds(gets)} sequential round trips, "
            f"{sum(r.bytes for r in gets) / 1024:.0f} KiB, {ms:.0f} ms (+{args.delay_ms:g} ms per S3 request)"
        )
        t0 = min((r.began for r in gets), default=0.0)
        for r in sorted(gets, key=lambda r: r.began):
            span = f"{(r.began - t0) * 1000:7.1f}–{(r.ended - t0) * 1000:7.1f} ms"
            print(f"    {span}  {r.range}  {r.bytes / 1024:.0f} KiB")
    print(f"{len(plan)} random tiles over levels 0…{grid.max_level} (seed {args.seed}), {len(new_tiles)} distinct")
    for name, rows in (
        ("all new tiles", new_tiles),
        ("new tiles, level already open", warm),
        (f"new full-res tiles (level {grid.max_level})", full),
    ):
        if rows:
            print(
                f"  {name:34s} n={len(rows):4d}  GETs/tile mean {statistics.mean(r[1] for r in rows):.3f} "
                f"max {max(r[1] for r in rows)}  KiB/tile mean {statistics.mean(r[2] for r in rows) / 1024:.1f} "
                f"max {max(r[2] for r in rows) / 1024:.1f}  render p50 {pct([r[3] for r in rows], 50):.2f} ms "
                f"p95 {pct([r[3] for r in rows], 95):.2f} ms"
            )
    print(
        f"  repeat of all {len(plan)} tiles from cached bytes: {repeat_gets} GETs, render p50 "
        f"{pct(cached_ms, 50):.2f} ms, p95 {pct(cached_ms, 95):.2f} ms"
    )
    print(
        f"peak RSS: {peak:.0f} MiB (at start {rss_start:.0f} MiB; block cache {tiler.blocks.size / 2**20:.1f} MiB, "
        f"open-image budget used {tiler.images.size / 2**20:.1f} MiB)"
    )
