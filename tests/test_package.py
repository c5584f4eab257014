"""The packaged function and layer, laid out as Lambda lays them out, serve a tile.

Both are built with their own Makefiles (the ones `sam build` runs) for this interpreter
(PYTHON_VERSION=local; the runtime builds are checked by `make sam-check`), bytecode
included; the converter's build brings its own boto3. A fresh
interpreter with only the standard library, the task root, the layer's python/ folder
and the runtime's boto3 on sys.path imports the handler named in template.yaml and
serves a tile from the S3 server through an API Gateway v2 event.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from infra.events import api_gateway_event
from infra.lambda_layout import build_layout, probe

ROOT = Path(__file__).resolve().parents[1]


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
    # A JPEG 2000 level: the package's Pillow (trimmed to its core module by the Makefile)
    # decodes it, from the task root.
    import numpy as np
    import tifffile

    yy, xx = np.mgrid[0:512, 0:512]
    rgb = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
    tifffile.imwrite(tmp_path / "j2k.tif", rgb, photometric="rgb", tile=(256, 256), compression="jpeg2000")
    s3.bucket_client.upload_file(str(tmp_path / "j2k.tif"), "gigatile-test", "imgs/package/j2k.tif")
    query = {"path": "package/j2k.tif", "level": 1, "x": 1, "y": 1, "format": "png"}
    event_file.write_text(json.dumps(api_gateway_event("http-api-v2", "/api/v1/image/tile", query)))
    out = probe(layout, event_file, env)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["content_type"] == "image/png", result
    assert result["modules_from_elsewhere"] == []  # PIL included


def _build(target: str, artifacts: Path) -> None:
    """One Makefile target as `sam build` runs it, for this interpreter."""
    folder = ROOT / ("layers/pyvips" if target == "build-PyvipsLayer" else "functions/tiler")
    args = ["make", "-C", str(folder), target, f"ARTIFACTS_DIR={artifacts}", "PYTHON_VERSION=local"]
    subprocess.run([*args, f"PYTHON={sys.executable}"], check=True, capture_output=True)


def test_packaged_converter_brings_a_boto3_with_conditional_puts(tmp_path):
    """The converter's zip carries its own boto3 (the conversion claim is a PUT with
    If-None-Match, which older botocores refuse as an unknown parameter); the task root
    comes first on Lambda's sys.path, so it is the one imported."""
    task = tmp_path / "converter"
    _build("build-ConverterFunction", task)
    check = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "import boto3, botocore.session\n"
        "model = botocore.session.get_session().get_service_model('s3').operation_model('PutObject')\n"
        "print(boto3.__file__.startswith(sys.argv[1]), 'IfNoneMatch' in model.input_shape.members)\n"
    )
    out = subprocess.run([sys.executable, "-S", "-E", "-c", check, str(task)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"]


def test_function_and_layer_carry_bytecode_that_needs_no_source_check(tmp_path):
    """Lambda's task root and /opt are read-only: bytecode not in the zip is compiled at
    every cold start. Every module has its .pyc for the interpreter it was built for,
    hash-based and unchecked (PEP 552 flags 0b01), so zip timestamps do not matter."""
    tag = sys.implementation.cache_tag
    for target, folder in (("build-TilerFunction", tmp_path / "task"), ("build-PyvipsLayer", tmp_path / "opt")):
        _build(target, folder)
        sources = [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]
        assert len(sources) > 20, target
        missing = []
        for source in sources:
            pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            if not pyc.exists():
                missing.append(str(source.relative_to(folder)))
                continue
            header = pyc.read_bytes()[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
            assert int.from_bytes(header[4:8], "little") == 0b01, pyc
        assert not missing, f"{target}: no bytecode for {missing[:5]}"
