"""Checks a `sam build` output for one architecture: every native library is for that
machine, every wheel's tags fit the runtime, pyvips comes with its compiled module; and
reports the zipped sizes Lambda counts. Usage: check_build.py BUILD_DIR ARCH [PYTHON]."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}
WHEEL_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
# The tiler was 7.7–7.9 MB; Pillow (JPEG 2000 tiles, trimmed by its Makefile) adds ~3.2 MB.
LIMITS_MB = {"PyvipsLayer": 15, "TilerFunction": 12}


def elf_machine(path: Path) -> int | None:
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little")


def zipped_mb(folder: Path) -> float:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return len(buffer.getvalue()) / 2**20


def check(build: Path, arch: str, python: str = "3.12") -> list[str]:
    problems = []
    cp = "cp" + python.replace(".", "")
    for path in build.rglob("*.so*"):
        machine = elf_machine(path)
        if machine is not None and machine != ELF_MACHINE[arch]:
            problems.append(f"{path.relative_to(build)} is not {arch} (ELF machine {machine:#x})")
    for wheel in build.rglob("*.dist-info/WHEEL"):
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        ok = any(
            t.endswith("-none-any") or ((t.startswith(cp + "-") or "-abi3-" in t) and (WHEEL_ARCH[arch] in t))
            for t in tags
        )
        if not ok:
            problems.append(f"{wheel.parent.name}: tags {tags} do not fit {cp} on {arch}")
    layer = build / "PyvipsLayer" / "python"
    if not (layer / "_libvips.abi3.so").exists() or not (layer / "pyvips").is_dir():
        problems.append("the layer lacks pyvips or its compiled _libvips module")
    for name, limit in LIMITS_MB.items():
        size = zipped_mb(build / name)
        print(f"{arch} {name}: {size:.1f} MB zipped (goal ≤ {limit} MB)")
        if size > limit:
            problems.append(f"{name} is {size:.1f} MB zipped, over {limit} MB")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]), sys.argv[2], *sys.argv[3:])
    for line in found:
        print("problem:", line)
    sys.exit(1 if found else 0)
