"""The HTTP servers of the side-by-side benchmark, each started fresh and pinned to one
core: gigatile (`gigatile serve`: uvicorn) and IIPImage (Debian's iipsrv.fcgi behind
lighttpd over FastCGI). Each knows how to spell a IIIF 2 or DeepZoom tile URL, and which
processes' CPU time and memory are its own (read from /proc)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from infra.local_stack import free_port

ROOT = Path(__file__).resolve().parents[2]
IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")  # Debian's iipimage-server
LIGHTTPD = "lighttpd"
TICKS = os.sysconf("SC_CLK_TCK")


def gigatile_env(**extra: str) -> dict[str, str]:
    """The environment every benchmarked gigatile process runs with: this checkout's code,
    glibc's arenas limited as on Lambda (template.yaml), Powertools quiet; then `extra`."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'functions' / 'tiler'}:{ROOT}",
        "MALLOC_ARENA_MAX": "2",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **extra,
    }


def iipsrv_installed() -> bool:
    return IIPSRV.exists() and shutil.which(LIGHTTPD) is not None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of stat(5)


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass  # gone meanwhile
    return found


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.005)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    pids: dict[str, int] = field(default_factory=dict)  # role -> pid whose CPU and memory count
    up_s: float = 0.0  # from spawn to the port accepting connections

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> dict[str, float]:
        return {role: cpu_seconds(pid) for role, pid in self.pids.items()}

    def rss(self) -> dict[str, float]:
        return {role: peak_rss_mib(pid) for role, pid in self.pids.items()}

    def stop(self) -> None:
        others = [pid for pid in self.pids.values() if pid != self.proc.pid]
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in others:  # lighttpd stops its FastCGI children; make sure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def pinned(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None else []


class Gigatile:
    """`gigatile serve` (uvicorn, access log off) over GIGATILE_SOURCE = `source`."""

    name = "gigatile"

    def __init__(self, source: str, env: dict[str, str], label: str = "gigatile"):
        self.source, self.env, self.label = source, env, label

    def start(self, core: int | None, workdir: Path) -> Server:
        port = free_port()
        env = {**self.env, "GIGATILE_SOURCE": self.source}
        command = [*pinned(core), sys.executable, "-m", "gigatile.cli", "serve", "--host", "127.0.0.1"]
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_for_port(port, proc)
        return Server(self.label, port, proc, {"gigatile": proc.pid}, time.perf_counter() - started)

    @staticmethod
    def iiif(image_id: str, region: str, size: str) -> str:
        return f"/iiif/2/{quote(image_id, safe='')}/{region}/{size}/0/default.jpg"

    @staticmethod
    def deepzoom(image_id: str, level: int, col: int, row: int) -> str:
        return f"/dzi/{quote(image_id, safe='')}_files/{level}/{col}_{row}.jpeg"


class IIPImage:
    """iipsrv.fcgi spawned by lighttpd's mod_fastcgi (one process), reading `folder`.
    JPEG quality 90 as gigatile's default; no log; its default 10 MB tile cache."""

    name = "iipsrv"
    label = "iipsrv"

    def __init__(self, folder: Path, quality: int = 90):
        self.folder, self.quality = folder, quality

    def start(self, core: int | None, workdir: Path) -> Server:
        port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "lighttpd.conf"
        conf.write_text(self.config(port, workdir))
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*pinned(core), LIGHTTPD, "-D", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_for_port(port, proc)
        up = time.perf_counter() - started
        fcgi = []
        for _ in range(200):
            fcgi = children(proc.pid)
            if fcgi:
                break
            time.sleep(0.01)
        if not fcgi:
            proc.kill()
            raise RuntimeError("lighttpd started no iipsrv process")
        return Server(self.label, port, proc, {"iipsrv": fcgi[0], "lighttpd": proc.pid}, up)

    def config(self, port: int, workdir: Path) -> str:
        env = {
            "FILESYSTEM_PREFIX": f"{self.folder.resolve()}/",
            "JPEG_QUALITY": str(self.quality),
            "VERBOSITY": "0",
            "LOGFILE": str(workdir / "iipsrv.log"),
            "OMP_NUM_THREADS": "1",
        }
        bin_env = ", ".join(f'"{k}" => "{v}"' for k, v in env.items())
        return f"""
server.modules = ("mod_fastcgi")
server.document-root = "{workdir}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{workdir}/lighttpd.log"
server.max-keep-alive-requests = 100000
fastcgi.server = ("/fcgi-bin/iipsrv.fcgi" => ((
    "socket" => "{workdir}/iipsrv.sock",
    "bin-path" => "{IIPSRV}",
    "max-procs" => 1,
    "check-local" => "disable",
    "bin-environment" => ({bin_env})
)))
"""

    @staticmethod
    def iiif(image_id: str, region: str, size: str) -> str:
        return f"/fcgi-bin/iipsrv.fcgi?IIIF={image_id}/{region}/{size}/0/default.jpg"

    @staticmethod
    def deepzoom(image_id: str, level: int, col: int, row: int) -> str:
        return f"/fcgi-bin/iipsrv.fcgi?DeepZoom={image_id}_files/{level}/{col}_{row}.jpg"
