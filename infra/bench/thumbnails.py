"""Thumbnails: quality against libvips' own `vips thumbnail`, and what one costs.

    python -m infra.bench thumbnails [--runs 15] [--cache .cache/demo]

1. PSNR of /api/v1/image/thumbnail against `vips thumbnail` (pyvips' Image.thumbnail, the
   same operation: pyvips-binary has no vips command) on the files tests/test_thumbnail.py
   checks, for contain 300×300 and cover 300×200, and the median time of each, side by
   side in this process: ours through the app from a local folder, warm (the source open
   and cached) and cold (a new tiler), theirs from the local file, PNG-encoded as ours.
2. A 256 and a 1024 px thumbnail of large sources behind the S3 server on loopback
   (moto, counting proxy), cold: S3 GETs and bytes, the size of the level decoded, and
   the bytes a whole-object image handler would download instead.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path

from infra.local_stack import LocalS3, use_credentials
from infra.pixels import psnr
from infra.thumbnail_samples import comparable, vips_thumbnail, write_samples

BUCKET, PREFIX = "gigatile-thumbs", "imgs"
CASES = [("contain", 300, 300), ("cover", 300, 200)]


def app_client(source: str, **env):
    from fastapi.testclient import TestClient

    from gigatile.app import create_app

    os.environ.update({"GIGATILE_SOURCE": source, **{k: str(v) for k, v in env.items()}})
    return TestClient(create_app())


def median_ms(fn, runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def quality(folder: Path, runs: int) -> None:
    from gigatile.service import Tiler
    from gigatile.vips import vips

    files = write_samples(folder)
    client = app_client(str(folder))

    print("file          fit      size      PSNR dB   ours warm ms   ours cold ms   vips thumbnail ms")
    for name, path in files.items():
        if name == "vivid.jpg":
            continue  # p3.jpg's sRGB twin
        for fit, width, height in CASES:
            params = {"path": name, "width": width, "height": height, "fit": fit, "format": "png"}

            def ours(params=params):
                response = client.get("/api/v1/image/thumbnail", params=params)
                assert response.status_code == 200, response.text
                return response.content

            image = vips().Image.new_from_buffer(ours(), "")
            reference = vips_thumbnail(path, width, height, fit)
            score = psnr(comparable(image), reference)
            warm_ms = median_ms(ours, runs)

            def cold(ours=ours):
                state = client.app.state  # a new container's tiler: nothing opened, nothing cached
                state.tiler = Tiler(state.tiler.settings)
                return ours()

            cold_ms = median_ms(cold, runs)
            theirs = functools.partial(vips_thumbnail, path, width, height, fit)
            theirs_ms = median_ms(lambda theirs=theirs: theirs().pngsave_buffer(compression=6), runs)
            size = f"{image.width}×{image.height}"
            times = f"{warm_ms:12.1f}   {cold_ms:12.1f}   {theirs_ms:17.1f}"
            print(f"{name:13s} {fit:8s} {size:9s} {score:7.1f}   {times}")


def cost(cache: Path) -> None:
    from infra.counting_proxy import CountingProxy

    sources = [p for p in (cache / "sample-30000x50000.tif", cache / "baseline-12000x16000.jpg") if p.exists()]
    if not sources:
        print(f"(no large sources in {cache}: run make demo or make bench first)")
        return
    server = LocalS3()
    proxy = CountingProxy(server.endpoint)
    server.bucket(BUCKET, {f"{PREFIX}/{path.name}": path for path in sources})
    print("\nsource                         box    GETs   MiB read   object MiB   level decoded")
    try:
        for path in sources:
            for side in (256, 1024):
                app = app_client(f"s3://{BUCKET}/{PREFIX}", AWS_ENDPOINT_URL_S3=proxy.endpoint)
                proxy.reset()
                response = app.get("/api/v1/image/thumbnail", params={"path": path.name, "width": side, "height": side})
                assert response.status_code == 200, response.text
                gets = proxy.gets()
                read = sum(r.bytes for r in gets) / 2**20
                src = app.app.state.tiler.describe(path.name)
                scale = max(src.width, src.height) / side
                _, opened, _ = src.level_for(scale)
                level = f"{opened.image.width}×{opened.image.height}"
                size_mib = path.stat().st_size / 2**20
                print(f"{path.name:30s} {side:5d} {len(gets):6d} {read:10.2f} {size_mib:12.1f}   {level}")
    finally:
        proxy.stop()
        server.stop()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench thumbnails",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cache", default=".cache/demo")
    args = parser.parse_args(argv)
    use_credentials()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with tempfile.TemporaryDirectory() as tmp:
        quality(Path(tmp), args.runs)
    cost(Path(args.cache))
