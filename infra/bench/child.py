"""The measured process: one setup, one tile sequence, at the proxy's current delay.

Started fresh for every run, so that its cold start, CPU time and peak RSS are its own
(the S3 server and the counting proxy live in other processes). Prints one JSON line.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before any heavy import: the cold start counts them

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from infra.local_stack import peak_rss_mib  # noqa: E402


def proxy_stats(control: str, reset: bool = False) -> dict:
    request = urllib.request.Request(f"{control}/__proxy/{'reset' if reset else 'stats'}", method="POST")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def make_setup(args):
    from infra.bench import setups

    kinds = {
        "gigatile": setups.GigatileHandler,
        "gigatile-http": setups.GigatileHttp,
        "naive": setups.GigatileNaive,
        "whole-object": setups.WholeObject,
        "rio-tiler": setups.RioTiler,
    }
    if args.kind == "static":
        return setups.Static(args.key, args.max_level, args.dz_max_level)
    return kinds[args.kind](args.key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind")
    parser.add_argument("key")
    parser.add_argument("--sequence", required=True, help="JSON list of [level, x, y]")
    parser.add_argument("--control", required=True, help="the counting proxy's URL")
    parser.add_argument("--repeat", action="store_true", help="then serve the sequence again (warm)")
    parser.add_argument("--max-level", type=int, default=0)
    parser.add_argument("--dz-max-level", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core, as a 1,769 MB Lambda has
    sequence = json.loads(Path(args.sequence).read_text())
    setup = make_setup(args)

    rows, first_tile_s = [], None
    proxy_stats(args.control, reset=True)
    for level, x, y in sequence:
        wall, cpu = time.perf_counter(), time.process_time()
        body = setup.tile(level, x, y)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        first_tile_s = first_tile_s or time.perf_counter() - STARTED
        stats = proxy_stats(args.control, reset=True)
        rows.append([level, x, y, wall * 1000, cpu * 1000, stats["gets"], stats["bytes"], stats["heads"], len(body)])

    repeat = {}
    if args.repeat:
        wall, cpu, times = time.perf_counter(), time.process_time(), []
        for level, x, y in sequence:
            start = time.perf_counter()
            setup.tile(level, x, y)
            times.append((time.perf_counter() - start) * 1000)
        stats = proxy_stats(args.control, reset=True)
        repeat = {
            "ms": times,
            "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu,
            "gets": stats["gets"],
        }
    peak = peak_rss_mib()
    print(json.dumps({"rows": rows, "cold_s": first_tile_s, "repeat": repeat, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
