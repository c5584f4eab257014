"""Real parts: moto's S3 server over HTTP on loopback behind a counting proxy, images
written by libvips, and the app driven over HTTP (TestClient) or through Lambda events."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.counting_proxy import CountingProxy  # noqa: E402
from infra.local_stack import LocalS3, make_pyramid, pattern, use_credentials  # noqa: E402

BUCKET = "gigatile-test"
PREFIX = "imgs"

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false")
use_credentials()


# The IIIF validator's test image: 1000 × 1000, 10 × 10 squares of 100 px whose colours
# (column-major) are listed in iiif_validator.validator.ValidationInfo.colorInfo.
VALIDATOR_ID = "67352ccc-d1b0-11e1-89ae-279075081939"


def _validator_image(pyvips, path: Path) -> Path:
    from iiif_validator.validator import ValidationInfo

    colours = ValidationInfo().colorInfo
    columns = [
        pyvips.Image.arrayjoin(
            [pyvips.Image.black(100, 100, bands=3).new_from_image(colours[x][y]) for y in range(10)], across=1
        )
        for x in range(10)
    ]
    image = pyvips.Image.arrayjoin(columns, across=10).cast("uchar").copy(interpretation="srgb")
    image.tiffsave(
        str(path), tile=True, pyramid=True, subifd=True, compression="deflate", tile_width=256, tile_height=256
    )
    return path


def _write_images(folder: Path) -> dict[str, Path]:
    from gigatile.vips import vips

    pyvips = vips()
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        # Non-square pyramids in both libvips layouts: SubIFDs, and one page per level.
        "pyr.tif": make_pyramid(folder / "pyr.tif", 3000, 5000, subifd=True, quality=90, grain=6),
        "pages.tif": make_pyramid(folder / "pages.tif", 3000, 5000, subifd=False, quality=90, grain=6),
    }
    photo = pattern(2000, 1500, seed=7)
    photo.jpegsave(str(folder / "photo.jpg"), Q=90)
    files["photo.jpg"] = folder / "photo.jpg"
    small = pattern(600, 400, seed=3)
    alpha = (pyvips.Image.xyz(600, 400)[0] * 255 / 600).cast("uchar")
    small.bandjoin(alpha).pngsave(str(folder / "alpha.png"))
    files["alpha.png"] = folder / "alpha.png"
    small.webpsave(str(folder / "small.webp"), Q=90)
    files["small.webp"] = folder / "small.webp"
    data = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    files["truncated.jpg"] = folder / "truncated.jpg"
    (folder / "page.html").write_bytes(b"<!doctype html><html><body>not an image</body></html>")
    files["page.html"] = folder / "page.html"
    (folder / "empty.tif").write_bytes(b"")
    files["empty.tif"] = folder / "empty.tif"
    files[VALIDATOR_ID] = _validator_image(pyvips, folder / VALIDATOR_ID)
    (folder / "nested").mkdir(exist_ok=True)
    shutil.copy(folder / "photo.jpg", folder / "nested" / "dir photo.jpg")
    files["nested/dir photo.jpg"] = folder / "nested" / "dir photo.jpg"
    return files


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    return _write_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def s3(images):
    server = LocalS3()
    proxy = CountingProxy(server.endpoint)
    client = server.bucket(BUCKET, {f"{PREFIX}/{key}": path for key, path in images.items()})
    client.put_object(Bucket=BUCKET, Key="secret/hidden.jpg", Body=images["photo.jpg"].read_bytes())
    server.proxy = proxy
    server.bucket_client = client
    yield server
    proxy.stop()
    server.stop()


@pytest.fixture
def configure(monkeypatch, s3):
    """Point gigatile at the S3 server (through the counting proxy) with extra settings."""

    def apply(**env):
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.proxy.endpoint)
        monkeypatch.setenv("GIGATILE_SOURCE", f"s3://{BUCKET}/{PREFIX}")
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        s3.proxy.reset()
        from fastapi.testclient import TestClient

        from gigatile.app import create_app

        return TestClient(create_app())  # a new app: settings read from the environment now

    return apply


@pytest.fixture
def client(configure):
    return configure()


@pytest.fixture
def live_server(configure):
    """The app under uvicorn on a free loopback port, for a browser or the IIIF validator."""
    app = configure().app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


# The unit tier (`make test-fast`: pytest -m "not slow", under a minute) leaves out what
# makes a run slow; `make test` (CI) runs every test. Most tests cost ~0.25 s (a fresh
# tiler, hence a fresh boto3 client), so long parametrized matrices go too: the tier keeps
# tests of every route and feature. The one list: a module, module::test (all its cases) or
# module::test[case].
SLOW = {
    # Browsers, fuzzers, generated requests, validators, builds, benchmarks, soaks.
    "test_viewer.py": "headless Chromium",
    "test_viewers.py::test_viewer_shows_the_source_pixels": "11 viewer set-ups in headless Chromium",
    "test_viewers.py::test_the_viewer_page_switches_viewers": "headless Chromium",
    "test_viewers.py::test_the_viewer_page_says_when_a_viewer_is_not_served": "headless Chromium",
    "test_fuzz.py": "two atheris runs of FUZZ_SECONDS (60 s) each",
    "test_schemathesis.py": "generated requests for every operation",
    "test_iiif_validator.py": "the IIIF validator over uvicorn",
    "test_package.py": "builds the function and layer with pip",
    "test_bench_smoke.py": "the benchmark: s3rver and a process per setup",
    "test_reliability.py": "request simulator and soak, thousands of requests",
    "test_pyramid.py": "pyramid conversions, the converter through a loopback Lambda",
    "test_deploy.py": "the SAM CLI driven through guided and samconfig deploys",
    "test_deploy_events.py": "six conversions from S3 and EventBridge payloads",
    "test_s3_faults.py": "injected S3 faults: retries, back-off, stalled reads",
    "test_http.py::test_concurrent_requests_match_serial_bytes": "threads of clients",
    "test_http.py::test_slow_s3_ends_in_504_not_a_hang_and_the_instance_recovers": "waits for the deadline",
    "test_deepzoom.py::test_levels_tile_counts_sizes_and_pixels_match_dzsave": "every tile against dzsave",
    "test_slides.py::test_a_large_slide_reads_only_what_each_zoom_needs": "writes a 16,000 × 12,000 slide (~25 s)",
    "test_strips.py::test_a_full_resolution_view_reads_only_the_strips_it_covers": "a 12,000 × 9,000 scan (15 s)",
    "test_strips.py::test_lower_zooms_of_a_striped_scan_stay_refused": "the 12,000 × 9,000 scan",
    "test_strips.py::test_a_view_whose_strips_are_over_the_budget_is_refused": "the 12,000 × 9,000 scan",
    "test_bad_input_matrix.py::test_malformed_parameters"
    "[/api/v1/image/thumbnail?path=pyr.tif&width=12000&format=png]": "a 12,000 px thumbnail",
    # Long parametrized matrices.
    "test_hostile_budgets.py::test_hostile_file_is_refused_or_served_within_budgets": "315 requests, a server process",
    "test_http.py::test_bad_requests": "28 cases",
    "test_http.py::test_format_auto_follows_accept_and_varies": "12 cases",
    "test_iiif.py::test_bad_iiif_requests": "18 cases",
    "test_iiif.py::test_sizes_rotations_qualities": "6 cases, one a 2,250 × 3,750 upscale",
    "test_lambda.py::test_tile_through_lambda_is_base64_with_its_content_type": "6 cases",
    "test_pages.py::test_missing_pages_are_404": "5 cases",
    "test_passthrough.py::test_aligned_jpeg_tile_is_the_stored_tile": "8 cases",
    "test_passthrough.py::test_other_requests_are_rendered": "5 cases",
    "test_passthrough.py::test_every_whole_stored_tile_passes_through_at_every_level_in_deepzoom_and_iiif": (
        "every tile of two pyramids in two protocols (~30 s)"
    ),
    "test_thumbnail.py::test_matches_vips_thumbnail": "21 cases",
    "test_thumbnail.py::test_bad_requests": "9 cases",
    "test_tiles.py::test_tile_pixels_match_libvips_on_the_local_file": "18 cases",
}


def pytest_collection_modifyitems(config, items):
    found = set()
    for item in items:
        module = item.path.name
        for key in (module, f"{module}::{getattr(item, 'originalname', item.name)}", f"{module}::{item.name}"):
            if key in SLOW:
                item.add_marker(pytest.mark.slow)
                found.add(key)
    collected = {item.path.name for item in items}
    stale = [key for key in SLOW if key not in found and key.split("::")[0] in collected]
    if stale:
        warnings.warn(f"SLOW in tests/conftest.py names tests that no longer exist: {stale}", stacklevel=1)


# The browser of the viewer tests (test_viewer.py, test_viewers.py): one per module.
# Playwright starts it headless; the rest keeps Chromium off this machine's closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,768",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is missing: `make test` installs Debian's chromium package"
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Debian's Chromium, not a browser Playwright downloads.
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
