"""What a request costs over its tile work, locally (uvicorn) and on Lambda (Mangum), and
what new tiles cost on Lambda.

    python -m infra.bench request-path [--tiles 300] [--seed 42] [--smoke]

Serves the 30,000 × 50,000 libvips pyramid (the `iipsrv` command's file) from a local
folder, so that no S3 wait hides the request path; everything pinned to one core, with
pass-through (the default) and with GIGATILE_PASSTHROUGH=false (every tile re-encoded).

Warm (the list's bytes cached; of 3 passes over `--tiles` full-resolution tiles of the
simple API, the lowest pass median, as the machine is shared):
- service: `Tiler.tile` in-process, the tile work itself (plan, copy or render, encode);
- Lambda handler: `gigatile.handler.handler` with an API Gateway HTTP API (payload 2.0)
  event, in-process (Mangum → FastAPI → the same tile service; Powertools metrics and
  tracing off, as in the other benchmarks);
- the Lambda handler by route: the same tiles as DeepZoom and IIIF 3 and 2 URLs;
- the Lambda handler as deployed: the template's observability on (Powertools' INFO log
  line per tile and EMF metrics flushed per invocation, written to a pipe), pass-through
  only;
- over HTTP: a sequential keep-alive client (http.client, on another core) against
  `gigatile serve` (uvicorn with httptools + uvloop, no access log), and against uvicorn's
  pure-Python h11 parser with asyncio's loop and the access log on (the old default);
- the transport floor: a bare ASGI app answering every request with a fixed 7 KiB body
  (infra/bench/bare_asgi.py) under `gigatile serve`'s uvicorn settings, the same client.
The overhead of a path is its median minus the service's median (HTTP's includes the
loopback and the Python client's own parsing; net of the floor, it does not).

New tiles through the handler (first visits of the `iipsrv` command's workloads A and B,
IIIF 2 URLs): handler ms per tile, and the Lambda cost per million new tiles at the
template's memory size: billed duration (rounded up to 1 ms) × GB × the price per GB-s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
# Lambda's public price on arm64 (us-east-1, first 7.5 billion GB-s a month): USD per GB-s,
# and per request; x86_64 costs 0.0000166667 per GB-s.
ARM64_GB_S = 0.0000133334
PER_REQUEST = 0.20 / 1e6
MEMORY_MB = 1769  # template.yaml's MemorySize default (one vCPU)
PASSES = 3
# template.yaml's observability (LogLevel INFO, metrics on; X-Ray subsegments off by default).
DEPLOYED = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}


def simple_tiles(width: int, height: int, count: int, seed: int) -> list[tuple[int, int, int]]:
    """Distinct full-resolution tiles of the simple API's grid (256 px)."""
    rng, top = random.Random(seed), math.ceil(math.log2(max(width, height) / 256))
    cols, rows = math.ceil(width / 256), math.ceil(height / 256)
    tiles: dict = {}
    while len(tiles) < min(count, cols * rows):
        tiles.setdefault((top, rng.randrange(cols), rng.randrange(rows)), None)
    return list(tiles)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


# -- in the measured child process -----------------------------------------------------
def route_requests(key: str, width: int, height: int, level: int, x: int, y: int) -> dict[str, tuple[str, dict]]:
    """One full-resolution tile of the simple API's grid as each protocol asks for it:
    (path, query) by route."""
    w, h = min(256, width - x * 256), min(256, height - y * 256)
    iiif = f"{quote(key, safe='')}/{x * 256},{y * 256},{w},{h}/{w},/0/default.jpg"
    return {
        "simple": ("/api/v1/image/tile", {"path": key, "level": level, "x": x, "y": y}),
        "deepzoom": (f"/dzi/{quote(key, safe='')}_files/{math.ceil(math.log2(max(width, height)))}/{x}_{y}.jpeg", {}),
        "iiif3": (f"/iiif/3/{iiif}", {}),
        "iiif2": (f"/iiif/2/{iiif}", {}),
    }


def child(image: Path, tiles: list, new_lists: dict[str, list[str]]) -> dict:
    """Runs with the settings in the environment, pinned to one core."""
    from gigatile.handler import app, handler
    from gigatile.imaging.geometry import TileGrid
    from infra.events import LambdaContext, api_gateway_event

    tiler, key, context = app.state.tiler, image.name, LambdaContext()

    def call(path: str, query: dict) -> None:
        response = handler(api_gateway_event("http-api-v2", path, query), context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"{response['statusCode']} for {path} {query}: {response['body'][:300]}")

    call("/api/v1/image/meta", {"path": key})  # opens the image: not a tile's cost
    new = {}
    for name, paths in new_lists.items():
        walls, cpus = [], []
        for path in paths:
            wall, cpu = time.perf_counter(), time.process_time()
            call(path, {})
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        billed = [math.ceil(w * 1000) for w in walls]  # Lambda bills each invocation in whole ms
        gb_s = statistics.mean(billed) / 1000 * MEMORY_MB / 1024
        new[name] = {
            "tiles": len(paths),
            "mean_ms": statistics.mean(walls) * 1000,
            "p50_ms": median_ms(walls),
            "cpu_ms": statistics.mean(cpus) * 1000,
            "billed_ms": statistics.mean(billed),
            "usd_per_million": gb_s * ARM64_GB_S * 1e6,
        }

    src = tiler.describe(key)
    requests = [route_requests(key, src.width, src.height, *t) for t in tiles]
    for level, x, y in tiles:  # warm: every tile's bytes read once
        tiler.tile(key, lambda w, h: TileGrid(w, h, 256), level, x, y, "jpeg", None)
    service: list[list[float]] = []
    by_route: dict[str, list[list[float]]] = {route: [] for route in requests[0]}
    passthrough = 0
    for _ in range(PASSES):
        service.append([])
        for times in by_route.values():
            times.append([])
        for (level, x, y), routes in zip(tiles, requests, strict=True):
            start = time.perf_counter()
            tile = tiler.tile(key, lambda w, h: TileGrid(w, h, 256), level, x, y, "jpeg", None)
            service[-1].append(time.perf_counter() - start)
            passthrough += tile.passthrough
            for route, (path, query) in routes.items():
                start = time.perf_counter()
                call(path, query)
                by_route[route][-1].append(time.perf_counter() - start)
    routes_ms = {route: least_disturbed(times) for route, times in by_route.items()}
    return {
        "service_ms": least_disturbed(service),
        "handler_ms": routes_ms["simple"],
        "handler_routes_ms": routes_ms,
        "passthrough_share": passthrough / (PASSES * len(tiles)),
        "new": new,
    }


def least_disturbed(passes: list[list[float]]) -> float:
    """The lowest of the passes' medians: on a shared machine, the pass other work
    disturbed least."""
    return min(median_ms(times) for times in passes)


# -- the command -----------------------------------------------------------------------
def http_pass(base: str, key: str, tiles: list) -> list[float]:
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=60)
    times = []
    for level, x, y in tiles:
        start = time.perf_counter()
        conn.request("GET", "/api/v1/image/tile?" + urlencode({"path": key, "level": level, "x": x, "y": y}))
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"{response.status} for tile {level}/{x}/{y}")
    conn.close()
    return times


def over_http(command: list[str], env: dict, key: str, tiles: list, cores: tuple) -> float:
    """The lowest pass median of `http_pass` against the server `command` starts (pinned to
    cores[0]; the client on cores[1])."""
    from infra.bench.servers import pinned, wait_for_port
    from infra.local_stack import free_port

    port = free_port()
    proc = subprocess.Popen(
        [*pinned(cores[0]), *command, "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        base = f"http://127.0.0.1:{port}"
        if cores[1] is not None:
            os.sched_setaffinity(0, {cores[1]})
        http_pass(base, key, tiles)  # warm
        return least_disturbed([http_pass(base, key, tiles) for _ in range(PASSES)])
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        proc.terminate()
        proc.wait(10)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench request-path",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tiles", type=int, default=300)
    parser.add_argument("--new-tiles", type=int, default=1000, help="draws of workloads A and B for new tiles")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache", default=".cache/demo")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON arguments: measure in this process
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(Path(args.child).read_text())
        print(json.dumps(child(Path(spec["image"]), [tuple(t) for t in spec["tiles"]], spec["new"])))
        return

    from infra.bench.iipsrv import paths_for, workloads
    from infra.bench.report import replace_section
    from infra.bench.servers import Gigatile, gigatile_env
    from infra.local_stack import make_pyramid

    width, height = (3000, 5000) if args.smoke else (30000, 50000)
    if args.smoke:
        args.tiles, args.new_tiles = min(args.tiles, 20), min(args.new_tiles, 20)
        args.cache = args.cache if args.cache != ".cache/demo" else ".cache/bench-smoke"
    started = time.perf_counter()
    image = make_pyramid(Path(args.cache) / f"sample-{width}x{height}-pages.tif", width, height, subifd=False)
    from gigatile.vips import vips

    stored = vips().Image.new_from_file(str(image)).get("n-pages")
    lists = workloads(width, height, stored, args.new_tiles, args.seed)
    new = {w: paths_for(Gigatile, image.name, lists[w]) for w in ("A", "B")}
    tiles = simple_tiles(width, height, args.tiles, args.seed)
    cores = sorted(os.sched_getaffinity(0))
    pins = (cores[-1], cores[0] if len(cores) > 1 else None)
    env = gigatile_env(GIGATILE_SOURCE=str(image.parent.resolve()))
    modes = {"pass-through": {}, "re-encoding": {"GIGATILE_PASSTHROUGH": "false"}}
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "gigatile.app:create_app", "--host", "127.0.0.1"]
    servers = {
        "gigatile serve (httptools, uvloop, no access log)": [
            sys.executable, "-m", "gigatile.cli", "serve", "--host", "127.0.0.1",
        ],
        "uvicorn h11 + asyncio, access log on": [*uvicorn, "--http", "h11", "--loop", "asyncio", "--log-level", "info"],
    }  # fmt: skip
    # gigatile serve's uvicorn settings (cli.serve): loop and parser "auto", no access log.
    bare = [*uvicorn[:3], "infra.bench.bare_asgi:app", "--host", "127.0.0.1", "--no-access-log"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"image": str(image.resolve()), "tiles": tiles, "new": new}))
        quiet = Path(tmp) / "quiet.json"  # no new tiles: the deployed handler's warm tiles only
        quiet.write_text(json.dumps({"image": str(image.resolve()), "tiles": tiles, "new": {}}))

        def measured(spec_file: Path, extra: dict) -> dict:
            command = [*pinned_python(pins[0]), "-m", "infra.bench", "request-path", "--child", str(spec_file)]
            out = subprocess.run(command, env={**env, **extra}, cwd=ROOT, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr[-3000:])
            return json.loads(out.stdout.strip().splitlines()[-1])

        for mode, extra in modes.items():
            result = measured(spec, extra)
            result["http_ms"] = {
                name: over_http(cmd, {**env, **extra}, image.name, tiles, pins) for name, cmd in servers.items()
            }
            results[mode] = result
            print(f"{mode}: {json.dumps(result)}", flush=True)
        deployed = measured(quiet, DEPLOYED)
        results["pass-through"]["deployed"] = {k: deployed[k] for k in ("service_ms", "handler_ms")}
        floor_ms = over_http(bare, env, image.name, tiles, pins)
        print(f"deployed: {json.dumps(deployed)}; transport floor: {floor_ms:.3f} ms", flush=True)
    context = {
        "command": "python -m infra.bench request-path" + (" --smoke" if args.smoke else ""),
        "image": f"{width} × {height}",
        "tiles": len(tiles),
        "passes": PASSES,
        "memory_mb": MEMORY_MB,
        "arm64_usd_per_gb_s": ARM64_GB_S,
        "usd_per_request": PER_REQUEST,
        "seconds": round(time.perf_counter() - started),
    }
    out_dir = Path(args.out) if not args.smoke else ROOT / "build" / "bench-smoke"
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"context": context, "results": results, "transport_floor_ms": floor_ms}
    (out_dir / "request-path.json").write_text(json.dumps(document, indent=1) + "\n")
    lines = ["## Request path and Lambda cost", "", *report(results, context, floor_ms), ""]
    replace_section(out_dir / "benchmarks.md", "request-path", lines)
    print("\n".join(lines))


def pinned_python(core: int) -> list[str]:
    return ["taskset", "-c", str(core), sys.executable]


def report(results: dict, context: dict, floor_ms: float) -> list[str]:
    lines = [
        f"Made by `{context['command']}` in {context['seconds']} s; warm: the lowest median of "
        f"{context['passes']} passes over {context['tiles']} full-resolution tiles, one core.",
        "",
        "The simple API's tiles:",
        "",
        "| path | service ms | Lambda handler ms (over the service) | "
        + " | ".join(f"{name} ms (over the service)" for name in next(iter(results.values()))["http_ms"])
        + " |",
        "|---|---|---|" + "---|" * len(next(iter(results.values()))["http_ms"]),
    ]
    for mode, r in results.items():
        s = r["service_ms"]
        cells = [f"{r['handler_ms']:.3f} (+{r['handler_ms'] - s:.3f})"]
        cells += [f"{ms:.3f} (+{ms - s:.3f})" for ms in r["http_ms"].values()]
        lines.append(f"| {mode} ({r['passthrough_share']:.0%} copied) | {s:.3f} | " + " | ".join(cells) + " |")
    through = results["pass-through"]
    service, serve = through["service_ms"], next(iter(through["http_ms"].values()))
    deployed = through["deployed"]
    lines += [
        "",
        f"Transport floor: a bare ASGI app with a fixed 7 KiB body under the same uvicorn and client, "
        f"{floor_ms:.3f} ms a request; `gigatile serve` over the service net of it, pass-through: "
        f"+{serve - floor_ms - service:.3f} ms (raw +{serve - service:.3f}).",
        "",
        "The Lambda handler by route, pass-through (the same tiles as each protocol's URL), ms (over the service):",
        "",
        "| " + " | ".join(through["handler_routes_ms"]) + " | as deployed (INFO log line, EMF metrics), simple |",
        "|---" * (len(through["handler_routes_ms"]) + 1) + "|",
        "| "
        + " | ".join(f"{ms:.3f} (+{ms - service:.3f})" for ms in through["handler_routes_ms"].values())
        + f" | {deployed['handler_ms']:.3f} (+{deployed['handler_ms'] - deployed['service_ms']:.3f}) |",
    ]
    lines += [
        "",
        f"New tiles through the Lambda handler, at {context['memory_mb']} MB and "
        f"USD {context['arm64_usd_per_gb_s']} per GB-s (arm64), requests (USD 0.20 per million) not included:",
        "",
        "| path | workload | new tiles | mean ms | p50 ms | CPU ms | billed ms (mean) | USD per million new tiles |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        for w, n in r["new"].items():
            lines.append(
                f"| {mode} | {w} | {n['tiles']} | {n['mean_ms']:.2f} | {n['p50_ms']:.2f} | {n['cpu_ms']:.2f} | "
                f"{n['billed_ms']:.2f} | {n['usd_per_million']:.2f} |"
            )
    return lines
