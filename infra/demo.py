"""`make demo`: a local S3 server with a 30,000 × 50,000 sample, and gigatile serving it.

The sample is generated once (about a minute on 2 cores) and cached under .cache/.
Ctrl-C stops the server and the S3 server it started.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from infra.local_stack import LocalS3, make_pyramid, use_credentials  # noqa: E402

BUCKET = "gigatile-demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=50000)
    parser.add_argument("--cache", default=".cache/demo")
    args = parser.parse_args()

    sample = Path(args.cache) / f"sample-{args.width}x{args.height}.tif"
    if not sample.exists():
        print(f"generating {sample} ({args.width}×{args.height}, tiled pyramidal JPEG TIFF)…", flush=True)
    make_pyramid(sample, args.width, args.height)

    use_credentials()
    s3 = LocalS3()
    s3.bucket(BUCKET, {"images/sample.tif": sample})
    print(f"local S3 at {s3.endpoint}, s3://{BUCKET}/images/sample.tif ({sample.stat().st_size >> 20} MiB)")

    os.environ["AWS_ENDPOINT_URL_S3"] = s3.endpoint
    os.environ["GIGATILE_SOURCE"] = f"s3://{BUCKET}/images"
    import uvicorn

    from gigatile.app import create_app
    from infra.local_stack import mount_viewers

    app = create_app()
    if not mount_viewers(app):
        print("build/viewers is missing (`make viewers`): the page's switch offers OpenSeadragon only")
    print(f"viewer: http://{args.host}:{args.port}/viewer/sample.tif", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        s3.stop()


if __name__ == "__main__":
    main()
