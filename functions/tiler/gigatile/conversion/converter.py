"""The converter Lambda: an S3 "object created" event (an S3 notification, its
EventBridge form, or the tiler's on-demand request in that form) → the derived pyramid
of that exact object version, written next to the source bucket under
GIGATILE_PYRAMID_PREFIX as `<prefix><key>@<etag>.tif`.

Idempotent (an existing derived pyramid is left alone), never triggered by its own output
(keys under the pyramid prefix are skipped), and a failure raises, so Lambda's
asynchronous retries and the dead-letter queue see it. One run at a time per source
version: a run claims the work with a `<target>.converting` marker that S3 writes only if
absent (a conditional PUT), so an upload event and on-demand requests from several tiler
containers cost one conversion; a claim older than any run can last is taken over.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from ..config import Settings
from ..errors import GigatileError
from ..formats.levels import is_tiled_pyramid
from ..formats.tiff import TiffError, TiffFile
from ..lru import LRU
from ..observability import logger
from ..sources.reader import ObjectReader
from ..sources.s3 import S3Store
from ..sources.vips_source import RangeSource
from ..vips import vips
from .on_demand import ON_DEMAND_SOURCE
from .policy import PyramidPolicy, derived_key
from .pyramid import Converted, convert

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".avif")
# Longer than a run may last (the function's 900 s timeout): an older claim is a dead run's.
CLAIM_SECONDS = 960


def records(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of every object the event says was created. S3 sends keys
    URL-encoded (spaces as "+", "+" as "%2B", UTF-8 bytes as %XX), in its notifications
    and in its EventBridge events alike; the tiler's on-demand requests carry the key as
    stored."""
    if "Records" in event:  # S3 notification
        return [(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"])) for r in event["Records"]]
    if event.get("source") == "aws.s3":  # EventBridge "Object Created"
        return [(event["detail"]["bucket"]["name"], unquote_plus(event["detail"]["object"]["key"]))]
    if event.get("source") == ON_DEMAND_SOURCE:
        return [(event["detail"]["bucket"]["name"], event["detail"]["object"]["key"])]
    raise ValueError("not an S3 object-created event")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Read per event: microseconds beside a conversion, and a malformed setting fails the
    # event (Lambda retries, then the dead-letter queue) with its name.
    settings = Settings.from_env()
    return {"results": [convert_object(settings, bucket, key) for bucket, key in records(event)]}


def convert_object(settings: Settings, bucket: str, key: str) -> dict[str, Any]:
    source, prefix = settings.source, settings.pyramid_prefix
    result: dict[str, Any] = {"bucket": bucket, "key": key}
    if not prefix or key.startswith(prefix):
        return result | {"status": "skipped", "reason": "a derived pyramid (or derived pyramids are off)"}
    if source.kind != "s3" or bucket != source.bucket or not key.startswith(source.prefix):
        return result | {"status": "skipped", "reason": "outside GIGATILE_SOURCE"}
    if not key.lower().endswith(SUFFIXES):
        return result | {"status": "skipped", "reason": "not an image suffix"}

    store = S3Store(bucket, "")
    reader = ObjectReader(store, key, LRU(64 * 2**20, sizeof=len), settings.block_size, 0, settings.open_read_bytes)
    version = reader.version()
    target = derived_key(prefix, key, version.etag)
    result |= {"target": target, "etag": version.etag}
    if store.exists(target):
        return result | {"status": "skipped", "reason": "already converted"}
    range_source = RangeSource(reader)
    try:
        image = vips().Image.new_from_source(range_source.source, "", access="sequential", fail_on="truncated")
    except vips().Error:
        range_source.raise_pending()  # an S3 failure raises (Lambda retries); a bad file is final
        return result | {"status": "skipped", "reason": "not a readable image"}
    tiled_pyramid = False
    if image.get("vips-loader").startswith("tiffload"):
        try:
            tiled_pyramid = is_tiled_pyramid(TiffFile(reader, version.size))
        except TiffError:
            return result | {"status": "skipped", "reason": "not a readable TIFF"}
    refused = PyramidPolicy(settings).refusal(tiled_pyramid, image.width, image.height)
    if refused:
        return result | {"status": "skipped", "reason": refused}

    claim = f"{target}.converting"
    if not _claim(store, claim):
        return result | {"status": "skipped", "reason": "being converted by another run"}
    try:
        if store.exists(target):  # finished by another run between the first look and the claim
            return result | {"status": "skipped", "reason": "already converted"}
        done = _convert_and_upload(image, range_source, store, key, target, version.etag, settings)
    finally:
        store.delete(claim)
    stats = {
        "width": done.width,
        "height": done.height,
        "levels": done.levels,
        "bytes": done.bytes,
        "seconds": round(done.seconds, 2),
    }
    logger.info("converted", extra={"key": key, "target": target, **stats})
    return result | {"status": "converted", **stats}


def _claim(store: S3Store, claim: str) -> bool:
    """Write the claim marker if absent; False while another run holds a fresh one."""
    if store.put_if_absent(claim):
        return True
    held = store.modified_at(claim)
    if held is None or time.time() - held < CLAIM_SECONDS:
        return False  # None: released just now, its pyramid is there
    logger.warning("taking over a stale conversion claim", extra={"claim": claim})
    store.put(claim)
    return True


def _convert_and_upload(
    image: Any, range_source: RangeSource, store: S3Store, key: str, target: str, etag: str, settings: Settings
) -> Converted:
    logged: set[int] = set()

    def progress(percent: int) -> None:
        step = percent // 10 * 10
        if step not in logged:
            logged.add(step)
            logger.info("converting", extra={"key": key, "percent": step})

    with tempfile.TemporaryDirectory() as tmp:  # Lambda: /tmp, sized by EphemeralStorage
        out = Path(tmp) / "pyramid.tif"
        try:
            done = convert(image, out, quality=settings.convert_quality, progress=progress)
        except vips().Error as exc:
            range_source.raise_pending()
            raise GigatileError(f"conversion of {key} failed: {str(exc).strip()[:200]}") from None
        # S3 metadata is ASCII only: the key percent-encoded (UTF-8), as in a URL.
        metadata = {"source-key": quote(key, safe="/"), "source-etag": etag}
        store.upload(str(out), target, "image/tiff", metadata)
    return done
