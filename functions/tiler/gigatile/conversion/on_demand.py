"""On-demand conversion: when the tiler opens a large non-tiled source that has no pyramid
yet, it asks the converter Lambda to build one (an asynchronous invoke, so the viewer's
request is not held); until it exists, full-resolution views answer 503 + Retry-After.

This covers what upload events do not: images already in the bucket before the stack was
deployed, or a bucket whose events do not reach EventBridge. Each source version is asked
for at most once per RETRY_SECONDS per warm container; the converter itself skips a
pyramid that already exists, so requests from several containers cost one conversion.
"""

from __future__ import annotations

import time
from typing import Any

from ..lru import LRU
from ..observability import logger
from ..sources.lambda_invoke import AsyncInvoker, InvokeFailed

# The event's "source": the converter accepts it beside S3's own "aws.s3".
ON_DEMAND_SOURCE = "gigatile.tiler"
RETRY_SECONDS = 900
MAX_REMEMBERED = 10_000


def conversion_event(bucket: str, key: str) -> dict[str, Any]:
    """An EventBridge-shaped "Object Created" event for the converter."""
    return {
        "source": ON_DEMAND_SOURCE,
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
    }


class ConversionRequests:
    def __init__(self, function: str, bucket: str):
        self.function = function
        self.bucket = bucket
        # When each source version was last asked for (monotonic), the most recent ones.
        self._asked: LRU[float] = LRU(MAX_REMEMBERED)
        self._invoker = AsyncInvoker(function)

    def request(self, key: str, etag: str) -> bool:
        """Ask for the pyramid of this source version, unless asked recently. True if sent."""
        now = time.monotonic()
        asked = self._asked.get((key, etag))
        if asked is not None and now - asked < RETRY_SECONDS:
            return False
        self._asked.put((key, etag), now)
        try:
            self._invoker.invoke(conversion_event(self.bucket, key))
        except InvokeFailed as exc:
            # The 503 still tells the viewer to come back; the next request asks again.
            self._asked.pop((key, etag))
            logger.warning("conversion request failed", extra={"key": key, "error": str(exc)})
            return False
        logger.info("conversion requested", extra={"key": key, "etag": etag, "function": self.function})
        return True
