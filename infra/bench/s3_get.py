"""What one ranged S3 GET costs gigatile's process, and what serving tiles over S3 holds:

    python -m infra.bench s3-get [--gets 2000] [--tiles 200] [--s3 s3rver|moto] [--delay-ms 20]

- gets: `S3Store.fetch` of 16 KiB at random offsets of the bench pyramid, pinned to its
  ETag, in a fresh process: CPU (`time.process_time`) per GET, and the garbage
  collections the GETs set off (`gc.callbacks`), per generation.
- tiles: a fresh process set up as `gigatile serve` is (warm-up before the first
  request), then new full-resolution tiles through the Lambda handler: the first
  request's wall time (and when each of its GETs started and ended), CPU per new tile, and the peak RSS (VmHWM).

Each runs in its own process with the S3 server in another, so CPU and RSS are
gigatile's alone. `--delay-ms` puts the counting proxy in front of the S3 server, adding
that much to every request (S3's first-byte latency), so that the first request's wall
time shows its sequential round trips. Prints one JSON object; the figures go into docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra.bench.iipsrv import KEY  # the key the bench uploads its pyramid as

ROOT = Path(__file__).resolve().parents[2]


def gets_child(source: str, count: int, seed: int) -> dict:
    import gc
    import statistics

    from gigatile.sources.s3 import S3Store

    store = S3Store(source.removeprefix("s3://"), "")
    store.warm()
    _, version = store.fetch(KEY, 0, 16383, None)  # s3rver answers bytes=0-0 with the whole object
    rng = random.Random(seed)
    offsets = [rng.randrange(0, version.size - 16384) for _ in range(count)]
    for offset in offsets[:50]:  # connections open, code paths warm
        store.fetch(KEY, offset, offset + 16383, version.etag)
    collections = [0, 0, 0]

    def count_collection(phase: str, info: dict) -> None:
        if phase == "start":
            collections[info["generation"]] += 1

    gc.callbacks.append(count_collection)
    cpus, walls = [], []
    for offset in offsets:
        wall, cpu = time.perf_counter(), time.process_time()
        data, _ = store.fetch(KEY, offset, offset + 16383, version.etag)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        assert len(data) == 16384
    gc.callbacks.remove(count_collection)
    return {
        "gets": count,
        "cpu_us_mean": statistics.mean(cpus) * 1e6,
        "cpu_us_median": statistics.median(cpus) * 1e6,
        "wall_us_median": statistics.median(walls) * 1e6,
        "gc_per_1000_gets": [c * 1000 / count for c in collections],
    }


def tiles_child(count: int, seed: int, width: int, height: int) -> dict:
    import asyncio
    import statistics

    started = time.perf_counter()
    from gigatile.cli import _warm_routes
    from gigatile.handler import app, handler
    from gigatile.service import warm_up
    from gigatile.sources.s3 import S3Store
    from infra.events import LambdaContext, api_gateway_event

    warm_up(app.state.tiler)  # as `gigatile serve` does before it listens
    _warm_routes(app)
    asyncio.set_event_loop(asyncio.new_event_loop())  # asyncio.run left none; Mangum asks for one
    ready_s = time.perf_counter() - started
    context = LambdaContext()
    rng = random.Random(seed)
    # Full-resolution IIIF tiles of 256 px, each a new one (workload B's kind).
    cells = sorted({(rng.randrange(width // 256), rng.randrange(height // 256)) for _ in range(count * 2)})
    rng.shuffle(cells)

    def call(x: int, y: int) -> None:
        path = f"/iiif/3/{KEY}/{x * 256},{y * 256},256,256/256,/0/default.jpg"
        response = handler(api_gateway_event("http-api-v2", path, {}), context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"{response['statusCode']} for {path}: {response['body'][:300]}")

    # The first request's GETs: when each started and ended, from the request's start (ms).
    fetch, gets = S3Store.fetch, []

    def timed_fetch(store, key, start, end, etag):
        began = time.perf_counter()
        try:
            return fetch(store, key, start, end, etag)
        finally:
            gets.append(
                [round((began - first) * 1000, 1), round((time.perf_counter() - first) * 1000, 1), end - start + 1]
            )

    S3Store.fetch = timed_fetch  # type: ignore[method-assign]
    first, first_cpu = time.perf_counter(), time.process_time()
    call(*cells[0])
    first_ms = (time.perf_counter() - first) * 1000
    first_cpu_ms = (time.process_time() - first_cpu) * 1000
    S3Store.fetch = fetch  # type: ignore[method-assign]
    cpus = []
    for x, y in cells[1 : count + 1]:
        cpu = time.process_time()
        call(x, y)
        cpus.append(time.process_time() - cpu)
    status = Path("/proc/self/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return {
        "tiles": len(cpus),
        "start_to_ready_s": ready_s,
        "first_request_ms": first_ms,
        "first_request_cpu_ms": first_cpu_ms,
        "cpu_ms_per_new_tile_mean": statistics.mean(cpus) * 1000,
        "cpu_ms_per_new_tile_median": statistics.median(cpus) * 1000,
        "peak_rss_mib": int(hwm.split()[1]) / 1024,
        "first_request_gets_ms_ms_bytes": gets,
    }


def run_child(what: str, env: dict, args) -> dict:
    command = [sys.executable, "-m", "infra.bench.s3_get", "--child", what, "--gets", str(args.gets)]
    command += ["--tiles", str(args.tiles), "--seed", str(args.seed), "--size", args.size]
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.splitlines()[-1])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench s3-get", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--tiles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--s3", choices=["s3rver", "moto"], default="s3rver")
    parser.add_argument("--image", default=".cache/demo/sample-30000x50000.tif", help="the bench pyramid")
    parser.add_argument("--reps", type=int, default=1, help="child processes of each kind")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="ms added to every S3 request")
    parser.add_argument("--smoke", action="store_true", help="a 3,000 × 5,000 pyramid, 50 GETs, 10 tiles, moto")
    parser.add_argument("--child", choices=["gets", "tiles"], help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        width, height = map(int, args.size.split("x"))
        if args.child == "gets":
            result = gets_child(os.environ["GIGATILE_SOURCE"], args.gets, args.seed)
        else:
            result = tiles_child(args.tiles, args.seed, width, height)
        print(json.dumps(result))
        return

    from infra.bench.iipsrv import start_s3_with
    from infra.bench.tiles import S3RVER, image_size

    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            from infra.local_stack import make_pyramid

            args.gets, args.tiles, args.reps, args.s3 = min(args.gets, 50), min(args.tiles, 10), 1, "moto"
            image = make_pyramid(Path(tmp) / "smoke.tif", 3000, 5000, subifd=False, quality=90, grain=6)
        else:
            image = Path(args.image)
        if not image.exists():
            raise SystemExit(f"{image} is missing: `make bench` writes the bench pyramid")
        if args.s3 == "s3rver" and not S3RVER.exists():
            raise SystemExit("s3rver is missing: `make build/s3rver/node_modules/.bin/s3rver`")
        args.size = "{}x{}".format(*image_size(image))
        proc, endpoint, source = start_s3_with(image, Path(tmp), args.s3)
        proxy = None
        if args.delay_ms:
            from infra.counting_proxy import CountingProxy

            proxy = CountingProxy(endpoint, delay_ms=args.delay_ms)
            endpoint = proxy.endpoint
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL_S3": endpoint,
            "GIGATILE_SOURCE": source,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONPATH": f"{ROOT / 'functions' / 'tiler'}:{ROOT}",
        }
        results: dict[str, list] = {"gets": [], "tiles": []}
        try:
            for _ in range(args.reps):
                results["gets"].append(run_child("gets", env, args))
                results["tiles"].append(run_child("tiles", env, args))
        finally:
            if proxy is not None:
                proxy.stop()
            proc.kill()
            proc.wait()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
