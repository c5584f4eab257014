"""Bounded fuzzing runs (atheris, libFuzzer): image bytes through open/render, and request
URLs through the app. FUZZ_SECONDS sets each run's length (default 60, as in CI);
a longer run is `python tests/fuzz/fuzz_images.py NEW_CORPUS tests/fuzz/corpus/images
-max_total_time=3600`. Any crash found becomes a regression input under tests/fuzz/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
SECONDS = int(os.environ.get("FUZZ_SECONDS", "60"))


@pytest.mark.parametrize("harness,corpus", [("fuzz_images.py", "images"), ("fuzz_urls.py", "urls")])
def test_fuzz_harness_finds_no_crash(tmp_path, harness, corpus):
    # New inputs go to tmp_path; the seeds in the repository are only read.
    command = [sys.executable, str(FUZZ / harness), str(tmp_path), str(FUZZ / "corpus" / corpus)]
    command += [f"-max_total_time={SECONDS}", "-rss_limit_mb=3000", "-timeout=30", "-print_final_stats=1"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 300)
    assert out.returncode == 0, out.stderr[-4000:]
    runs = int(re.search(r"Done (\d+) runs", out.stderr)[1])
    assert runs > 0
    report = Path(__file__).resolve().parents[1] / "build" / f"fuzz-{corpus}.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(f"{runs} executions in {SECONDS} s\n")


def test_the_245_band_level_stays_under_400_mb():
    """Found by the image fuzzer (libFuzzer out-of-memory at 3.3 GB): a 1.7 KB COG whose
    overview claims 245 samples a pixel. Every band went through mask, resize and crop, and
    one 256 px tile took 1.1 GB; only bands 1–3 are shown, so only those are carried. The
    harness runs the one input under libFuzzer's RSS limit (measured after the fix: 108 MB)."""
    seed = FUZZ / "corpus" / "images" / "fuzz-245-band-level.tif"
    command = [sys.executable, str(FUZZ / "fuzz_images.py"), "-rss_limit_mb=400", str(seed)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "out-of-memory" not in out.stderr, out.stderr[-2000:]


def test_a_lone_sample_marked_alpha_is_shown_as_grey():
    """Found by the image fuzzer (an uncaught IndexError): a 1-sample float TIFF whose
    ExtraSamples calls its only sample alpha left no band to show. A lone sample is the
    picture: the file renders through the harness (all of its tiles and the thumbnail)."""
    seed = FUZZ / "corpus" / "images" / "fuzz-lone-alpha-sample.tif"
    command = [sys.executable, str(FUZZ / "fuzz_images.py"), str(seed)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
