"""The benchmark harness, run small (3,000 × 5,000 image, 30 tiles, one delay), so that
`make bench` does not rot. It checks counts, never times: times are the report's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke_runs_every_setup_and_counts_requests(tmp_path):
    s3rver = ROOT / "build" / "s3rver" / "node_modules" / ".bin" / "s3rver"
    assert s3rver.exists(), "s3rver is missing: `make test` installs it (npm)"
    out = subprocess.run(
        [sys.executable, "-m", "infra.bench", "--smoke", "--cache", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    folder = ROOT / "build" / "bench-smoke"
    report = json.loads((folder / "benchmarks.json").read_text())
    runs = {r["setup"]: r for r in report["runs"]}
    assert not [r for r in runs.values() if "error" in r], runs
    assert len(runs) == 12
    # The floor: one GET per tile, always.
    assert runs["static dzsave tiles"]["gets_per_tile"] == 1.0
    # No HEAD anywhere in gigatile; never more than 2 GETs for a new tile once open.
    for name in ("gigatile", "gigatile on the COG", "gigatile, 8,000 px square"):
        assert runs[name]["heads"] == 0
        assert runs[name]["gets_max"] <= 2, runs[name]
    # The naive source costs tens of GETs per tile where gigatile costs about one.
    assert runs["naive source"]["gets_per_tile"] > 10 * max(runs["gigatile"]["gets_per_tile"], 1)
    # The repeat pass is served from cached bytes.
    assert runs["gigatile"]["warm_gets"] == 0
    assert "| gigatile |" in (folder / "benchmarks.md").read_text()
    assert (folder / "benchmarks.png").stat().st_size > 10_000
