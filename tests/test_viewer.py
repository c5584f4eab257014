"""The viewer page in a real headless Chromium: OpenSeadragon (vendored) opens the DeepZoom
descriptor and loads tiles from the app, which reads them from the S3 server."""

from __future__ import annotations

import shutil

import pytest

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


def test_openseadragon_viewer_loads_tiles_while_zooming(live_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    tiles, failures, console_errors = [], [], []
    page.on("response", lambda r: tiles.append((r.url, r.status)) if "_files/" in r.url else None)
    page.on("requestfailed", lambda r: failures.append(r.url))
    page.on("response", lambda r: failures.append(r.url) if r.status >= 400 else None)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server}/viewer/pyr.tif")
    page.wait_for_function("Number(document.body.dataset.tilesLoaded) >= 1", timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "open"
    for _ in range(3):  # zoom in three steps around the centre, waiting for new tiles each time
        loaded = page.evaluate("Number(document.body.dataset.tilesLoaded)")
        page.evaluate("viewer.viewport.zoomBy(3); viewer.viewport.applyConstraints()")
        page.wait_for_function(f"Number(document.body.dataset.tilesLoaded) > {loaded}", timeout=30_000)
        page.wait_for_timeout(500)
    levels = {int(url.split("_files/")[1].split("/")[0]) for url, status in tiles if status == 200}
    per_level = {lv: sum(1 for u, st in tiles if st == 200 and f"_files/{lv}/" in u) for lv in sorted(levels)}
    print(f"viewer: 200s per DeepZoom level {per_level}")  # shown with pytest -s
    assert len(levels) >= 3, tiles
    assert failures == [] and console_errors == []
    assert page.evaluate("document.body.dataset.tileErrors") is None
    shot = tmp_path / "viewer.png"
    page.locator("canvas").first.screenshot(path=str(shot))
    from gigatile.vips import vips

    image = vips().Image.new_from_file(str(shot))
    assert image.deviate() > 5, "the canvas is blank"


def test_viewer_reports_an_unknown_image(live_server, browser):
    page = browser.new_page()
    page.goto(f"{live_server}/viewer/nope.tif")
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "failed"


def test_viewer_switches_to_iiif(live_server, browser):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    tiles = []
    page.on("response", lambda r: tiles.append((r.url, r.status)) if "/iiif/3/" in r.url else None)
    page.goto(f"{live_server}/viewer/pyr.tif?protocol=iiif")
    page.wait_for_function("Number(document.body.dataset.tilesLoaded) >= 1", timeout=30_000)
    assert page.evaluate("document.body.dataset.protocol") == "iiif"
    assert any(url.endswith("/info.json") and status == 200 for url, status in tiles)
    assert any(url.endswith("/default.jpg") and status == 200 for url, status in tiles), tiles
