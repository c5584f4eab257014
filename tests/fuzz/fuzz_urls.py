"""atheris: arbitrary request paths and query strings against the app (simple API,
thumbnails, DeepZoom, IIIF, signed access on). Any 500, or an exception out of the app, is a crash.

    python tests/fuzz/fuzz_urls.py tests/fuzz/corpus/urls -max_total_time=60
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions" / "tiler"))
os.environ.setdefault("GIGATILE_SOURCE", str(ROOT / "tests" / "fuzz" / "corpus" / "images"))
os.environ.setdefault("GIGATILE_SIGNING_KEYS", "")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

with atheris.instrument_imports(include=["gigatile"]):
    from fastapi.testclient import TestClient

    from gigatile.app import create_app

CLIENT = TestClient(create_app(), raise_server_exceptions=True)
PREFIXES = [
    "/api/v1/image/tile?",
    "/api/v1/image/meta?",
    "/api/v1/image/thumbnail?",
    "/api/v1/image/thumbnail?path=tiny.jpg&",
    "/dzi/",
    "/iiif/3/",
    "/iiif/3/tiny.jpg/",
    "/iiif/3/page:",
]


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    prefix = PREFIXES[fdp.ConsumeIntInRange(0, len(PREFIXES) - 1)]
    rest = fdp.ConsumeUnicodeNoSurrogates(200)
    url = prefix + "".join(c for c in rest if c not in "#")
    try:
        resp = CLIENT.get(url)
    except Exception as exc:  # the client refusing a URL is not the app's fault
        if type(exc).__module__.startswith(("httpx", "h11", "idna")) or isinstance(exc, UnicodeError):
            return
        raise
    if resp.status_code >= 500 and resp.status_code != 503:
        raise AssertionError(f"{resp.status_code} for {url!r}: {resp.text[:200]}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
