"""The official IIIF validator (PyPI iiif-validator, its iiif-validate.py) against the app
under uvicorn, for Image API 3.0 and 2.x at compliance level 2: every test it has must
pass. (Its newest 2.x suite is 2.0's; /iiif/2 serves 2.1, which keeps 2.0's requests.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import VALIDATOR_ID


@pytest.mark.parametrize("prefix,version", [("iiif/3", "3.0"), ("iiif/2", "2.0")])
def test_iiif_validator_level2(live_server, prefix, version):
    script = Path(sys.executable).with_name("iiif-validate.py")
    server = urlsplit(live_server).netloc
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "-s",
            server,
            "-p",
            prefix,
            "-i",
            VALIDATOR_ID,
            f"--version={version}",
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
