"""Command line: `gigatile serve` runs the app under uvicorn for GIGATILE_SOURCE;
`gigatile token ID` mints a signed-access token with the first of GIGATILE_SIGNING_KEYS;
`gigatile pyramid SRC DST` converts an image (local path or s3://bucket/key) into a tiled
pyramidal TIFF (local path or s3://bucket/key)."""

from __future__ import annotations

import argparse
import os
import sys


def serve(host: str, port: int, log_level: str = "info", access_log: bool = False) -> None:
    import uvicorn

    from .app import create_app
    from .service import warm_up

    settings = _settings()
    app = create_app(settings)
    # libvips, the store's client and the routes now, before the port opens, not in the
    # first request.
    warm_up(app.state.tiler)
    _warm_routes(app)
    print(f"gigatile: serving {settings.source.describe()} on http://{host}:{port}", flush=True)
    # loop/http "auto" take uvloop and httptools (the server extra installs uvicorn[standard]);
    # the access log is off by default: one formatted line per tile is a fair share of a
    # pass-through tile's time (docs/performance.md, Request path).
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)


# One request into every route (but the top collections, which list the source): FastAPI
# does work on a route's first request that start-up can do instead (once per router when
# routes sat in included routers, ≈ 60 ms for all of gigatile's; now per route, chiefly
# reading the endpoint's source lines with `inspect` for its error messages: 0.1–0.7 ms a
# route, 1–3 ms for the first of a module). The requests are refused before any read (no
# image id, or the id "." or "-" refused or unknown), so nothing is read from the source.
WARM_PATHS = (
    "/health",
    "/api/v1/image/meta",
    "/api/v1/image/tile",
    "/api/v1/image/tile/-",
    "/api/v1/image/thumbnail",
    "/api/v1/image/associated/-",
    "/dzi/-",
    "/iiif/3/./collection.json",
    "/iiif/2/./collection.json",
    "/iiif/3/./info.json",
    "/iiif/2/./info.json",
    "/viewer/-",
)


def _warm_routes(app) -> None:
    import asyncio

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        return None

    async def ask_each_route() -> None:
        for path in WARM_PATHS:
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
                "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
            }  # fmt: skip
            await app(scope, receive, send)

    asyncio.run(ask_each_route())


def token(scope: str, ttl: int) -> None:
    import time

    from .http.signing import sign

    keys = _settings().signing_keys
    if not keys:
        sys.exit("gigatile: set GIGATILE_SIGNING_KEYS (comma-separated, the first one signs)")
    print(sign(keys[0], scope, int(time.time()) + ttl))


def _settings():
    from .config import ConfigError, Settings

    try:
        return Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"gigatile: {exc}")


def _split_s3(url: str) -> tuple[str, str] | None:
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def pyramid(src: str, dst: str, quality: int, compression: str, tile_size: int) -> None:
    import tempfile
    from pathlib import Path

    from .conversion.pyramid import convert
    from .sources.s3 import S3Store
    from .vips import vips

    pyvips = vips()
    s3_src, s3_dst = _split_s3(src), _split_s3(dst)
    if s3_src:
        from .lru import LRU
        from .sources.reader import ObjectReader
        from .sources.vips_source import RangeSource

        block_size = _settings().block_size
        reader = ObjectReader(S3Store(s3_src[0], ""), s3_src[1], LRU(64 * 2**20, sizeof=len), block_size, 0)
        source = RangeSource(reader)  # kept alive while libvips reads it
        image = pyvips.Image.new_from_source(source.source, "", access="sequential", fail_on="truncated")
    else:
        image = pyvips.Image.new_from_file(src, access="sequential", fail_on="truncated")
    print(f"{src}: {image.width} × {image.height}, {image.bands} bands, {image.get('vips-loader')}", flush=True)
    bar = _progress_bar(image.width * image.height)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pyramid.tif" if s3_dst else Path(dst)
        done = convert(image, out, quality, compression, tile_size, progress=bar)
        bar(100)
        if s3_dst:
            S3Store(s3_dst[0], "").upload(str(out), s3_dst[1], "image/tiff")
    print(
        f"\n{dst}: {done.bytes / 2**20:,.1f} MiB, {done.levels} levels, {tile_size} px tiles, {compression}; "
        f"{done.seconds:.1f} s, {done.megapixels_per_second:,.0f} Mpx/s",
        flush=True,
    )


def _progress_bar(pixels: int):
    """A one-line progress bar fed by libvips' eval signal (percent done)."""
    shown = [-1]

    def update(percent: int) -> None:
        if percent != shown[0]:
            shown[0] = percent
            filled = percent * 40 // 100
            print(f"\r[{'#' * filled}{'.' * (40 - filled)}] {percent:3d}% of {pixels / 1e6:,.0f} Mpx", end="")
            sys.stdout.flush()

    return update


def main(argv: list[str] | None = None) -> None:
    # Locally there is no one to flush EMF metrics to; logs stay on.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    parser = argparse.ArgumentParser(prog="gigatile", description="serve gigapixel images as tiles")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve GIGATILE_SOURCE (s3://bucket/prefix or a folder)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--access-log", action="store_true", help="log one line per request (off by default)")
    p_token = sub.add_parser("token", help="print a signed-access token for an image id (or a prefix ending in /)")
    p_token.add_argument("scope", help="image id, or id prefix ending with /")
    p_token.add_argument("--ttl", type=int, default=86400, help="seconds until it expires (default one day)")
    p_pyr = sub.add_parser("pyramid", help="convert SRC into a tiled pyramidal TIFF at DST (paths or s3://bucket/key)")
    p_pyr.add_argument("src")
    p_pyr.add_argument("dst")
    p_pyr.add_argument("--quality", type=int, default=85, help="JPEG/WebP quality (default 85)")
    p_pyr.add_argument("--compression", choices=["jpeg", "deflate", "webp"], default="jpeg")
    p_pyr.add_argument("--tile-size", type=int, default=256)
    args = parser.parse_args(argv)
    if args.command == "token":
        token(args.scope, args.ttl)
    elif args.command == "pyramid":
        pyramid(args.src, args.dst, args.quality, args.compression, args.tile_size)
    else:
        serve(args.host, args.port, access_log=args.access_log)


if __name__ == "__main__":
    main()
