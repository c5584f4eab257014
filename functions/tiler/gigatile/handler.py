"""The Lambda entry point: Mangum over the same FastAPI app, with Powertools around it.

Module scope runs once per execution environment; the app's expensive parts (pyvips,
boto3 client, caches) are created on the first request that needs them and then reused,
or here during init when GIGATILE_WARM_ON_INIT is true (or by a SnapStart
before-snapshot hook calling gigatile.service.warm_up).
"""

from __future__ import annotations

import os
import warnings

from mangum import Mangum

from .app import app
from .observability import logger, metrics, tracer
from .service import warm_up

_asgi = Mangum(app, lifespan="off")
# Requests that render nothing (metadata, errors, 304s) publish no metrics; that is expected.
warnings.filterwarnings("ignore", message="No application metrics to publish")
if os.environ.get("GIGATILE_WARM_ON_INIT", "").lower() in ("1", "true"):
    warm_up()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handle(event, context):
    return _asgi(event, context)


handler = tracer.capture_lambda_handler(_handle, capture_response=False) if tracer else _handle
