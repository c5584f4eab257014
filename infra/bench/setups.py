"""What the benchmark compares. Each setup opens lazily and answers `tile(level, x, y)`
with encoded image bytes; everything runs in the measured child process.

Tile coordinates are the simple API's grid (256 px, level max_level = full size), which
rio-tiler's ImageReader also uses for non-geographic images.
"""

from __future__ import annotations

import base64
import io
import math
import os

BUCKET = "gigatile-bench"


class GigatileHandler:
    """The Lambda handler, in-process, fed API Gateway HTTP API (v2) events."""

    def __init__(self, key: str):
        self.key = key
        self.handler = None

    def tile(self, level: int, x: int, y: int) -> bytes:
        from infra.events import LambdaContext, api_gateway_event

        if self.handler is None:
            from gigatile.handler import handler

            self.handler = handler
        query = {"path": self.key, "level": level, "x": x, "y": y}
        response = self.handler(api_gateway_event("http-api-v2", "/api/v1/image/tile", query), LambdaContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"{response['statusCode']}: {response['body'][:200]}")
        return base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"].encode()


class GigatileHttp:
    """The same app under uvicorn on loopback, asked over one kept-alive HTTP connection."""

    def __init__(self, key: str):
        self.key = key
        self.conn = None

    def _start(self):
        import http.client
        from urllib.parse import urlsplit

        from infra.local_stack import start_server

        base, _server = start_server()
        self.conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)

    def tile(self, level: int, x: int, y: int) -> bytes:
        from urllib.parse import urlencode

        if self.conn is None:
            self._start()
        query = urlencode({"path": self.key, "level": level, "x": x, "y": y})
        self.conn.request("GET", f"/api/v1/image/tile?{query}")
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {body[:200]!r}")
        return body


class GigatileNaive(GigatileHandler):
    """The "before" picture: the same render, but every libvips on_read is one S3 GET of
    exactly the bytes asked for (no block cache, no readahead)."""

    def tile(self, level: int, x: int, y: int) -> bytes:
        if self.handler is None:
            from gigatile import handler
            from gigatile.sources.reader import ObjectReader

            class NaiveReader(ObjectReader):
                def read(self, offset: int, length: int, exact: bool = False, version=None) -> bytes:
                    version = version or self.version()
                    end = min(offset + length, version.size)
                    return self._get(offset, end - 1, version.etag)[0] if offset < end else b""

            tiler = handler.app.state.tiler  # the tiler the Lambda handler serves with
            readers = {}

            def reader(image_id):
                key = tiler.store.key_for(image_id)
                if key not in readers:
                    s = tiler.settings
                    readers[key] = NaiveReader(tiler.store, key, tiler.blocks, s.block_size, s.version_ttl)
                return readers[key]

            tiler.reader = reader
        return super().tile(level, x, y)


class WholeObject:
    """The image-proxy way: GetObject the whole file for every request, decode it with
    Pillow, crop, resize (Lanczos), encode."""

    def __init__(self, key: str):
        self.key = key
        self.client = None

    def tile(self, level: int, x: int, y: int) -> bytes:
        from PIL import Image

        if self.client is None:
            import boto3

            self.client = boto3.client("s3")
            Image.MAX_IMAGE_PIXELS = None  # the whole point is to decode it all
        data = self.client.get_object(Bucket=BUCKET, Key=self.key)["Body"].read()
        with Image.open(io.BytesIO(data)) as image:
            max_level = math.ceil(math.log2(max(image.size) / 256))
            scale = 2 ** (max_level - level)
            left, top = x * 256 * scale, y * 256 * scale
            right, bottom = min(left + 256 * scale, image.width), min(top + 256 * scale, image.height)
            out = (max(1, round((right - left) / scale)), max(1, round((bottom - top) / scale)))
            tile = image.crop((left, top, right, bottom)).resize(out, Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            tile.save(buffer, "JPEG", quality=90)
            return buffer.getvalue()


# TiTiler's recommended GDAL settings for COGs over S3 (docs: "Performance tuning").
GDAL_ENV = {
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "5000000",
    "CPL_VSIL_CURL_CACHE_SIZE": "200000000",
    "AWS_HTTPS": "NO",
    "AWS_VIRTUAL_HOSTING": "FALSE",
}


class RioTiler:
    """rio-tiler's ImageReader (the core of titiler-image) on the COG, opened per request
    as TiTiler does; GDAL's caches persist across opens in the process."""

    def __init__(self, key: str):
        self.key = key
        self.env = None

    def tile(self, level: int, x: int, y: int) -> bytes:
        import rasterio
        from rio_tiler.io import ImageReader

        if self.env is None:
            endpoint = os.environ["AWS_ENDPOINT_URL_S3"].removeprefix("http://")
            self.env = rasterio.Env(**GDAL_ENV, AWS_S3_ENDPOINT=endpoint, AWS_REGION="us-east-1")
            self.env.__enter__()
        with ImageReader(f"s3://{BUCKET}/{self.key}") as reader:
            image = reader.tile(x, y, level)
        return image.render(img_format="JPEG", add_mask=False, quality=90)


class Static:
    """The pre-tiled floor: `vips dzsave` tiles as objects, one GetObject each."""

    def __init__(self, key: str, max_level: int, dz_max_level: int):
        self.key, self.shift = key, dz_max_level - max_level
        self.client = None

    def tile(self, level: int, x: int, y: int) -> bytes:
        if self.client is None:
            import boto3

            self.client = boto3.client("s3")
        key = f"{self.key}_files/{level + self.shift}/{x}_{y}.jpeg"
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
