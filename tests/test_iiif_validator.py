"""The official IIIF validator (PyPI iiif-validator, its iiif-validate.py) against the app
under uvicorn, for Image API 3.0 at compliance level 2: every test it has must pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from conftest import VALIDATOR_ID


def test_iiif_validator_level2(live_server):
    script = Path(sys.executable).with_name("iiif-validate.py")
    server = urlsplit(live_server).netloc
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "-s",
            server,
            "-p",
            "iiif/3",
            "-i",
            VALIDATOR_ID,
            "--version=3.0",
            "--level=2",
            "-v",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = out.stdout + out.stderr
    verdicts = [line for line in report.splitlines() if re.match(r"^\[\d+\] test ", line) or line.startswith("Done")]
    print("\n".join(verdicts))  # shown with pytest -s
    failed = [line for line in verdicts if line.startswith("[") and not line.endswith("PASS")]
    assert out.returncode == 0 and not failed, "\n".join(failed) or report[-3000:]
