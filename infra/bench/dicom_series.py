"""What a DICOM WSI series costs over S3: its open, and new tiles at every zoom.

    python -m infra.bench dicom-series [--width 8192 --height 6144] [--tiles 5]

A series written as wsidicom / PixelMed write one (tests/slide_files.py, so the `test`
extra's pydicom is needed): VOLUME instances at 1, 1/4 and 1/16 (256 px JPEG frames), a
LABEL and an OVERVIEW, uploaded to moto's S3 server, served through the counting proxy
with the default settings. Opens the series from its 1/4 instance (`meta`), then asks
`--tiles` new random JPEG tiles of the simple API at each zoom, finest first, and prints
the GETs and bytes each read from S3 and how many were stored frames passed through.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
from pathlib import Path

from infra.counting_proxy import CountingProxy
from infra.local_stack import LocalS3, pattern, use_credentials

TEMPLATE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "openslide" / "boxes_0.dcm"
BUCKET = "bench-dicom"


class _Passthrough(logging.Handler):
    """Counts the tiles the service logs as passed through."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += bool(getattr(record, "passthrough", False))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.bench dicom-series")
    parser.add_argument("--width", type=int, default=8192)
    parser.add_argument("--height", type=int, default=6144)
    parser.add_argument("--tiles", type=int, default=5, help="new tiles per zoom")
    args = parser.parse_args(argv)

    from gigatile.vips import vips
    from tests.slide_files import dicom_series, shrink
    from tests.test_slides import pixels

    use_credentials()
    vips()
    folder = Path(tempfile.mkdtemp(prefix="bench-dicom-"))
    base = pixels(pattern(args.width, args.height, seed=1, grain=40))
    levels = [base] + [shrink(base, d) for d in (4, 16)]
    label, overview = pixels(pattern(400, 200, seed=2)), pixels(pattern(800, 320, seed=3))
    files = dicom_series(folder, TEMPLATE, levels, label, overview)
    server = LocalS3()
    proxy = CountingProxy(server.endpoint)
    server.bucket(BUCKET, {f"slide/{name}": path for name, path in files.items()})
    os.environ["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
    os.environ["GIGATILE_SOURCE"] = f"s3://{BUCKET}"
    from fastapi.testclient import TestClient

    from gigatile.app import create_app

    app = TestClient(create_app())
    counter = _Passthrough()
    log = logging.getLogger("gigatile")
    log.handlers = [counter]  # the tile log lines, counted rather than printed
    log.setLevel(logging.INFO)
    try:
        sizes = {name: path.stat().st_size for name, path in files.items()}
        print(f"series: {json.dumps(sizes)}")
        proxy.reset()
        start = time.perf_counter()
        meta = app.get("/api/v1/image/meta", params={"path": "slide/level1.dcm"}).json()
        gets = proxy.gets("/slide/")
        print(
            f"open (meta of level1.dcm): {len(gets)} GETs, {sum(g.bytes for g in gets)} bytes, "
            f"{(time.perf_counter() - start) * 1000:.0f} ms; {meta['source_levels']} levels, "
            f"associated {meta['associated']}"
        )
        rng = random.Random(3)
        print("zoom (scale) | new tiles | GETs per tile (max, mean) | bytes per tile (max) | passed through")
        for entry in reversed(meta["levels"]):
            cells = [(x, y) for x in range(entry["cols"]) for y in range(entry["rows"])]
            chosen = rng.sample(cells, min(args.tiles, len(cells)))
            counts, sizes_read, passed = [], [], counter.count
            for x, y in chosen:
                proxy.reset()
                params = {"path": "slide/level1.dcm", "level": entry["level"], "x": x, "y": y}
                assert app.get("/api/v1/image/tile", params=params).status_code == 200
                gets = proxy.gets("/slide/")
                counts.append(len(gets))
                sizes_read.append(sum(g.bytes for g in gets))
            mean = sum(counts) / len(counts)
            print(
                f"{entry['level']} (1/{entry['scale']}) | {len(chosen)} | {max(counts)}, {mean:.1f} | "
                f"{max(sizes_read)} | {counter.count - passed}"
            )
    finally:
        proxy.stop()
        server.stop()
