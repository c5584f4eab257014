"""The viewer page in a real headless Chromium: OpenSeadragon (vendored) opens the DeepZoom
descriptor and loads tiles from the app, which reads them from the S3 server."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
import uvicorn

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


@pytest.fixture
def live_server(configure):
    configure()
    from gigatile.app import app

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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Debian's Chromium, not a browser Playwright downloads.
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_openseadragon_viewer_loads_tiles(live_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{live_server}/viewer/pyr.tif")
    page.wait_for_function("Number(document.body.dataset.tilesLoaded) >= 4", timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "open"
    assert page.evaluate("document.body.dataset.tileErrors") is None
    assert failed == []
    page.screenshot(path=str(tmp_path / "viewer.png"))


def test_viewer_reports_an_unknown_image(live_server, browser):
    page = browser.new_page()
    page.goto(f"{live_server}/viewer/nope.tif")
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "failed"
