"""Lambda payloads for invoking handlers in-process: the API Gateway events `sam local
generate-event` prints (kept in tests/events/), turned into a GET of a path and query, and
the context object Lambda passes beside them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

EVENTS = Path(__file__).resolve().parents[1] / "tests" / "events"


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str = "gigatile"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def api_gateway_event(kind: str, path: str, query: dict, headers: dict | None = None) -> dict:
    """kind: "http-api-v2" (HTTP API, payload 2.0) or "rest-api-v1" (REST API proxy)."""
    event = json.loads((EVENTS / f"{kind}.json").read_text())
    query = {k: str(v) for k, v in query.items()}
    headers = headers or {}
    event.update(body=None, isBase64Encoded=False, queryStringParameters=query)
    event["headers"] = {**event["headers"], **headers}
    if kind == "http-api-v2":
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = "GET"
        event["rawQueryString"] = urlencode(query)
        event["cookies"] = []
    else:
        event["path"] = path
        event["httpMethod"] = event["requestContext"]["httpMethod"] = "GET"
        event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        event["multiValueHeaders"] = {**event["multiValueHeaders"], **{k: [v] for k, v in headers.items()}}
    return event
