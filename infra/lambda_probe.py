"""Run the packaged handler as Lambda would: `python -S -E infra/lambda_probe.py ...`.

With -S the interpreter's sys.path is the standard library alone; this script adds only
the task root (the built function), the layer's python/ folder and the runtime's boto3,
imports the handler named in template.yaml, invokes it with an API Gateway event and
prints one JSON line: status, content type, the first bytes, pyvips.API_mode, where the
modules came from, and the import and first-invocation times.
Usage: lambda_probe.py HANDLER EVENT_JSON TASK LAYER RUNTIME
"""

import base64
import json
import sys
import time

handler_name, event_path, *folders = sys.argv[1:]
sys.path[:] = [p for p in sys.path if p and "site-packages" not in p] + folders


class Context:
    function_name = "gigatile"
    memory_limit_in_mb = 1769
    aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gigatile"


start = time.perf_counter()
module, _, name = handler_name.rpartition(".")
handler = getattr(__import__(module, fromlist=[name]), name)
imported = time.perf_counter()
with open(event_path) as f:
    response = handler(json.load(f), Context())
invoked = time.perf_counter()

import fastapi  # noqa: E402
import pyvips  # noqa: E402

headers = {k.lower(): v for k, v in response["headers"].items()}
body = base64.b64decode(response["body"]) if response["isBase64Encoded"] else response["body"].encode()
allowed = folders + [sys.base_prefix, __file__]
print(
    json.dumps(
        {
            "status": response["statusCode"],
            "base64": response["isBase64Encoded"],
            "content_type": headers.get("content-type"),
            "head": body[:3].hex(),
            "api_mode": pyvips.API_mode,
            "files": [fastapi.__file__, pyvips.__file__],
            "modules_from_elsewhere": sorted(
                n
                for n, m in list(sys.modules.items())
                if getattr(m, "__file__", None) and not any(m.__file__.startswith(p) for p in allowed)
            ),
            "import_s": imported - start,
            "first_invoke_s": invoked - imported,
        }
    )
)
