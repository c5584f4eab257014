"""The viewer page in a real headless Chromium: OpenSeadragon (vendored) opens the DeepZoom
descriptor and loads tiles from the app, which reads them from the S3 server."""

from __future__ import annotations

import pytest


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


@pytest.fixture(scope="module")
def animation(s3, tmp_path_factory):
    """A 3-frame GIF (red, green, blue) in the bucket."""
    from gigatile.vips import vips
    from infra.local_stack import animation
    from tests.conftest import BUCKET, PREFIX

    vips()  # libvips set up as the app does
    path = tmp_path_factory.mktemp("viewer") / "frames.gif"
    animation([(200, 0, 0), (0, 200, 0), (0, 0, 200)], 400, 300).gifsave(str(path))
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/frames.gif")
    return "frames.gif"


@pytest.mark.parametrize("protocol", ["deepzoom", "iiif"])
def test_viewer_pages_through_frames(live_server, browser, animation, protocol):
    """A multi-page image opens in OpenSeadragon's sequence mode at ?page=, one page per
    frame, and turning the page loads that frame's tiles."""
    page = browser.new_page(viewport={"width": 800, "height": 600})
    tiles, failures = [], []
    page.on("response", lambda r: tiles.append(r.url) if r.status == 200 and "frames.gif" in r.url else None)
    page.on("response", lambda r: failures.append(r.url) if r.status >= 400 else None)
    page.goto(f"{live_server}/viewer/{animation}?page=1" + ("&protocol=iiif" if protocol == "iiif" else ""))
    page.wait_for_function("Number(document.body.dataset.tilesLoaded) >= 1", timeout=30_000)
    assert page.evaluate("[document.body.dataset.pages, document.body.dataset.page]") == ["3", "1"]
    assert "page 2 of 3" in page.inner_text("#info")
    green = page.locator("canvas").first.screenshot()
    page.evaluate("document.body.dataset.tilesLoaded = '0'; viewer.goToPage(2)")
    page.wait_for_function("document.body.dataset.page === '2' && Number(document.body.dataset.tilesLoaded) >= 1")
    page.wait_for_timeout(300)
    blue = page.locator("canvas").first.screenshot()
    marker = "page:2/" if protocol == "iiif" else "page=2"
    assert any(marker in url for url in tiles), tiles
    assert failures == []

    from gigatile.vips import vips

    def mean_rgb(png: bytes) -> list[float]:
        image = vips().Image.new_from_buffer(png, "")
        return [image[band].avg() for band in range(3)]

    g, b = mean_rgb(green), mean_rgb(blue)
    assert g[1] > g[2] and b[2] > b[1], (g, b)  # the frames shown are the green one, then the blue one
