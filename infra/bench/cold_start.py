"""Cold start as shipped: the x86_64 `sam build` of the function and layer, imported by a
fresh interpreter of the runtime's Python, serving the first tile.

    python -m infra.bench cold-start [--runs 7] [--build DIR] [--smoke]

The build: .aws-sam/build when it is an x86_64 one (`make sam-build ARCH=x86_64`), else
`make sam-check`'s .aws-sam/build-x86_64; with neither, `make sam-build ARCH=x86_64`
makes the first, or, when .aws-sam/build is an arm64 one (this machine cannot load its
libvips; left alone for `sam deploy`), `sam build` makes the second as sam-check does.
Each run is a new `python3.12 -S -E -B infra/lambda_probe.py` (pyenv's 3.12 when not on
PATH): nothing on sys.path but the task root, the layer's python/ folder, the runtime's
boto3 (RUNTIME_SDK, installed once under --cache) and the standard library; no bytecode
written, as on Lambda's read-only task root. It imports the handler named in
template.yaml with the tiler's environment from template.yaml (parameter defaults,
active tracing's variables, metrics on, the origin secret checked) and handles one API Gateway HTTP API
(payload 2.0) event from moto's S3 server (its own process):
- pass-through: a full-resolution 256 px JPEG tile, the stored tile copied;
- re-encoded: the same place at tile_size=512, decoded and encoded again.
Both with the build's bytecode and with a copy of the build without any (every module
compiled at import); and, not as shipped, with bytecode and GIGATILE_XRAY_SUBSEGMENTS=true
(template parameter XRaySubsegments), which shows what the X-Ray SDK's import costs. The
runs are interleaved, so that the machine's load falls on every kind alike; medians of
--runs processes per kind. Writes docs/cold-start.json and the cold-start section of
docs/benchmarks.md (build/bench-smoke/ with --smoke: one run).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from infra.bench.report import replace_section
from infra.check_build import ELF_MACHINE, elf_machine
from infra.events import api_gateway_event
from infra.lambda_layout import PROBE, handler_name, load_template
from infra.local_stack import DUMMY_CREDENTIALS, make_pyramid, start_moto, upload

ROOT = Path(__file__).resolve().parents[2]
GOAL_S = 0.8  # issue #16: first tile, import included
# The AWS SDK of Lambda's python3.12 runtime, which the tiler does not bundle: a boto3
# 1.34 and its dependencies as the runtime had them (the runtime updates its copy now
# and then; the Lambda docs' "runtime-included SDK versions" says which one it has).
RUNTIME_SDK = [
    "boto3==1.34.145",
    "botocore==1.34.145",
    "s3transfer==0.10.2",
    "jmespath==1.0.1",
    "python-dateutil==2.9.0.post0",
    "six==1.16.0",
    "urllib3==1.26.19",
]
BUCKET, KEY = "coldstart", "pyr-8000.tif"
ORIGIN_SECRET = "cold-start-bench"
# What Lambda sets in every x86_64 python3.12 execution environment of the function.
LAMBDA_ENV = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_LAMBDA_FUNCTION_NAME": "gigatile-TilerFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "PATH": "/usr/bin:/bin",
    # Tracing: Active. The X-Ray daemon's address takes UDP segments nobody reads here.
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
}
WITH, WITHOUT = "with the build's bytecode", "without bytecode"
SUBSEGMENTS = "with bytecode, GIGATILE_XRAY_SUBSEGMENTS=true (not the default)"
KINDS = {
    # (query of /api/v1/image/tile, whether the tile is the stored one copied)
    "pass-through": ({"path": KEY, "level": 5, "x": 7, "y": 9}, True),
    "re-encoded": ({"path": KEY, "level": 4, "x": 3, "y": 4, "tile_size": 512}, False),
}


def runtime_python() -> str:
    """The runtime's Python: python3.12 on PATH, else pyenv's (as the build Makefiles)."""
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(f"{pyenv}/versions/3.12.*/bin/python3.12"))
    if not candidates:
        raise SystemExit("no python3.12 (on PATH or under pyenv): the Lambda runtime's Python is needed")
    return candidates[-1]


def is_x86_64(build: Path) -> bool:
    module = build / "PyvipsLayer" / "python" / "_libvips.abi3.so"
    return module.exists() and elf_machine(module) == ELF_MACHINE["x86_64"]


def find_build(explicit: str | None) -> Path:
    if explicit:
        if not is_x86_64(Path(explicit)):
            raise SystemExit(f"{explicit} is not an x86_64 sam build (PyvipsLayer/python/_libvips.abi3.so)")
        return Path(explicit)
    deploy, checked = ROOT / ".aws-sam" / "build", ROOT / ".aws-sam" / "build-x86_64"
    for build in (deploy, checked):
        if is_x86_64(build):
            return build
    if not deploy.exists():
        print("no x86_64 build: make sam-build ARCH=x86_64", flush=True)
        subprocess.run(["make", "-C", str(ROOT), "sam-build", "ARCH=x86_64"], check=True)
        return deploy
    # .aws-sam/build is the other architecture's, for `sam deploy`: kept; the x86_64 build
    # goes where `make sam-check` puts it, built the same way.
    print("no x86_64 build: sam build --build-dir .aws-sam/build-x86_64", flush=True)
    subprocess.run(["make", "-C", str(ROOT), ".venv-sam/.installed"], check=True)
    sam = [str(ROOT / ".venv-sam" / "bin" / "sam"), "build", "--build-dir", str(checked)]
    environment = {**os.environ, "ARCH": "x86_64", "SAM_CLI_TELEMETRY": "0"}
    subprocess.run([*sam, "--parameter-overrides", "Architecture=x86_64"], cwd=ROOT, env=environment, check=True)
    return checked


def built_at(build: Path) -> float:
    return (build / "TilerFunction" / "gigatile" / "__init__.py").stat().st_mtime


def sources_changed_at() -> float:
    """The newest file the tiler's or the layer's build is made from."""
    folders = [ROOT / "functions" / "tiler", ROOT / "layers" / "pyvips"]
    return max(p.stat().st_mtime for f in folders for p in f.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def without_bytecode(build: Path, dest: Path) -> Path:
    """A copy of the function and layer with every __pycache__ and .pyc left out."""
    for part in ("TilerFunction", "PyvipsLayer"):
        shutil.copytree(build / part, dest / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def runtime_sdk(cache: Path, python: str) -> Path:
    """The runtime's boto3, installed once by the runtime's Python (its bytecode included,
    as the runtime's own copy has it)."""
    folder = cache / ("runtime-" + "-".join(spec.replace("==", "") for spec in RUNTIME_SDK[:1]))
    if not (folder / ".installed").exists():
        shutil.rmtree(folder, ignore_errors=True)
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
        subprocess.run([*pip, "--target", str(folder), *RUNTIME_SDK], check=True)
        (folder / ".installed").touch()
    return folder


def shipped_environment(endpoint: str) -> dict[str, str]:
    """The tiler's variables from template.yaml (parameters at their defaults), with the
    values a deployment resolves at deploy time set here."""
    template = load_template()
    parameters = template["Parameters"]
    env = {}
    for name, value in template["Resources"]["TilerFunction"]["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, dict) and value.get("Ref") in parameters:
            value = parameters[value["Ref"]].get("Default", "")
        if isinstance(value, str):
            env[name] = value
    return {
        **env,
        "GIGATILE_SOURCE": f"s3://{BUCKET}",
        "GIGATILE_ORIGIN_SECRET": ORIGIN_SECRET,
        "GIGATILE_SIGNING_KEYS": "",
        "GIGATILE_CONVERT_ON_DEMAND": "gigatile-ConverterFunction",
        **LAMBDA_ENV,
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }


def run_once(python: str, layout: list[Path], event_file: Path, env: dict, passthrough: bool) -> dict:
    command = [python, "-S", "-E", "-B", str(PROBE), handler_name(), str(event_file), *map(str, layout)]
    spawned = time.time()
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    result, tile_logs = lines[-1], [line for line in lines if line.get("message") == "tile"]
    # The probe's checks: a JPEG from the package alone, the tile served the intended way.
    assert result["status"] == 200 and result["head"] == "ffd8ff", result
    assert result["modules_from_elsewhere"] == [], result["modules_from_elsewhere"]
    assert [log["passthrough"] for log in tile_logs] == [passthrough], tile_logs
    kept = {k: v for k, v in result.items() if k not in ("files", "modules_from_elsewhere", "started_at")}
    return kept | {
        "interpreter_s": result["started_at"] - spawned,  # exec, the interpreter's own start
        "first_tile_s": result["import_s"] + result["first_invoke_s"],
        "first_tile_cpu_s": result["import_cpu_s"] + result["first_invoke_cpu_s"],
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench cold-start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per kind (medians)")
    parser.add_argument("--build", help="an x86_64 sam build folder (default: see above)")
    parser.add_argument("--cache", default=".cache/coldstart")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--smoke", action="store_true", help="one run per kind, into build/bench-smoke/")
    args = parser.parse_args(argv)
    runs = 1 if args.smoke else args.runs
    started = time.perf_counter()
    cache = Path(args.cache)
    python = runtime_python()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    build = find_build(args.build)
    if built_at(build) < sources_changed_at():
        print(f"warning: {build} is older than its sources (make sam-build ARCH=x86_64)", flush=True)
    image = make_pyramid(cache / KEY, 8000, 8000)
    sdk = runtime_sdk(cache, python)
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # (build folder, environment over the shipped one); the last row is not as shipped:
        # it shows what the X-Ray SDK's import (in-code subsegments) adds to the first.
        variants = {
            WITH: (build, {}),
            WITHOUT: (without_bytecode(build, Path(tmp) / "no-bytecode"), {}),
            SUBSEGMENTS: (build, {"GIGATILE_XRAY_SUBSEGMENTS": "true"}),
        }
        events = {}
        for kind, (query, _) in KINDS.items():
            event = api_gateway_event("http-api-v2", "/api/v1/image/tile", query, {"x-origin-verify": ORIGIN_SECRET})
            events[kind] = Path(tmp) / f"{kind}.json"
            events[kind].write_text(json.dumps(event))
        moto, endpoint = start_moto()
        try:
            upload(endpoint, BUCKET, KEY, image)
            env = shipped_environment(endpoint)
            for i in range(runs):
                for variant, (folder, extra) in variants.items():
                    layout = [folder / "TilerFunction", folder / "PyvipsLayer" / "python", sdk]
                    for kind, (_, passthrough) in KINDS.items():
                        result = run_once(python, layout, events[kind], {**env, **extra}, passthrough)
                        results.setdefault((variant, kind), []).append(result)
                        print(
                            f"{i + 1}/{runs} {variant}, {kind}: import {result['import_s'] * 1000:.0f} ms, "
                            f"first tile {result['first_tile_s'] * 1000:.0f} ms",
                            flush=True,
                        )
        finally:
            moto.terminate()
    context = {
        "command": "python -m infra.bench cold-start" + (" --smoke" if args.smoke else f" --runs {runs}"),
        "python": version.stdout.strip(),
        "build": str(build.relative_to(ROOT)) if build.is_relative_to(ROOT) else build.name,
        "built": datetime.datetime.fromtimestamp(built_at(build), datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "older_than_sources": built_at(build) < sources_changed_at(),
        "runtime_sdk": RUNTIME_SDK,
        "runs": runs,
        "cores": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "goal_s": GOAL_S,
        "seconds": round(time.perf_counter() - started),
    }
    summary = summarize(results)
    out = ROOT / "build" / "bench-smoke" if args.smoke else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = {f"{variant}, {kind}": rows for (variant, kind), rows in results.items()}
    (out / "cold-start.json").write_text(
        json.dumps({"context": context, "summary": summary, "runs": raw}, indent=1) + "\n"
    )
    lines = ["## Cold start as shipped", "", *section(summary, context), ""]
    replace_section(out / "benchmarks.md", "cold-start", lines)
    print("\n".join(lines))


def summarize(results: dict[tuple[str, str], list[dict]]) -> list[dict]:
    rows = []
    for (variant, kind), runs in results.items():
        first = runs[0]
        rows.append(
            {
                "variant": variant,
                "kind": kind,
                "import_s": statistics.median(r["import_s"] for r in runs),
                "first_tile_s": statistics.median(r["first_tile_s"] for r in runs),
                "first_tile_min_s": min(r["first_tile_s"] for r in runs),
                "first_tile_cpu_s": statistics.median(r["first_tile_cpu_s"] for r in runs),
                "interpreter_s": statistics.median(r["interpreter_s"] for r in runs),
                "packaged_modules": first["packaged_modules"],
                "with_bytecode": first["with_bytecode"],
            }
        )
    return rows


def section(summary: list[dict], context: dict) -> list[str]:
    goal = context["goal_s"]
    stale = ", **older than its sources**: `make sam-build ARCH=x86_64`" if context["older_than_sources"] else ""
    lines = [
        f"Made by `{context['command']}` in {context['seconds']} s on {context['cores']} shared cores "
        f"(load average {', '.join(map(str, context['load_average']))} at the end): the x86_64 build "
        f"`{context['build']}` (built {context['built']} UTC{stale}), each run a fresh `python3.12 -S -E -B` "
        f"(Python {context['python']}) with only the task root, the layer's python/ folder, the runtime's "
        f"boto3 ({context['runtime_sdk'][0].replace('==', ' ')}) and the standard library on sys.path, "
        "handling one API Gateway HTTP API event with the template's environment, from moto's S3 server "
        "on loopback. *first tile* is the handler's import plus its first invocation (wall time); "
        "*CPU* is the process's CPU time over the same span (all threads), which a busy machine "
        "inflates less; *interpreter start* is from exec to the probe's first line (on Lambda, the "
        "runtime's own start, outside these figures). Medians of "
        f"{context['runs']} processes per row, the rows' runs interleaved.",
        "",
        "| bytecode | tile | modules with .pyc | import s | first tile s (incl. import) | best first tile s "
        f"| CPU s to first tile | interpreter start s | goal: first tile ≤ {goal} s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        met = "met" if r["first_tile_s"] <= goal else "**not met**"
        lines.append(
            f"| {r['variant']} | {r['kind']} | {r['with_bytecode']} of {r['packaged_modules']} | "
            f"{r['import_s']:.3f} | {r['first_tile_s']:.3f} | {r['first_tile_min_s']:.3f} | "
            f"{r['first_tile_cpu_s']:.3f} | {r['interpreter_s']:.3f} | {met} |"
        )
    by = {(r["variant"], r["kind"]): r for r in summary}
    lines += ["", "| tile | without ÷ with bytecode: import | first tile | CPU to first tile |", "|---|---|---|---|"]
    for kind in KINDS:
        with_, without = by[(WITH, kind)], by[(WITHOUT, kind)]
        lines.append(
            f"| {kind} | {without['import_s'] / with_['import_s']:.2f} | "
            f"{without['first_tile_s'] / with_['first_tile_s']:.2f} | "
            f"{without['first_tile_cpu_s'] / with_['first_tile_cpu_s']:.2f} |"
        )
    return lines
