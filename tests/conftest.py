"""Real parts: moto's S3 server over HTTP on loopback behind a counting proxy, images
written by libvips, and the app driven over HTTP (TestClient) or through Lambda events."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.counting_proxy import CountingProxy  # noqa: E402
from infra.local_stack import LocalS3, make_pyramid, pattern, use_credentials  # noqa: E402

BUCKET = "gigatile-test"
PREFIX = "imgs"

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false")
use_credentials()


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


def _reset_app():
    from gigatile.config import get_settings
    from gigatile.service import get_tiler

    get_settings.cache_clear()
    get_tiler.cache_clear()


@pytest.fixture
def configure(monkeypatch, s3):
    """Point gigatile at the S3 server (through the counting proxy) with extra settings."""

    def apply(**env):
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.proxy.endpoint)
        monkeypatch.setenv("GIGATILE_SOURCE", f"s3://{BUCKET}/{PREFIX}")
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        _reset_app()
        s3.proxy.reset()
        from fastapi.testclient import TestClient

        from gigatile.app import app

        return TestClient(app)

    yield apply
    _reset_app()


@pytest.fixture
def client(configure):
    return configure()
