"""Powertools Logger, Metrics and Tracer, shared by the app and the Lambda handler.

Metrics are buffered per invocation and flushed as CloudWatch EMF by the handler;
under `gigatile serve` they are disabled unless POWERTOOLS_METRICS_DISABLED says otherwise.
The Tracer exists unless POWERTOOLS_TRACE_DISABLED is true.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from .config import env_bool

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "gigatile")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "gigatile"), service=SERVICE)


def _tracing_wanted() -> bool:
    # Powertools imports the X-Ray SDK (and patches botocore) even when tracing is
    # disabled: about 0.3 s of cold start. Build no Tracer at all when it is off.
    return not env_bool("POWERTOOLS_TRACE_DISABLED", False)


tracer = Tracer(service=SERVICE) if _tracing_wanted() else None


def record_tile(image: str, tile, **where) -> None:
    """One structured log line (image, where in it: tile_level/x/y, IIIF region/size or a
    thumbnail's box, and the page) and the per-tile metrics. ("level" is the log record's
    own key: INFO, WARNING …)"""
    logger.info(
        "tile",
        extra={
            "image": image,
            **where,
            "render_ms": round(tile.render_ms, 2),
            "s3_gets": tile.stats.gets,
            "s3_bytes": tile.stats.bytes,
            "cache_hits": tile.stats.hits,
            "bytes_out": len(tile.body),
            "passthrough": tile.passthrough,
        },
    )
    if is_metrics_disabled():
        # Powertools prints its buffer every 100 values even when metrics are disabled.
        return
    metrics.add_metric(name="TileLatency", unit=MetricUnit.Milliseconds, value=tile.render_ms)
    metrics.add_metric(name="S3Gets", unit=MetricUnit.Count, value=tile.stats.gets)
    metrics.add_metric(name="S3BytesRead", unit=MetricUnit.Bytes, value=tile.stats.bytes)
    metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=tile.stats.hits)
