"""Build the function and layer for this interpreter, laid out as Lambda lays them out:
the function at the task root, the layer under python/, boto3 as the runtime provides it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "infra" / "lambda_probe.py"
# What the Lambda Python runtime provides besides the standard library.
RUNTIME = ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"]


def _make(folder: Path, target: str, artifacts: Path) -> None:
    subprocess.run(
        [
            "make",
            "-C",
            str(folder),
            target,
            f"ARTIFACTS_DIR={artifacts}",
            "PYTHON_VERSION=local",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def build_layout(base: Path) -> tuple[Path, Path, Path]:
    """(task root, layer python/ folder, runtime folder) under `base`."""
    task, opt, runtime = base / "task", base / "opt", base / "runtime"
    _make(ROOT / "functions" / "tiler", "build-TilerFunction", task)
    _make(ROOT / "layers" / "pyvips", "build-PyvipsLayer", opt)
    pins = [f"{p}=={importlib.metadata.version(p)}" for p in RUNTIME]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(runtime), *pins],
        check=True,
        capture_output=True,
    )
    return task, opt / "python", runtime


def load_template() -> dict:
    """template.yaml as data: `!Ref X` becomes {"Ref": "X"}, other short-form intrinsics None."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader, suffix, node):
        return {"Ref": node.value} if suffix == "Ref" and isinstance(node, yaml.ScalarNode) else None

    Loader.add_multi_constructor("!", intrinsic)
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)


def handler_name() -> str:
    return load_template()["Resources"]["TilerFunction"]["Properties"]["Handler"]


def probe(layout: tuple[Path, Path, Path], event_file: Path, env: dict) -> subprocess.CompletedProcess:
    """Run the handler in a fresh `python -S -E` (no site-packages, no PYTHON* variables)."""
    args = [sys.executable, "-S", "-E", str(PROBE), handler_name(), str(event_file), *map(str, layout)]
    return subprocess.run(args, env=env, capture_output=True, text=True)
