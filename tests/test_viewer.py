"""The viewer page in a real headless Chromium: OpenSeadragon (vendored) opens the DeepZoom
descriptor and loads tiles from the app, which reads them from the S3 server."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import uvicorn

CHROMIUM_FLAGS = [
    "--headless",
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


def dump_dom(url: str, profile) -> str:
    args = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url]
    return subprocess.run(args, capture_output=True, text=True, timeout=90).stdout


def body_data(dom: str) -> dict:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', tag.group(1)))


def test_openseadragon_viewer_loads_tiles(live_server, tmp_path):
    data = body_data(dump_dom(f"{live_server}/viewer/pyr.tif", tmp_path / "profile"))
    assert data["state"] == "open", data
    assert int(data["tiles-loaded"]) >= 4, data
    assert "tile-errors" not in data


def test_viewer_reports_an_unknown_image(live_server, tmp_path):
    data = body_data(dump_dom(f"{live_server}/viewer/nope.tif", tmp_path / "profile"))
    assert data["state"] == "failed", data
