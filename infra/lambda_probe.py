"""Run the packaged handler as Lambda would: `python3.12 -S -E -B infra/lambda_probe.py ...`.

With -S the interpreter's sys.path is the standard library alone; this script puts the
task root (the built function), the layer's python/ folder and the runtime's boto3 in
front of it, in that order, as Lambda's Python runtime does (and drops its own folder),
imports the handler named in template.yaml, invokes it with an API Gateway event and
prints one JSON line: status, content type, the first bytes, pyvips.API_mode, where the
modules came from, how many of the package's modules had bytecode to load, when the
interpreter started running Python, and the import and first-invocation times (wall and
CPU). (-B: no bytecode written, as on Lambda's read-only task root; bytecode that is
there is still read.)
Usage: lambda_probe.py HANDLER EVENT_JSON TASK LAYER RUNTIME
"""

import time

STARTED_AT = time.time()  # when this interpreter got to run Python code

import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

handler_name, event_path, *paths = sys.argv[1:]
folders = [os.path.abspath(p) for p in paths]
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = folders + [p for p in sys.path if p and "site-packages" not in p and os.path.abspath(p) != here]


class Context:
    function_name = "gigatile"
    memory_limit_in_mb = 1769
    aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gigatile"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


start, start_cpu = time.perf_counter(), time.process_time()
module, _, name = handler_name.rpartition(".")
handler = getattr(__import__(module, fromlist=[name]), name)
imported, imported_cpu = time.perf_counter(), time.process_time()
with open(event_path) as f:
    response = handler(json.load(f), Context())
invoked, invoked_cpu = time.perf_counter(), time.process_time()

import fastapi  # noqa: E402
import pyvips  # noqa: E402

headers = {k.lower(): v for k, v in response["headers"].items()}
body = base64.b64decode(response["body"]) if response["isBase64Encoded"] else response["body"].encode()
allowed = folders + [sys.base_prefix, __file__]
packaged = [
    m
    for m in list(sys.modules.values())
    if any((getattr(m, "__file__", None) or "").startswith(p) for p in folders[:2])
]
print(
    json.dumps(
        {
            "status": response["statusCode"],
            "base64": response["isBase64Encoded"],
            "content_type": headers.get("content-type"),
            "head": body[:3].hex(),
            "bytes": len(body),
            "api_mode": pyvips.API_mode,
            "files": [fastapi.__file__, pyvips.__file__],
            "modules_from_elsewhere": sorted(
                n
                for n, m in list(sys.modules.items())
                if getattr(m, "__file__", None) and not any(m.__file__.startswith(p) for p in allowed)
            ),
            # Python modules of the function and layer, and those whose .pyc was there to load.
            "packaged_modules": sum(1 for m in packaged if m.__file__.endswith(".py")),
            "with_bytecode": sum(
                1
                for m in packaged
                if m.__file__.endswith(".py") and os.path.exists(getattr(m, "__cached__", None) or "")
            ),
            "started_at": STARTED_AT,
            "import_s": imported - start,
            "first_invoke_s": invoked - imported,
            # CPU time of the process (all its threads): what a busy machine does not inflate.
            "import_cpu_s": imported_cpu - start_cpu,
            "first_invoke_cpu_s": invoked_cpu - imported_cpu,
        }
    )
)
