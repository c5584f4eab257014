"""Cold start of the packaged function: import time of the handler and time to the first
tile, each in a fresh `python -S -E` process with only the Lambda layout on sys.path.

Builds the function and layer for this interpreter with their Makefiles, serves an
8,000 × 8,000 pyramid from moto's S3 server (its own process), runs the probe N times and
prints medians. Run: `python -m infra.bench cold-start [--runs 7]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from infra.events import api_gateway_event
from infra.lambda_layout import build_layout, probe
from infra.local_stack import DUMMY_CREDENTIALS, make_pyramid, start_moto, upload


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench cold-start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cache", default=".cache/coldstart")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    image = make_pyramid(cache / "pyr-8000.tif", 8000, 8000)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        layout = build_layout(Path(tmp))
        print(f"built function + layer for this interpreter in {time.perf_counter() - started:.0f} s")
        query = {"path": "pyr-8000.tif", "level": 5, "x": 7, "y": 9}
        event = api_gateway_event("http-api-v2", "/api/v1/image/tile", query)
        event_file = Path(tmp) / "event.json"
        event_file.write_text(json.dumps(event))
        moto, endpoint = start_moto()
        try:
            upload(endpoint, "coldstart", "pyr-8000.tif", image)
            env = {
                **DUMMY_CREDENTIALS,
                "AWS_ENDPOINT_URL_S3": endpoint,
                "GIGATILE_SOURCE": "s3://coldstart",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "MALLOC_ARENA_MAX": "2",
                "PATH": "/usr/bin:/bin",
            }
            for label, extra in (
                ("lazy (default)", {}),
                ("GIGATILE_WARM_ON_INIT=true", {"GIGATILE_WARM_ON_INIT": "1"}),
            ):
                report(label, [run_once(layout, event_file, {**env, **extra}) for _ in range(args.runs)])
        finally:
            moto.terminate()


def run_once(layout, event_file, env) -> tuple[float, float, float]:
    started = time.perf_counter()
    out = probe(layout, event_file, env)
    wall = time.perf_counter() - started
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200, result
    return result["import_s"], result["first_invoke_s"], wall


def report(label: str, runs: list) -> None:
    med = [statistics.median(r[i] for r in runs) * 1000 for i in range(3)]
    print(
        f"{label}: {len(runs)} fresh processes, medians: import handler {med[0]:.0f} ms, first tile "
        f"{med[1]:.0f} ms (import + first tile {med[0] + med[1]:.0f} ms), whole process {med[2]:.0f} ms"
    )
