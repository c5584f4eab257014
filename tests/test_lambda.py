"""The Lambda handler invoked in-process with API Gateway HTTP API (v2) and REST (v1)
payloads, serving from the S3 server: base64 bodies, content types, EMF metrics."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from gigatile.observability import logger
from infra.events import LambdaContext
from infra.events import api_gateway_event as event


@pytest.fixture
def handler(configure):
    app = configure().app
    from gigatile.handler import make_handler

    return make_handler(app)


@pytest.fixture
def tile_logs():
    """Log records of the Powertools logger, kept as they are emitted."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            if record.getMessage() == "tile":
                records.append(record)

    keep = Keep()
    logger.addHandler(keep)
    yield records
    logger.removeHandler(keep)


def headers_of(response: dict) -> dict:
    return {k.lower(): v for k, v in response["headers"].items()}


@pytest.mark.parametrize("kind", ["http-api-v2", "rest-api-v1"])
@pytest.mark.parametrize("fmt,media", [("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")])
def test_tile_through_lambda_is_base64_with_its_content_type(handler, kind, fmt, media, capsys, tile_logs):
    query = {"path": "pyr.tif", "level": 5, "x": 3, "y": 4, "format": fmt}
    response = handler(event(kind, "/api/v1/image/tile", query), LambdaContext())
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    headers = headers_of(response)
    assert headers["content-type"] == media
    assert headers["access-control-allow-origin"] == "*"
    assert headers["etag"].startswith('"')
    body = base64.b64decode(response["body"])
    assert len(body) == int(headers["content-length"])
    from infra.pixels import decode

    assert decode(body).width == 256
    # The structured log line, formatted by Powertools as it would reach CloudWatch.
    line = json.loads(logger.registered_formatter.format(tile_logs[-1]))
    assert {"message": "tile", "image": "pyr.tif", "tile_level": 5, "x": 3, "y": 4}.items() <= line.items()
    assert line["function_request_id"] == LambdaContext.aws_request_id and line["s3_gets"] >= 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no EMF metrics were flushed"
    names = {m["Name"] for d in emf[-1]["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"TileLatency", "S3Gets", "S3BytesRead", "CacheHits"} <= names


@pytest.mark.parametrize("kind", ["http-api-v2", "rest-api-v1"])
def test_meta_and_errors_through_lambda_are_json(handler, kind):
    ok = handler(event(kind, "/api/v1/image/meta", {"path": "pyr.tif"}), LambdaContext())
    assert ok["statusCode"] == 200 and ok["isBase64Encoded"] is False
    assert json.loads(ok["body"])["width"] == 3000
    missing = handler(event(kind, "/api/v1/image/meta", {"path": "nope.tif"}), LambdaContext())
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["error"]["code"] == "image_not_found"
    assert headers_of(missing)["cache-control"] == "public, max-age=60"


def test_conditional_request_through_lambda_is_304(handler):
    query = {"path": "pyr.tif", "level": 4, "x": 1, "y": 1}
    first = handler(event("http-api-v2", "/api/v1/image/tile", query), LambdaContext())
    etag = headers_of(first)["etag"]
    again = handler(event("http-api-v2", "/api/v1/image/tile", query, {"if-none-match": etag}), LambdaContext())
    assert again["statusCode"] == 304
    assert again["body"] == ""


@pytest.mark.parametrize("kind", ["http-api-v2", "rest-api-v1"])
def test_thumbnail_and_a_page_through_lambda(handler, kind):
    from infra.pixels import decode

    query = {"path": "photo.jpg", "width": 200, "height": 200, "fit": "cover", "format": "webp"}
    response = handler(event(kind, "/api/v1/image/thumbnail", query), LambdaContext())
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert headers_of(response)["content-type"] == "image/webp"
    thumbnail = decode(base64.b64decode(response["body"]))
    assert (thumbnail.width, thumbnail.height) == (200, 200)
    missing = handler(event(kind, "/api/v1/image/meta", {"path": "photo.jpg", "page": 1}), LambdaContext())
    assert missing["statusCode"] == 404 and json.loads(missing["body"])["error"]["code"] == "page_not_found"
