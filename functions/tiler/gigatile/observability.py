"""Powertools Logger, Metrics and Tracer, shared by the app and the Lambda handler.

Metrics are buffered per invocation and flushed as CloudWatch EMF by the handler;
under `gigatile serve` they are disabled unless POWERTOOLS_METRICS_DISABLED says otherwise.
The Tracer is built only for the Lambda handler, and only when asked for (make_tracer).
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


def make_tracer(subsegments: bool) -> Tracer | None:
    """Powertools' Tracer when in-code X-Ray subsegments are wanted (GIGATILE_XRAY_SUBSEGMENTS)
    and POWERTOOLS_TRACE_DISABLED is not true, else None. Building one imports the X-Ray SDK
    and botocore's session and patches botocore (about 0.1 s of CPU at every cold start,
    0.3 s on a busy machine), even when Powertools then disables it; Lambda's active tracing
    records the function's segment (init, invocation, overhead) without any of that."""
    if not subsegments or env_bool("POWERTOOLS_TRACE_DISABLED", False):
        return None
    return Tracer(service=SERVICE)


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
