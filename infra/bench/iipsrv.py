"""gigatile side by side with IIPImage (iipsrv), the fastest dynamic tiler users compare with.

    python -m infra.bench iipsrv [--tiles 1000] [--reps 3] [--seed 42] [--connections 8] [--smoke]

One 30,000 × 50,000 libvips JPEG pyramid (256 px tiles, one page per level, which is
what iipsrv reads) in a local folder, served by
- iipsrv: Debian's iipimage-server behind lighttpd (FastCGI), reading the folder;
- gigatile: `gigatile serve` (uvicorn) with that folder as its source;
- gigatile over S3: the same file in s3rver on loopback, as deployed (no counting proxy).

Each server is started fresh for every run and pinned to one core (taskset, lighttpd and
its iipsrv child together); the load comes from wrk (another process, pinned to another
core when there is one) with 8 connections, through a Lua script that asks each URL of a
list once and stops. Workloads, with fixed seeds:
- A: IIIF 2 tiles as OpenSeadragon asks them (256 px, region + `w,` size), scale
     factors 1…256 drawn uniformly, then a tile of that level;
- B: the same at full resolution only;
- C: DeepZoom tiles of the stored levels (DeepZoom levels N−8…N).
A run: the first request after the port opens (first-request latency), wrk over the rest
of the list (new tiles: first visits), then wrk over the whole list again (warm). CPU per
tile is the servers' utime + stime (/proc/PID/stat; lighttpd + iipsrv together) over a
pass divided by its tiles; peak RSS is VmHWM. Figures are medians of `--reps` runs, the
servers alternating. Then both servers' tiles of each list are decoded and compared
(mean absolute difference of pixels per tile), and gigatile (local folder) is profiled
with py-spy over each workload's new tiles (build/profiles/).

Writes docs/iipsrv.json and its section of docs/benchmarks.md (build/bench-smoke/ with
--smoke). Needs iipimage-server, lighttpd and wrk (`make bench` installs them) and
py-spy (the bench extra). Profiles go to build/profiles/ (build/bench-smoke/profiles/ with --smoke).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from infra.bench import report, servers
from infra.local_stack import DUMMY_CREDENTIALS, make_pyramid

ROOT = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("urls.lua")
KEY = "pyramid.tif"  # the S3 key; locally the file's own name
# Mean absolute difference per tile (0…255) under which two tiles show the same picture: on
# this image an adjacent tile differs by 13–17 and the same tile shifted by one pixel by 1.5;
# bilinear against Lanczos 3, and iipsrv rounding some sizes down (212 px for 213), give up to 5.5.
TOLERANCE = 6.0


# -- tile lists ------------------------------------------------------------------------
def osd_iiif(width: int, height: int, scale: int, col: int, row: int) -> tuple[str, str]:
    """Region and size as OpenSeadragon's IIIF tile source asks a 2.x server for tile
    (col, row) at scale factor `scale` (256 px tiles)."""
    level_w, level_h = math.ceil(width / scale), math.ceil(height / scale)
    if level_w < 256 and level_h < 256:
        return "full", f"{level_w},"
    step = 256 * scale
    x, y = col * step, row * step
    w, h = min(step, width - x), min(step, height - y)
    return f"{x},{y},{w},{h}", f"{math.ceil(w / scale)},"


def first_visits(draws) -> list:
    seen, out = set(), []
    for item in draws:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def iiif_tiles(width: int, height: int, scales: list[int], count: int, seed: int) -> list[tuple[str, str]]:
    rng, draws = random.Random(seed), []
    for _ in range(count):
        scale = rng.choice(scales)
        cols, rows = math.ceil(width / (256 * scale)), math.ceil(height / (256 * scale))
        draws.append(osd_iiif(width, height, scale, rng.randrange(cols), rng.randrange(rows)))
    return first_visits(draws)


def deepzoom_tiles(width: int, height: int, stored: int, count: int, seed: int) -> list[tuple[int, int, int]]:
    """Tiles of the DeepZoom levels that are stored levels of the pyramid (full size and
    `stored - 1` halvings)."""
    rng, top, draws = random.Random(seed), math.ceil(math.log2(max(width, height))), []
    for _ in range(count):
        level = rng.randint(top - stored + 1, top)
        scale = 2 ** (top - level)
        cols, rows = math.ceil(width / scale / 256), math.ceil(height / scale / 256)
        draws.append((level, rng.randrange(cols), rng.randrange(rows)))
    return first_visits(draws)


def workloads(width: int, height: int, stored: int, count: int, seed: int) -> dict[str, list]:
    scales = [2**i for i in range(stored)]
    return {
        "A": [("iiif", t) for t in iiif_tiles(width, height, scales, count, seed)],
        "B": [("iiif", t) for t in iiif_tiles(width, height, [1], count, seed + 1)],
        "C": [("dz", t) for t in deepzoom_tiles(width, height, stored, count, seed + 2)],
    }


def paths_for(server, image_id: str, tiles: list) -> list[str]:
    return [server.iiif(image_id, *t) if kind == "iiif" else server.deepzoom(image_id, *t) for kind, t in tiles]


# -- one run ---------------------------------------------------------------------------
def get(base: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wrk(base: str, paths: list[str], connections: int, core: int | None, workdir: Path) -> float:
    """Seconds wrk takes to have every path of the list answered (each asked once)."""
    listing = workdir / "urls.txt"
    listing.write_text("\n".join(paths) + "\n")
    command = [*servers.pinned(core), "wrk", "-t1", f"-c{min(connections, len(paths))}", "-d300s"]
    command += ["--timeout", "60s", "-s", str(LUA), base, "--", str(listing)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    if not result["complete"] or result["not_ok"]:
        raise RuntimeError(f"wrk: {result} for {len(paths)} URLs ({base}{paths[0]})")
    return result["seconds"]


def run_once(server_def, paths: list[str], args, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    server = server_def.start(args.server_core, workdir)
    try:
        started = time.perf_counter()
        status, _ = get(server.base, paths[0])
        first_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"{server.name}: {status} for {paths[0]}")
        run = {"up_ms": server.up_s * 1000, "first_ms": first_ms}
        for phase, listed in (("new", paths[1:]), ("warm", paths)):
            before = server.cpu()
            seconds = wrk(server.base, listed, args.connections, args.load_core, workdir)
            after = server.cpu()
            cpu = {role: (after[role] - before[role]) * 1000 / len(listed) for role in after}
            run[phase] = {
                "tiles": len(listed),
                "tiles_per_s": len(listed) / seconds,
                "cpu_ms_per_tile": sum(cpu.values()),
                "cpu_ms_per_tile_by_process": cpu,
            }
        run["peak_rss_mib"] = server.rss()
        return run
    finally:
        server.stop()


def median_run(runs: list[dict]) -> dict:
    med = statistics.median
    out = {
        "up_ms": med(r["up_ms"] for r in runs),
        "first_ms": med(r["first_ms"] for r in runs),
        "peak_rss_mib": {k: med(r["peak_rss_mib"][k] for r in runs) for k in runs[0]["peak_rss_mib"]},
        "reps": runs,
    }
    for phase in ("new", "warm"):
        out[phase] = {k: med(r[phase][k] for r in runs) for k in ("tiles", "tiles_per_s", "cpu_ms_per_tile")}
    return out


# -- same picture ----------------------------------------------------------------------
def _mad(a, b) -> float:
    """Mean absolute difference of two decoded tiles where they overlap."""
    import numpy as np

    h, w = min(a.height, b.height), min(a.width, b.width)
    diff = a.crop(0, 0, w, h).numpy().astype(np.int16) - b.crop(0, 0, w, h).numpy().astype(np.int16)
    return float(np.abs(diff).mean())


def compare_pixels(left_def, right_def, left_paths, right_paths, workdir: Path) -> dict:
    """Decode both servers' tiles of a list and compare them where they overlap."""

    from gigatile.vips import vips

    pyvips = vips()
    left, right = left_def.start(None, workdir / "left"), right_def.start(None, workdir / "right")
    mads, size_differs, worst = [], [], []
    try:
        for lp, rp in zip(left_paths, right_paths, strict=True):
            (ls, lb), (rs, rb) = get(left.base, lp), get(right.base, rp)
            if ls != 200 or rs != 200:
                raise RuntimeError(f"{ls} for {lp}, {rs} for {rp}")
            a, b = pyvips.Image.new_from_buffer(lb, ""), pyvips.Image.new_from_buffer(rb, "")
            mad = _mad(a, b)
            if (a.width, a.height) != (b.width, b.height):
                # One server rounded a side the other way: either the same scale with a
                # pixel more or less at the edge (compare where they overlap) or the
                # picture stretched by a pixel (e.g. 257 rows for 256: compare at one size).
                size_differs.append([lp, [a.height, a.width], [b.height, b.width]])
                stretched = b.resize(a.width / b.width, vscale=a.height / b.height, kernel="linear")
                mad = min(mad, _mad(a, stretched))
            mads.append(mad)
            worst.append((mads[-1], rp))
    finally:
        left.stop()
        right.stop()
    return {
        "tiles": len(mads),
        "mean_mad": statistics.mean(mads),
        "max_mad": max(mads),
        "over_tolerance": sum(m > TOLERANCE for m in mads),
        "size_differs": size_differs,
        "worst": sorted(worst, reverse=True)[:5],
    }


# -- profile ---------------------------------------------------------------------------
def profile(server_def, paths: list[str], args, workdir: Path, out: Path) -> dict:
    """py-spy over gigatile's new-tile pass, twice (a fresh server each time): raw collapsed
    stacks (speedscope and flamegraph.pl read them), summarised as the top functions by own
    and total samples, then py-spy's flame graph (SVG) beside them.

    Only the thread holding the GIL is sampled (--gil), with its C frames (--native): on a
    shared machine py-spy otherwise counts threads that wait for a core as working, and
    nine samples in ten were futex and epoll waits. libvips' pixel work runs in its own
    threads without the GIL: it shows in the CPU per tile, not here."""
    for fmt, path in (("raw", out), ("flamegraph", out.with_suffix(".svg"))):
        spy_on_new_tiles(server_def, paths, args, workdir, fmt, path)
    return top_functions(out)


def spy_on_new_tiles(server_def, paths: list[str], args, workdir: Path, fmt: str, out: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = server_def.start(args.server_core, workdir)
    try:
        get(server.base, paths[0])
        command = [py_spy, "record", "--pid", str(server.proc.pid), "--gil", "--native", "--rate", "500"]
        spy = subprocess.Popen(
            [*command, "--format", fmt, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(1.0)  # py-spy attaches
        wrk(server.base, paths[1:], args.connections, args.load_core, workdir)
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    finally:
        server.stop()


# Leaf frames of a thread that waits (py-spy counts some lock waits as active).
WAITING = (
    "Condition.wait (",
    "Queue.get (",
    "Event.wait (",
    "Thread.join (",
    "_wait_for_tstate_lock (",
    "_worker (concurrent/futures/thread.py)",  # in work_queue.get(), a C call
    "WorkerThread.run (anyio",  # idem, anyio's worker threads
)


ADDRESS = re.compile(r"^0x[0-9a-f]+ \((.+)\)$")  # a C function without a symbol: name its library


def top_functions(raw: Path, n: int = 20) -> dict:
    """Top functions by own and total share of the samples (those of threads waiting on a
    lock or queue left out)."""
    own, total, samples, waiting = Counter(), Counter(), 0, 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";") if f]  # no line numbers
        frames = [ADDRESS.sub(r"(an address in \1)", f.replace(str(ROOT) + "/", "")) for f in frames] or ["?"]
        if frames[-1].startswith(WAITING):
            waiting += int(count)
            continue
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    share = lambda c: [[f, round(100 * k / max(samples, 1), 1)] for f, k in c.most_common(n)]  # noqa: E731
    summary = {"samples": samples, "waiting_samples": waiting, "own_pct": share(own), "total_pct": share(total)}
    raw.with_suffix(".top.txt").write_text(
        f"{samples} samples of working threads ({waiting} more of threads waiting on a lock or queue, left out)\n"
        "\nown %:\n"
        + "".join(f"{p:6.1f}  {f}\n" for f, p in summary["own_pct"])
        + "\ntotal %:\n"
        + "".join(f"{p:6.1f}  {f}\n" for f, p in summary["total_pct"])
    )
    return summary


# -- the command -----------------------------------------------------------------------
def start_s3_with(path: Path, workdir: Path, kind: str = "s3rver"):
    from infra.bench.setups import BUCKET
    from infra.bench.tiles import CREDENTIALS, s3_client, start_s3

    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS[kind]
    proc, endpoint = start_s3(kind, workdir)
    client = s3_client(endpoint)
    if kind == "moto":
        client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(path), BUCKET, KEY)
    return proc, endpoint, f"s3://{BUCKET}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench iipsrv", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiles", type=int, default=1000, help="draws per workload (first visits are kept)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--compare", type=int, default=60, help="tiles per workload decoded from both servers")
    parser.add_argument("--cache", default=".cache/demo")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--no-s3", action="store_true", help="leave out gigatile over S3")
    parser.add_argument("--no-iipsrv", action="store_true", help="gigatile only (when iipsrv is not installed)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="3,000 × 5,000, 40 draws, one rep: keeps it alive")
    args = parser.parse_args(argv)
    width, height = (3000, 5000) if args.smoke else (30000, 50000)
    if args.smoke:
        args.tiles, args.reps, args.compare = min(args.tiles, 40), 1, min(args.compare, 10)
        args.cache = args.cache if args.cache != ".cache/demo" else ".cache/bench-smoke"
    if not args.no_iipsrv and not servers.iipsrv_installed():
        raise SystemExit("iipsrv or lighttpd is missing: `make bench` installs iipimage-server and lighttpd")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `make bench` installs it")
    cores = sorted(os.sched_getaffinity(0))
    args.server_core = cores[-1]
    args.load_core = cores[0] if len(cores) > 1 else None

    started = time.perf_counter()
    # One page per level: iipsrv reads the TIFF's directories in turn (no SubIFDs).
    image = make_pyramid(Path(args.cache) / f"sample-{width}x{height}-pages.tif", width, height, subifd=False)
    folder = image.parent.resolve()
    from gigatile.vips import vips

    stored = vips().Image.new_from_file(str(image)).get("n-pages")
    lists = workloads(width, height, stored, args.tiles, args.seed)
    env = servers.gigatile_env(**DUMMY_CREDENTIALS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        contenders = {"gigatile": (servers.Gigatile(str(folder), env), image.name)}
        if not args.no_iipsrv:
            contenders = {"iipsrv": (servers.IIPImage(folder), image.name), **contenders}
        s3 = None
        if not args.no_s3:
            s3, endpoint, source = start_s3_with(image, workdir)
            s3_env = {**env, "AWS_ENDPOINT_URL_S3": endpoint}
            s3_env["AWS_ACCESS_KEY_ID"], s3_env["AWS_SECRET_ACCESS_KEY"] = (
                os.environ["AWS_ACCESS_KEY_ID"],
                os.environ["AWS_SECRET_ACCESS_KEY"],
            )
            contenders["gigatile over S3"] = (servers.Gigatile(source, s3_env, "gigatile over S3"), KEY)
        try:
            results = measure(contenders, lists, args, workdir)
        finally:
            if s3 is not None:
                s3.terminate()

    context = {
        "command": "python -m infra.bench iipsrv" + (" --smoke" if args.smoke else ""),
        "image": f"{width} × {height}, {stored} stored levels, {image.stat().st_size / 2**20:,.0f} MiB",
        "machine": f"{os.cpu_count()} cores; servers on core {args.server_core}, wrk on core {args.load_core}",
        "connections": args.connections,
        "reps": args.reps,
        "seed": args.seed,
        "iipsrv": iipsrv_version(),
        "seconds": round(time.perf_counter() - started),
    }
    out = Path(args.out) if not args.smoke else ROOT / "build" / "bench-smoke"
    write(out, results, context)
    print(f"wrote {out}/iipsrv.json and its section of {out}/benchmarks.md in {context['seconds']} s", flush=True)


def measure(contenders: dict, lists: dict, args, workdir: Path) -> dict:
    results: dict = {"workloads": {}}
    names = list(contenders)
    for workload, tiles in lists.items():
        paths = {name: paths_for(server, image_id, tiles) for name, (server, image_id) in contenders.items()}
        runs: dict[str, list] = {name: [] for name in names}
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]  # alternate who goes first
            for name in order:
                runs[name].append(run_once(contenders[name][0], paths[name], args, workdir / f"{workload}-{name}"))
                r = runs[name][-1]
                print(
                    f"  {workload} rep {rep + 1} {name:18s} new {r['new']['tiles_per_s']:7.0f} tiles/s "
                    f"{r['new']['cpu_ms_per_tile']:5.2f} CPU ms/tile, warm {r['warm']['tiles_per_s']:7.0f} tiles/s, "
                    f"first {r['first_ms']:6.1f} ms, RSS {r['peak_rss_mib']}",
                    flush=True,
                )
        entry = {"tiles": len(tiles), "servers": {name: median_run(runs[name]) for name in names}}
        if "iipsrv" in contenders:
            entry["same_picture"] = compare_pixels(
                contenders["iipsrv"][0],
                contenders["gigatile"][0],
                paths["iipsrv"][: args.compare],
                paths["gigatile"][: args.compare],
                workdir / f"{workload}-compare",
            )
            print(f"  {workload} same picture: {entry['same_picture']}", flush=True)
        if not args.no_profile:
            folder = ROOT / "build" / ("bench-smoke/profiles" if args.smoke else "profiles")
            folder.mkdir(parents=True, exist_ok=True)
            entry["profiles"] = {}
            for name in (n for n in names if n.startswith("gigatile")):
                raw = folder / f"{name.replace(' ', '-')}-{workload}.txt"
                work = workdir / f"{workload}-{name}-profile"
                entry["profiles"][name] = {"file": str(raw.relative_to(ROOT))} | profile(
                    contenders[name][0], paths[name], args, work, raw
                )
        results["workloads"][workload] = entry
    return results


def iipsrv_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "iipimage-server", "lighttpd"], capture_output=True, text=True)
    return ", ".join(out.stdout.split("\n")).replace("\t", " ").strip(", ")


# -- the report ------------------------------------------------------------------------
WORKLOAD_NAMES = {
    "A": "A: IIIF 256 px tiles as OpenSeadragon asks, scale factors 1…256",
    "B": "B: the same at full resolution only",
    "C": "C: DeepZoom tiles of the stored levels",
}


def _ratio(a, b) -> str:
    return f"{a / b:.2f} ×" if a and b else "–"


def section(results: dict, context: dict) -> list[str]:
    lines = [
        "## Side by side with iipsrv",
        "",
        f"Made by `{context['command']}` in {context['seconds']} s ({context['iipsrv']}). Image "
        f"{context['image']} (a libvips pyramid, one page per level), in a local folder for iipsrv and "
        "gigatile, and in s3rver on loopback for *gigatile over S3*. Each server is started fresh per "
        f"run and pinned to one core ({context['machine']}); load from wrk, {context['connections']} "
        "connections, asking each URL of the list once (`infra/bench/urls.lua`). *new*: first visits "
        "after the first request; *warm*: the same list again. CPU per tile: the server processes' "
        "utime + stime over the pass (iipsrv: lighttpd + iipsrv.fcgi) ÷ tiles. Medians of "
        f"{context['reps']} runs, servers alternating. iipsrv re-encodes at JPEG quality 90 "
        "(gigatile's default) and resamples bilinearly; gigatile serves stored tiles as they are "
        "(pass-through) and resamples with Lanczos 3.",
        "",
        "| workload | server | tiles | new tiles/s | new ÷ iipsrv | CPU ms / new tile | CPU ÷ iipsrv "
        "| warm tiles/s | warm ÷ iipsrv | first request ms | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workload, entry in results["workloads"].items():
        ref = entry["servers"].get("iipsrv")
        for name, r in entry["servers"].items():
            rss = " + ".join(f"{v:.0f}" for v in r["peak_rss_mib"].values())
            lines.append(
                f"| {workload} | {name} | {r['new']['tiles']:.0f} | {r['new']['tiles_per_s']:,.0f} | "
                f"{_ratio(r['new']['tiles_per_s'], ref and ref['new']['tiles_per_s'])} | "
                f"{r['new']['cpu_ms_per_tile']:.2f} | "
                f"{_ratio(r['new']['cpu_ms_per_tile'], ref and ref['new']['cpu_ms_per_tile'])} | "
                f"{r['warm']['tiles_per_s']:,.0f} | "
                f"{_ratio(r['warm']['tiles_per_s'], ref and ref['warm']['tiles_per_s'])} | "
                f"{r['first_ms']:.1f} | {rss} |"
            )
    lines += ["", "Peak RSS of iipsrv is iipsrv.fcgi + lighttpd.", ""]
    same = [(w, e["same_picture"]) for w, e in results["workloads"].items() if "same_picture" in e]
    if same:
        lines += [
            f"Same picture (both servers' tiles decoded; mean absolute difference of pixels, 0…255, "
            f"tolerance {TOLERANCE:g} per tile):",
            "",
            "| workload | tiles compared | mean | max | over tolerance | sizes differ |",
            "|---|---|---|---|---|---|",
        ]
        for w, s in same:
            lines.append(
                f"| {w} | {s['tiles']} | {s['mean_mad']:.2f} | {s['max_mad']:.2f} | {s['over_tolerance']} | "
                f"{len(s['size_differs'])} |"
            )
        lines.append("")
    profiled = [(w, e["profiles"]) for w, e in results["workloads"].items() if "profiles" in e]
    if profiled:
        lines += [
            "Where gigatile's Python time goes (py-spy --gil --native over the new-tile pass: the thread "
            "holding the GIL, with its C frames; libvips' pixel work runs without the GIL and is not in "
            "these samples). Top 8 functions by own samples; `build/profiles/*.top.txt` has the top 20 "
            "by own and by total samples:",
            "",
        ]
        for w, by_server in profiled:
            for name, p in by_server.items():
                top = "; ".join(f"{f} {pct} %" for f, pct in p["own_pct"][:8])
                lines.append(f"- **{w}, {name}** ({p['samples']} samples, `{p['file']}`): {top}")
        lines += [
            "",
            f"Flame graph of workload {FLAME[0]}, {FLAME[1]} (py-spy; the other workloads' are "
            "`build/profiles/*.svg`):",
            "",
            "![py-spy flame graph](iipsrv-flamegraph.svg)",
            "",
        ]
    return lines


FLAME = ("A", "gigatile")  # the flame graph copied beside the report


def write(out: Path, results: dict, context: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    profiles = results["workloads"].get(FLAME[0], {}).get("profiles", {})
    if FLAME[1] in profiles:
        svg = (ROOT / profiles[FLAME[1]]["file"]).with_suffix(".svg").read_text()
        # py-spy writes its command line into the picture: no paths of this machine in the docs.
        for folder in (ROOT, Path(sys.executable).parent):
            svg = svg.replace(f"{folder}/", "")
        (out / "iipsrv-flamegraph.svg").write_text(svg)
    (out / "iipsrv.json").write_text(json.dumps({"context": context, **results}, indent=1) + "\n")
    report.replace_section(out / "benchmarks.md", "iipsrv", section(results, context))
