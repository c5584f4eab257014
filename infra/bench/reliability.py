"""Concurrency and leak figures for docs/reliability.md.

    python -m infra.bench simulate [--clients 16] [--tiles 1000] [--jitter-ms 5]
    python -m infra.bench soak [--requests 20000]

`simulate`: the app under uvicorn over moto's S3 server behind the counting proxy, which
delays every S3 reply by a random 0…jitter ms; a serial pass makes the reference bytes,
then `clients` threads each request `tiles` random tiles and IIIF regions of several
images (shuffled, so they collide on the same images and blocks) and every body is
compared byte for byte with the reference. Bounded run time: each request times out.

`soak`: `requests` tile requests in one process through the Lambda handler; RSS, open images,
cached blocks, file descriptors and threads after a warm-up tenth and at the end.
tests/test_reliability.py runs both small; the full sizes are the documented commands.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import threading
import time
from pathlib import Path

from infra.counting_proxy import CountingProxy
from infra.local_stack import (
    make_pyramid,
    pattern,
    proc_status_mib,
    start_moto,
    start_server,
    upload,
    use_credentials,
)

BUCKET = "gigatile-reliability"


def make_images(folder: Path) -> dict[str, tuple[int, int]]:
    """Four sources of different kinds: {id: (width, height)}."""
    make_pyramid(folder / "pyr.tif", 3000, 5000, subifd=True, quality=85, grain=6)
    make_pyramid(folder / "pages.tif", 2500, 1800, subifd=False, quality=80, grain=6)
    if not (folder / "photo.jpg").exists():
        pattern(2000, 1500, seed=7).jpegsave(str(folder / "photo.jpg"), Q=90)
    if not (folder / "map.png").exists():
        pattern(1200, 900, seed=3).pngsave(str(folder / "map.png"))
    return {"pyr.tif": (3000, 5000), "pages.tif": (2500, 1800), "photo.jpg": (2000, 1500), "map.png": (1200, 900)}


def random_urls(images: dict, count: int, seed: int) -> list[str]:
    import math

    rng, urls = random.Random(seed), []
    for _ in range(count):
        image = rng.choice(sorted(images))
        w, h = images[image]
        if rng.random() < 0.8:
            top = math.ceil(math.log2(max(w, h) / 256))
            level = rng.randint(0, top)
            scale = 2 ** (top - level)
            x, y = rng.randrange(math.ceil(w / scale / 256)), rng.randrange(math.ceil(h / scale / 256))
            fmt = rng.choice(["jpeg", "jpeg", "png", "webp"])
            urls.append(f"/api/v1/image/tile?path={image}&level={level}&x={x}&y={y}&format={fmt}")
        else:
            rw, rh = rng.randint(64, w // 2), rng.randint(64, h // 2)
            rx, ry = rng.randrange(w - rw), rng.randrange(h - rh)
            size = min(rng.choice([128, 256, 300]), rw)  # IIIF 3 upscales only with "^"
            urls.append(f"/iiif/3/{image}/{rx},{ry},{rw},{rh}/{size},/0/default.jpg")
    return urls


class Stack:
    """moto (own process) + counting proxy + the images uploaded; env pointed at them."""

    def __init__(self, folder: Path, jitter_ms: float = 0.0):
        use_credentials()
        self.images = make_images(folder)
        self.moto, endpoint = start_moto()
        for name in self.images:
            upload(endpoint, BUCKET, name, folder / name)
        self.proxy = CountingProxy(endpoint, jitter_ms=jitter_ms)
        os.environ.update(
            AWS_ENDPOINT_URL_S3=self.proxy.endpoint,
            GIGATILE_SOURCE=f"s3://{BUCKET}",
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )

    def close(self) -> None:
        self.proxy.stop()
        self.moto.terminate()


def simulate(stack: Stack, clients: int, tiles: int, seed: int = 7) -> dict:
    import httpx

    base, server = start_server()
    try:
        per_client = [random_urls(stack.images, tiles, seed + i) for i in range(clients)]
        reference = {}
        jitter, stack.proxy.jitter_ms = stack.proxy.jitter_ms, 0
        with httpx.Client(base_url=base, timeout=60) as http:
            for url in sorted({u for urls in per_client for u in urls}):
                resp = http.get(url)
                reference[url] = (resp.status_code, resp.content)
        stack.proxy.jitter_ms = jitter

        def run(urls):
            mismatches, errors = 0, 0
            with httpx.Client(base_url=base, timeout=60) as http:
                for url in urls:
                    try:
                        resp = http.get(url)
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    mismatches += (resp.status_code, resp.content) != reference[url]
            return mismatches, errors

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(run, per_client))
        return {
            "clients": clients,
            "requests": clients * tiles,
            "distinct": len(reference),
            "reference_non_200": sum(status != 200 for status, _ in reference.values()),
            "mismatches": sum(r[0] for r in results),
            "transport_errors": sum(r[1] for r in results),
            "seconds": round(time.perf_counter() - start, 1),
            "jitter_ms": jitter,
        }
    finally:
        server.should_exit = True


def soak(stack: Stack, requests: int, seed: int = 11) -> dict:
    """Through the Lambda handler, fed API Gateway events: the production path."""
    from urllib.parse import parse_qsl, urlsplit

    from gigatile.app import create_app
    from gigatile.handler import make_handler
    from infra.events import LambdaContext, api_gateway_event

    app = create_app()
    handler, tiler = make_handler(app), app.state.tiler

    def get(url: str) -> dict:
        parts = urlsplit(url)
        return handler(api_gateway_event("http-api-v2", parts.path, dict(parse_qsl(parts.query))), LambdaContext())

    urls = random_urls(stack.images, requests, seed)
    warm = max(1, requests // 10)

    def snapshot():
        return {
            "rss_mib": round(proc_status_mib("VmRSS"), 1),
            "open_images": len(tiler.images),
            "open_image_mib": round(tiler.images.size / 2**20, 1),
            "block_cache_mib": round(tiler.blocks.size / 2**20, 1),
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": threading.active_count(),
        }

    failures, after_warm = {}, None
    start = time.perf_counter()
    for i, url in enumerate(urls):
        resp = get(url)
        if resp["statusCode"] != 200:
            failures[url] = str(resp["body"])[:200]
        if i + 1 == warm:
            after_warm = snapshot()
    end = snapshot()
    drift = (end["rss_mib"] - after_warm["rss_mib"]) / after_warm["rss_mib"] * 100
    return {
        "requests": requests,
        "warm_up": warm,
        "non_200": len(failures),
        "failures": dict(list(failures.items())[:5]),
        "after_warm_up": after_warm,
        "end": end,
        "rss_drift_percent": round(drift, 2),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m infra.bench {command}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cache", default=".cache/reliability")
    return parser


def _run(cache: str, jitter_ms: float, measure) -> None:
    folder = Path(cache)
    folder.mkdir(parents=True, exist_ok=True)
    stack = Stack(folder, jitter_ms=jitter_ms)
    try:
        result = measure(stack)
    finally:
        stack.close()
    print(json.dumps(result, indent=1))


def simulate_main(argv: list[str]) -> None:
    parser = _parser("simulate")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--tiles", type=int, default=1000)
    parser.add_argument("--jitter-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    _run(args.cache, args.jitter_ms, lambda stack: simulate(stack, args.clients, args.tiles))


def soak_main(argv: list[str]) -> None:
    parser = _parser("soak")
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args(argv)
    _run(args.cache, 0.0, lambda stack: soak(stack, args.requests))
