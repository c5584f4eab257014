"""Command line: `gigatile serve` runs the app under uvicorn for GIGATILE_SOURCE;
`gigatile token ID` mints a signed-access token with the first of GIGATILE_SIGNING_KEYS."""

from __future__ import annotations

import argparse
import os
import sys


def serve(host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    from .config import ConfigError, get_settings

    try:
        settings = get_settings()
    except ConfigError as exc:
        sys.exit(f"gigatile: {exc}")
    print(f"gigatile: serving {settings.source.describe()} on http://{host}:{port}", flush=True)
    uvicorn.run("gigatile.app:app", host=host, port=port, log_level=log_level)


def token(scope: str, ttl: int) -> None:
    import time

    from .config import ConfigError, get_settings
    from .http.signing import sign

    try:
        keys = get_settings().signing_keys
    except ConfigError as exc:
        sys.exit(f"gigatile: {exc}")
    if not keys:
        sys.exit("gigatile: set GIGATILE_SIGNING_KEYS (comma-separated, the first one signs)")
    print(sign(keys[0], scope, int(time.time()) + ttl))


def main(argv: list[str] | None = None) -> None:
    # Locally there is no one to flush EMF metrics to; logs stay on.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    parser = argparse.ArgumentParser(prog="gigatile", description="serve gigapixel images as tiles")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve GIGATILE_SOURCE (s3://bucket/prefix or a folder)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_token = sub.add_parser("token", help="print a signed-access token for an image id (or a prefix ending in /)")
    p_token.add_argument("scope", help="image id, or id prefix ending with /")
    p_token.add_argument("--ttl", type=int, default=86400, help="seconds until it expires (default one day)")
    args = parser.parse_args(argv)
    if args.command == "token":
        token(args.scope, args.ttl)
    else:
        serve(args.host, args.port)


if __name__ == "__main__":
    main()
