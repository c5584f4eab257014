"""The packaged function and layer, laid out as Lambda lays them out, serve a tile.

Both are built with their own Makefiles (the ones `sam build` runs) for this interpreter
(PYTHON_VERSION=local; the runtime builds are checked by `make sam-check`). A fresh
interpreter with only the standard library, the task root, the layer's python/ folder
and the runtime's boto3 on sys.path imports the handler named in template.yaml and
serves a tile from the S3 server through an API Gateway v2 event.
"""

from __future__ import annotations

import json

from infra.events import api_gateway_event
from infra.lambda_layout import build_layout, probe


def test_packaged_handler_serves_a_tile(tmp_path, s3):
    layout = build_layout(tmp_path)
    task, layer, _ = layout
    query = {"path": "pyr.tif", "level": 5, "x": 1, "y": 2}
    event = api_gateway_event("http-api-v2", "/api/v1/image/tile", query)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    env = {
        "AWS_ENDPOINT_URL_S3": s3.proxy.endpoint,
        "GIGATILE_SOURCE": "s3://gigatile-test/imgs",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }
    out = probe(layout, event_file, env)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["base64"] is True
    assert result["content_type"] == "image/jpeg" and result["head"] == "ffd8ff"
    assert result["api_mode"] is True
    assert result["files"][0].startswith(str(task)) and result["files"][1].startswith(str(layer))
    assert result["modules_from_elsewhere"] == []
