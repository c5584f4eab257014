"""Command line: `gigatile serve` runs the app under uvicorn for GIGATILE_SOURCE."""

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


def main(argv: list[str] | None = None) -> None:
    # Locally there is no one to flush EMF metrics to; logs stay on.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    parser = argparse.ArgumentParser(prog="gigatile", description="serve gigapixel images as tiles")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve GIGATILE_SOURCE (s3://bucket/prefix or a folder)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
