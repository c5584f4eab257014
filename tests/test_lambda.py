"""The Lambda handler invoked in-process with API Gateway HTTP API (v2) and REST (v1)
payloads, serving from the S3 server: base64 bodies, content types, EMF metrics, and the
HEAD and OPTIONS requests the HTTP API routes to the function (template.yaml)."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
from urllib.parse import urlencode

import pytest

from gigatile.observability import logger
from infra.events import EVENTS, LambdaContext
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
    # One request at a time per execution environment: the tile ran on the handler's own
    # thread (http/offload.py `inline`), not handed to the pool and back.
    assert tile_logs[-1].threadName == threading.current_thread().name
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


def v2_event(method: str, path: str, query: dict, headers: dict) -> dict:
    """`sam local generate-event apigateway http-api-proxy --method METHOD` as printed
    (tests/events/http-api-v2-<method>.json), for this path, query and headers; no body."""
    payload = json.loads((EVENTS / f"http-api-v2-{method.lower()}.json").read_text())
    assert payload["requestContext"]["http"]["method"] == method
    query = {k: str(v) for k, v in query.items()}
    payload.update(body=None, isBase64Encoded=False, cookies=[], rawQueryString=urlencode(query))
    payload["queryStringParameters"] = query or None
    payload["headers"] = {**payload["headers"], **headers}
    payload["rawPath"] = payload["requestContext"]["http"]["path"] = path
    return payload


PREFLIGHT = {"origin": "https://viewer.example.org", "access-control-request-method": "GET"}


def test_preflight_through_the_http_api_is_answered_by_the_app(handler):
    response = handler(v2_event("OPTIONS", "/api/v1/image/tile", {}, PREFLIGHT), LambdaContext())
    assert response["statusCode"] == 204
    headers = headers_of(response)
    assert headers["access-control-allow-origin"] == "*"
    assert {"GET", "HEAD", "OPTIONS"} <= {m.strip() for m in headers["access-control-allow-methods"].split(",")}
    assert "if-none-match" in headers["access-control-allow-headers"].lower()
    assert int(headers["access-control-max-age"]) > 0
    assert not response.get("body")


def test_preflight_without_the_cdn_header_is_refused_when_a_secret_is_set(configure):
    # SAM leaves OPTIONS routes out of the API's authorizer; the app's own check remains.
    from gigatile.handler import make_handler

    handler = make_handler(configure(GIGATILE_ORIGIN_SECRET="s" * 32).app)
    refused = handler(v2_event("OPTIONS", "/api/v1/image/tile", {}, PREFLIGHT), LambdaContext())
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["error"]["code"] == "forbidden"
    allowed = handler(
        v2_event("OPTIONS", "/api/v1/image/tile", {}, {**PREFLIGHT, "x-origin-verify": "s" * 32}), LambdaContext()
    )
    assert allowed["statusCode"] == 204


def test_head_through_the_http_api_has_gets_headers_and_no_body(handler):
    query = {"path": "pyr.tif", "level": 5, "x": 3, "y": 4}
    got = handler(event("http-api-v2", "/api/v1/image/tile", query), LambdaContext())
    head = handler(v2_event("HEAD", "/api/v1/image/tile", query, {}), LambdaContext())
    assert head["statusCode"] == got["statusCode"] == 200
    get_headers, head_headers = headers_of(got), headers_of(head)
    for name in ("content-type", "content-length", "etag", "cache-control", "access-control-allow-origin"):
        assert head_headers[name] == get_headers[name], name
    assert int(head_headers["content-length"]) == len(base64.b64decode(got["body"])) > 0
    assert not head["body"]


def test_head_of_a_missing_image_is_404(handler):
    head = handler(v2_event("HEAD", "/iiif/3/nope.tif/info.json", {}, {}), LambdaContext())
    assert head["statusCode"] == 404
    assert headers_of(head)["content-type"] == "application/json"
    assert not head["body"]


@pytest.mark.parametrize("subsegments", ["false", "true"])
def test_the_xray_sdk_is_imported_only_for_in_code_subsegments(tmp_path, subsegments):
    """The template's default (XRaySubsegments=false) keeps the X-Ray SDK, and the botocore
    session it imports, out of the Lambda init; true builds Powertools' Tracer around the
    handler. A fresh interpreter, as a cold start, with the tracing variables Lambda sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIGATILE_", "POWERTOOLS_"))}
    env |= {
        "GIGATILE_SOURCE": str(tmp_path),
        "GIGATILE_XRAY_SUBSEGMENTS": subsegments,
        "AWS_LAMBDA_FUNCTION_NAME": "gigatile",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
    }
    code = (
        "import gc, sys, gigatile.handler; xray = sorted({m.split('.')[0] for m in sys.modules if 'xray' in m}); "
        "print(xray, gc.isenabled(), gc.get_freeze_count() > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    xray = "['aws_xray_sdk']" if subsegments == "true" else "[]"
    # The collector, off during the init, is on again with the init's objects frozen.
    assert out.stdout.split() == [xray, "True", "True"]


def test_pillow_is_not_imported_at_cold_start(tmp_path):
    """Pillow decodes JPEG 2000 tiles only (imaging/jpeg2000.py): the Lambda init, and the app
    and render modules, do not import it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIGATILE_", "POWERTOOLS_"))}
    env |= {"GIGATILE_SOURCE": str(tmp_path), "AWS_LAMBDA_FUNCTION_NAME": "gigatile"}
    code = (
        "import sys, gigatile.handler, gigatile.imaging.render, gigatile.imaging.jpeg2000; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] == 'PIL'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]
