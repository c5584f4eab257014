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


def test_iipsrv_side_by_side_smoke():
    """iipsrv behind lighttpd, gigatile from the folder and over s3rver, loaded by wrk
    (`make test` installs iipimage-server, lighttpd and wrk): every list served by each,
    the same picture from both, a profile per workload. Counts only."""
    out = subprocess.run(
        [sys.executable, "-m", "infra.bench", "iipsrv", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    folder = ROOT / "build" / "bench-smoke"
    report = json.loads((folder / "iipsrv.json").read_text())
    assert set(report["workloads"]) == {"A", "B", "C"}
    for name, entry in report["workloads"].items():
        servers = entry["servers"]
        assert set(servers) == {"iipsrv", "gigatile", "gigatile over S3"}, name
        assert {s["new"]["tiles"] for s in servers.values()} == {entry["tiles"] - 1}
        assert all(s["new"]["tiles_per_s"] > 0 and s["peak_rss_mib"] for s in servers.values())
        same = entry["same_picture"]
        assert same["tiles"] == 10 and same["over_tolerance"] == 0, same
        for profile in entry["profiles"].values():
            assert profile["samples"] > 0 and (ROOT / profile["file"]).stat().st_size > 0
    assert "| A | iipsrv |" in (folder / "benchmarks.md").read_text()
    assert str(ROOT) not in (folder / "iipsrv-flamegraph.svg").read_text()  # no paths of this machine


def test_request_path_smoke():
    out = subprocess.run(
        [sys.executable, "-m", "infra.bench", "request-path", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    document = json.loads((ROOT / "build" / "bench-smoke" / "request-path.json").read_text())
    results = document["results"]
    assert set(results) == {"pass-through", "re-encoding"}
    # Pass-through copies stored tiles (edge tiles of a level may not be whole stored tiles).
    assert results["pass-through"]["passthrough_share"] > 0.5
    assert results["re-encoding"]["passthrough_share"] == 0
    for r in results.values():
        assert set(r["new"]) == {"A", "B"} and len(r["http_ms"]) == 2
        assert set(r["handler_routes_ms"]) == {"simple", "deepzoom", "iiif3", "iiif2"}
    assert results["pass-through"]["deployed"]["handler_ms"] > 0 and document["transport_floor_ms"] > 0


def test_tile_classes_smoke(tmp_path):
    """Workload A of a small page pyramid through the tile service, by kind of tile: every
    first visit in exactly one class, most of them stored tiles passed through."""
    out = subprocess.run(
        [sys.executable, "-m", "infra.bench", "tile-classes", "--width", "3000", "--height", "5000"]
        + ["--tiles", "200", "--repeats", "1", "--pillow", "--cache", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.stdout.splitlines() if line[:2] == "| "]
    rows = {row[0]: int(row[1]) for row in cells if row[1].isdigit()}
    total = rows.pop("all")
    assert total > 50 and sum(rows.values()) == total, out.stdout
    assert rows["pass-through"] > total / 2 and rows.get("one stored tile", 0) > 0, out.stdout
    assert "by Pillow's JTL" in out.stdout


def test_s3_get_smoke():
    command = [sys.executable, "-m", "infra.bench", "s3-get", "--smoke", "--delay-ms", "5"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout)
    (gets,) = results["gets"]
    assert gets["gets"] == 50 and gets["cpu_us_median"] > 0 and len(gets["gc_per_1000_gets"]) == 3
    (tiles,) = results["tiles"]
    assert tiles["tiles"] == 10 and tiles["peak_rss_mib"] > 0
    # The first request opens the pyramid: its GETs, each [start ms, end ms, bytes asked].
    assert tiles["first_request_gets_ms_ms_bytes"][0][2] == 512 * 1024


def test_formats_smoke(tmp_path):
    """Reads per tile by format (#13), run small over four formats: every zoom asked and
    counted, the criteria judged, the tables written. A MISS is a finding, not a failure here."""
    out = subprocess.run(
        [sys.executable, "-m", "infra.bench", "formats", "--smoke", "--cache", str(tmp_path / "cache")]
        + ["--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "formats.json").read_text())
    results = {r["format"]: r for r in report["results"]}
    assert set(results) == {"pyramid-subifd", "cog-mask", "svs-j2k", "striped"}
    for name, r in results.items():
        assert r["meta_status"] == 200 and r["open_gets"] >= 1, (name, r)
        assert 0 < r["peak_rss_mb"] < 2000 and r["read_limit_bytes"] == 4 * 2**20
        assert r["zooms"][0]["downsample"] == 1 and r["zooms"][0]["stored"]
        assert any(not z["stored"] for z in r["zooms"]), name  # one zoom the file does not store
        for z in r["zooms"]:
            assert z["tiles"] >= 1 and sum(z["answers"].values()) == z["tiles"], (name, z)
        assert {"stored_ok", "budget_ok", "rss_ok"} <= set(r)
    # Stored levels: the SVS's 1, 4 and 16; the libvips pyramid's halvings down to one tile.
    assert [z["downsample"] for z in results["svs-j2k"]["zooms"] if z["stored"]] == [1, 4, 16]
    assert [z["downsample"] for z in results["pyramid-subifd"]["zooms"] if z["stored"]] == [1, 2, 4, 8]
    # A striped scan's full-resolution tiles are served from the strips they cover.
    assert results["striped"]["zooms"][0]["answers"] == {"200": 2}
    table = (tmp_path / "formats.md").read_text()
    assert "| svs-j2k | Aperio SVS" in table and table.count("| striped |") == 3  # its file, then its two zooms


def test_sequential_rounds_counts_waits_not_requests():
    from infra.counting_proxy import Record, sequential_rounds

    def get(began: float, ended: float) -> Record:
        return Record("GET", "/b/k", "bytes=0-1", 206, 2, began=began, ended=ended)

    assert sequential_rounds([]) == 0
    # Two in flight together count once; one sent after both were answered waits again.
    assert sequential_rounds([get(0, 1), get(1.5, 2), get(1.6, 2.5), get(3, 4)]) == 3
    assert sequential_rounds([get(0, 5), get(1, 2), get(3, 4)]) == 2


def test_tile_costs_smoke(tmp_path):
    """The cold open and the first request of a small page pyramid through the counting
    proxy, with their GETs and the round trips they waited for one after another."""
    command = [sys.executable, "-m", "infra.bench", "tile-costs", "--layout", "pages", "--width", "3000"]
    command += ["--height", "2000", "--tiles", "30", "--delay-ms", "5", "--cache", str(tmp_path)]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split(":")[0]: line for line in out.stdout.splitlines() if "sequential round trips" in line}
    assert set(lines) == {"cold open (meta)", "first request, info.json", "first request, a tile"}, out.stdout
    for line in lines.values():
        gets, rounds = (int(w) for w in line.split(": ")[1].split()[0:4:3])
        assert 1 <= rounds <= gets, line
