"""Pyramid conversion of a 30,000 × 50,000 baseline JPEG: `gigatile pyramid` against plain
libvips (`vips tiffsave … --tile --pyramid --subifd --compression jpeg --Q 85`, called
through pyvips: pyvips-binary has no vips command), each in fresh processes, alternating:
wall time, megapixels a second, peak RSS and output size. (gigatile's output differs from
plain libvips' by its ceil-halved levels and its directories first: conversion/pyramid.py.)

    python -m infra.bench conversion [--width 30000 --height 50000 --runs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from infra.bench.datasets import make_baseline

PLAIN = (
    "import sys, pyvips; pyvips.Image.new_from_file(sys.argv[1], access='sequential').tiffsave("
    "sys.argv[2], tile=True, tile_width=256, tile_height=256, pyramid=True, subifd=True, "
    "compression='jpeg', Q=85, bigtiff=True)"
)


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"failed: {command}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench conversion",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--cache", default=".cache/demo")
    args = parser.parse_args(argv)
    source = make_baseline(Path(args.cache) / f"baseline-{args.width}x{args.height}.jpg", args.width, args.height)
    out = Path(args.cache) / "conversion-out.tif"
    gigatile = [str(Path(sys.executable).with_name("gigatile")), "pyramid", str(source), str(out)]
    plain = [sys.executable, "-c", PLAIN, str(source), str(out)]
    results: dict[str, list[tuple[float, float]]] = {"gigatile pyramid": [], "libvips tiffsave": []}
    sizes = {}
    for _ in range(args.runs):
        for name, command in (("libvips tiffsave", plain), ("gigatile pyramid", gigatile)):
            results[name].append(timed(command))
            sizes[name] = out.stat().st_size
            out.unlink()
    megapixels = args.width * args.height / 1e6
    for name, runs in results.items():
        walls, rss = [r[0] for r in runs], [r[1] for r in runs]
        print(
            f"{name:18s} wall {min(walls):.1f}–{max(walls):.1f} s ({megapixels / min(walls):.0f} Mpx/s at best), "
            f"peak RSS {min(rss):.0f}–{max(rss):.0f} MiB, output {sizes[name] / 2**20:,.1f} MiB"
        )
    ratio = min(r[0] for r in results["gigatile pyramid"]) / min(r[0] for r in results["libvips tiffsave"])
    print(f"gigatile ÷ libvips (best of {args.runs}): {ratio:.2f}")
