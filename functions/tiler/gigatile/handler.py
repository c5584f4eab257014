"""The Lambda entry point: Mangum over the same FastAPI app, with Powertools around it.

Module scope runs once per execution environment; the app's expensive parts (pyvips,
boto3 client, caches) are created on the first request that needs them and then reused.
"""

from __future__ import annotations

import warnings

from mangum import Mangum

from .app import app
from .observability import logger, metrics, tracer

_asgi = Mangum(app, lifespan="off")
# Requests that render nothing (metadata, errors, 304s) publish no metrics; that is expected.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event, context):
    return _asgi(event, context)
