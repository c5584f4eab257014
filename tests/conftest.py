"""Real parts: moto's S3 server over HTTP on loopback behind a counting proxy, images
written by libvips, and the app driven over HTTP (TestClient) or through Lambda events."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
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
    client = server.client()
    client.create_bucket(Bucket=BUCKET)
    for key, path in images.items():
        client.upload_file(str(path), BUCKET, f"{PREFIX}/{key}")
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
