"""The packaged function and layer, laid out as Lambda lays them out, serve a tile.

Both are built with their own Makefiles (the ones `sam build` runs) for this interpreter
(PYTHON_VERSION=local; the runtime builds are checked by `make sam-check`). A fresh
interpreter with only the standard library, the task root, the layer's python/ folder
and the runtime's boto3 on sys.path imports the handler named in template.yaml and
serves a tile from the S3 server through an API Gateway v2 event.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).parent / "events"
# What the Lambda Python runtime provides besides the standard library.
RUNTIME = ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"]


def handler_name() -> str:
    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short-form intrinsics (!Ref, !Sub …) as plain values.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    return template["Resources"]["TilerFunction"]["Properties"]["Handler"]


def make(folder: Path, target: str, artifacts: Path) -> None:
    subprocess.run(
        [
            "make",
            "-C",
            str(folder),
            target,
            f"ARTIFACTS_DIR={artifacts}",
            "PYTHON_VERSION=local",
            f"PIP={sys.executable} -m pip",
        ],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def lambda_layout(tmp_path_factory):
    base = tmp_path_factory.mktemp("lambda")
    task, opt, runtime = base / "task", base / "opt", base / "runtime"
    make(ROOT / "functions" / "tiler", "build-TilerFunction", task)
    make(ROOT / "layers" / "pyvips", "build-PyvipsLayer", opt)
    versions = {p: __import__("importlib.metadata").metadata.version(p) for p in RUNTIME}
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(runtime)]
        + [f"{p}=={v}" for p, v in versions.items()],
        check=True,
        capture_output=True,
    )
    return task, opt / "python", runtime


PROBE = """
import base64, json, sys
# With -S the interpreter's own path is the standard library alone; add the Lambda folders.
sys.path[:] = [p for p in sys.path if p and "site-packages" not in p] + {paths!r}
module, _, name = {handler!r}.rpartition(".")
handler = getattr(__import__(module, fromlist=[name]), name)
event = json.loads({event!r})

class Context:
    function_name = "gigatile"; memory_limit_in_mb = 1769; aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gigatile"

response = handler(event, Context())
import fastapi, pyvips
print(json.dumps({{
    "status": response["statusCode"], "base64": response["isBase64Encoded"],
    "content_type": {{k.lower(): v for k, v in response["headers"].items()}}["content-type"],
    "jpeg": base64.b64decode(response["body"])[:3].hex(),
    "api_mode": pyvips.API_mode,
    "files": [fastapi.__file__, pyvips.__file__],
    "modules_from_elsewhere": sorted(
        n for n, m in sys.modules.items()
        if getattr(m, "__file__", None)
        and not any(m.__file__.startswith(p) for p in {paths!r} + [sys.base_prefix])
    ),
}}))
"""


def test_packaged_handler_serves_a_tile(lambda_layout, s3, monkeypatch):
    task, layer, runtime = lambda_layout
    event = json.loads((EVENTS / "http-api-v2.json").read_text())
    event["rawQueryString"] = "path=pyr.tif&level=5&x=1&y=2"
    event["queryStringParameters"] = {"path": "pyr.tif", "level": "5", "x": "1", "y": "2"}
    code = PROBE.format(paths=[str(task), str(layer), str(runtime)], handler=handler_name(), event=json.dumps(event))
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
    # -S: no site-packages; -E: no PYTHON* variables. sys.path is set by the probe itself.
    out = subprocess.run([sys.executable, "-S", "-E", "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["base64"] is True
    assert result["content_type"] == "image/jpeg" and result["jpeg"] == "ffd8ff"
    assert result["api_mode"] is True
    assert result["files"][0].startswith(str(task)) and result["files"][1].startswith(str(layer))
    assert result["modules_from_elsewhere"] == []
