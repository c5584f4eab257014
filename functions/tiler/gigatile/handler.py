"""The Lambda entry point: Mangum over the same FastAPI app, with Powertools around it.

Module scope runs once per execution environment: the settings are read and checked here
(a malformed or unknown GIGATILE_* variable fails the init with its name); the app's
expensive parts (pyvips, boto3 client, caches) are created on the first request that
needs them and then reused, or here during init when GIGATILE_WARM_ON_INIT is on (or by a
SnapStart before-snapshot hook calling gigatile.service.warm_up).
"""

from __future__ import annotations

import gc

# The init builds about 90,000 long-lived objects (FastAPI's and pydantic's models, boto3,
# the routes) and next to no garbage, yet the cyclic collector would walk them again and
# again (about 0.05 s of CPU of the cold start, measured). Off until the init is done; then
# gc.freeze() keeps what it built out of every later collection.
gc.disable()

import warnings  # noqa: E402

from fastapi import FastAPI  # noqa: E402
from mangum import Mangum  # noqa: E402

from .app import create_app  # noqa: E402
from .http.offload import inline  # noqa: E402
from .observability import logger, make_tracer, metrics  # noqa: E402
from .service import warm_up  # noqa: E402

# Requests that render nothing (metadata, errors, 304s) publish no metrics; that is expected.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def make_handler(app: FastAPI):
    """The Lambda handler serving `app` (traced in code only when the settings ask for it)."""
    asgi = Mangum(app, lifespan="off")
    tracer = make_tracer(app.state.tiler.settings.xray_subsegments)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handle(event, context):
        with inline():  # one request at a time per execution environment: no thread hops
            return asgi(event, context)

    return tracer.capture_lambda_handler(handle, capture_response=False) if tracer else handle


try:
    app = create_app()
    if app.state.tiler.settings.warm_on_init:
        warm_up(app.state.tiler)
    handler = make_handler(app)
finally:
    gc.freeze()
    gc.enable()
