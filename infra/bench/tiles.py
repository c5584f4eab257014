"""`make bench`: gigatile side by side with the alternatives, in one run on one machine.

    python -m infra.bench [tiles] [--tiles 1000] [--delays 0,20] [--seed 42] [--s3 s3rver|moto] [--smoke]

Generates (and caches) the datasets, serves them from a local S3 server on loopback behind
the counting proxy (optionally adding a fixed delay per request), and runs every setup in a
fresh process pinned to one core over the same random tile sequence across all levels.
Writes docs/benchmarks.md, .json and .png (or build/bench-smoke/ with --smoke).

The S3 server is s3rver (from the npm registry; `make bench` installs it), because moto
copies the whole object for every ranged GET (~180 ms for the 242 MB pyramid) and would
drown every latency; tests keep moto. s3rver ignores If-Match, which changes no count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra.bench import report, servers
from infra.bench.datasets import build
from infra.bench.setups import BUCKET
from infra.counting_proxy import CountingProxy
from infra.local_stack import DUMMY_CREDENTIALS, free_port, start_moto

ROOT = Path(__file__).resolve().parents[2]

S3RVER = ROOT / "build" / "s3rver" / "node_modules" / ".bin" / "s3rver"
# s3rver accepts only its own fixed key pair; moto accepts any.
CREDENTIALS = {"s3rver": ("S3RVER", "S3RVER"), "moto": ("testing", "testing")}


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


def start_s3(kind: str, workdir: Path):
    if kind == "moto":
        return start_moto()
    port = free_port()
    data = workdir / "s3rver"
    data.mkdir()
    proc = subprocess.Popen(
        [str(S3RVER), "--silent", "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--configure-bucket", BUCKET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            s3_client(endpoint).head_bucket(Bucket=BUCKET)
            return proc, endpoint
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("s3rver did not start: run `make bench` (it installs s3rver from the npm registry)")


def grid_levels(width: int, height: int) -> int:
    return math.ceil(math.log2(max(width, height) / 256))


def random_tiles(width: int, height: int, count: int, seed: int) -> list[list[int]]:
    """Uniform over levels, then over the tiles of the level (as in `tile-costs`)."""
    rng, top = random.Random(seed), grid_levels(width, height)
    tiles = []
    for _ in range(count):
        level = rng.randint(0, top)
        scale = 2 ** (top - level)
        cols, rows = math.ceil(width / scale / 256), math.ceil(height / scale / 256)
        tiles.append([level, rng.randrange(cols), rng.randrange(rows)])
    return tiles


def image_size(path: Path) -> tuple[int, int]:
    from gigatile.vips import vips

    image = vips().Image.new_from_file(str(path))
    return image.width, image.height


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench [tiles]", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiles", type=int, default=1000, help="random tiles per setup")
    parser.add_argument("--slow-tiles", type=int, default=10, help="tiles for the naive and whole-object setups")
    parser.add_argument("--delays", help="ms added to every S3 request, one run each (default 0,20; smoke 0)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--s3", choices=["s3rver", "moto"], default="s3rver")
    parser.add_argument("--cache", help="dataset cache (default .cache/demo, shared with make demo)")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--smoke", action="store_true", help="small images, few tiles: keeps the harness alive")
    args = parser.parse_args(argv)
    if args.smoke:
        sizes = {"width": 3000, "height": 5000, "giant": 8000, "baseline": (1200, 1600)}
        args.tiles, args.slow_tiles = min(args.tiles, 30), min(args.slow_tiles, 3)
        args.cache = args.cache or ".cache/bench-smoke"
    else:
        sizes = {"width": 30000, "height": 50000, "giant": 100_000, "baseline": (12000, 16000)}
    args.cache = args.cache or ".cache/demo"
    delays = [float(d) for d in (args.delays or ("0" if args.smoke else "0,20")).split(",")]

    started = time.perf_counter()
    print("datasets:", flush=True)
    data = build(Path(args.cache), **sizes)
    os.environ.update(DUMMY_CREDENTIALS)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS[args.s3]
    width, height = sizes["width"], sizes["height"]
    top = grid_levels(width, height)
    sequence = random_tiles(width, height, args.tiles, args.seed)
    baseline_size = image_size(data.baseline)
    sequences = {
        "pyramid": sequence,
        "slow": sequence[: args.slow_tiles],
        "baseline": random_tiles(*baseline_size, args.slow_tiles, args.seed),
        "giant": random_tiles(sizes["giant"], sizes["giant"], args.tiles, args.seed),
    }
    dz_top = math.ceil(math.log2(max(width, height)))

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server, endpoint = start_s3(args.s3, workdir)
        proxy = CountingProxy(endpoint)
        try:
            upload_all(endpoint, data, sequence, dz_top - top)
            print(f"uploaded in {time.perf_counter() - started:.0f} s since start", flush=True)
            files = {}
            for name, seq in sequences.items():
                files[name] = workdir / f"{name}.json"
                files[name].write_text(json.dumps(seq))
            env = servers.gigatile_env(AWS_ENDPOINT_URL_S3=proxy.endpoint, GIGATILE_SOURCE=f"s3://{BUCKET}")
            no_pass = {"GIGATILE_PASSTHROUGH": "0"}
            setups = [
                # label, kind, key, sequence, extra env, repeat (warm pass)
                ("gigatile", "gigatile", "pyramid.tif", "pyramid", {}, True),
                ("gigatile, re-encoding", "gigatile", "pyramid.tif", "pyramid", no_pass, True),
                ("gigatile over HTTP", "gigatile-http", "pyramid.tif", "pyramid", {}, False),
                ("gigatile on the COG", "gigatile", "cog.tif", "pyramid", {}, True),
                ("gigatile on the COG, re-encoding", "gigatile", "cog.tif", "pyramid", no_pass, False),
                ("rio-tiler on the COG", "rio-tiler", "cog.tif", "pyramid", {}, True),
                ("static dzsave tiles", "static", "static", "pyramid", {}, False),
                # ~180 GETs a tile: more than the default 8 s deadline once S3 answers in 20 ms.
                ("naive source", "naive", "pyramid.tif", "slow", no_pass | {"GIGATILE_DEADLINE_MS": "600000"}, False),
                ("whole-object + Pillow (baseline JPEG)", "whole-object", "baseline.jpg", "baseline", {}, False),
                (
                    "gigatile (baseline JPEG)",
                    "gigatile",
                    "baseline.jpg",
                    "baseline",
                    {"GIGATILE_MAX_DECODE_PIXELS": str(2 * baseline_size[0] * baseline_size[1])},
                    False,
                ),
            ]
            runs = []
            for delay in delays:
                proxy.delay_ms = delay
                for label, kind, key, seq, extra, repeat in setups:
                    result = run_child(kind, key, files[seq], proxy, {**env, **extra}, repeat, top, dz_top)
                    runs.append(report.summarize(label, delay, result, top, seq))
                    print(report.one_line(runs[-1]), flush=True)
            proxy.delay_ms = 0
            giant_top = grid_levels(sizes["giant"], sizes["giant"])
            for label, extra in (("", {}), (", re-encoding", no_pass)):
                giant = run_child("gigatile", "giant.tif", files["giant"], proxy, {**env, **extra}, False, 0, 0)
                label = f"gigatile, {sizes['giant']:,} px square{label}"
                runs.append(report.summarize(label, 0, giant, giant_top, "giant"))
                print(report.one_line(runs[-1]), flush=True)
        finally:
            proxy.stop()
            server.terminate()

    context = {
        "command": "make bench" if not args.smoke else "python -m infra.bench --smoke",
        "args": {k: v for k, v in vars(args).items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}",
        "s3": args.s3,
        "image": f"{width} × {height}",
        "baseline": f"{baseline_size[0]} × {baseline_size[1]}",
        "sizes": {k: os.path.getsize(getattr(data, k)) for k in ("pyramid", "cog", "giant", "baseline")},
        "whole_object_pyramid_bytes": width * height * 3,
        "seconds": round(time.perf_counter() - started),
    }
    out = Path(args.out) if not args.smoke else ROOT / "build" / "bench-smoke"
    report.write(out, runs, context)
    print(f"wrote {out}/benchmarks.md, .json, .png in {time.perf_counter() - started:.0f} s", flush=True)


def upload_all(endpoint: str, data, sequence, dz_shift: int) -> None:
    client = s3_client(endpoint)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
        client.create_bucket(Bucket=BUCKET)
    for key, path in (("pyramid.tif", data.pyramid), ("cog.tif", data.cog), ("giant.tif", data.giant)):
        client.upload_file(str(path), BUCKET, key)
    client.upload_file(str(data.baseline), BUCKET, "baseline.jpg")
    # Only the tiles the sequence asks for: uploading all 31,000 would take minutes.
    for level, x, y in {tuple(t) for t in sequence}:
        name = f"static_files/{level + dz_shift}/{x}_{y}.jpeg"
        client.upload_file(str(data.static.parent / name), BUCKET, name)


def run_child(kind, key, sequence_file, proxy, env, repeat, top, dz_top) -> dict:
    command = [sys.executable, "-m", "infra.bench.child", kind, key, "--sequence", str(sequence_file)]
    command += ["--control", proxy.endpoint, "--max-level", str(top), "--dz-max-level", str(dz_top)]
    if repeat:
        command.append("--repeat")
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])
