"""The local stack shared by `make demo`, the tests and the benchmarks: an S3 server on
loopback (moto's server mode, real HTTP), the app under uvicorn on loopback and
reproducible sample images."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalS3:
    """moto's S3 server on 127.0.0.1, on a free port; `endpoint` is its URL."""

    def __init__(self, port: int = 0):
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def client(self):
        return s3_client(self.endpoint)

    def bucket(self, name: str, objects: dict[str, Path]):
        """Create bucket `name` holding `objects` (key → local file); returns the client."""
        client = self.client()
        client.create_bucket(Bucket=name)
        for key, path in objects.items():
            client.upload_file(str(path), name, key)
        return client

    def stop(self) -> None:
        self._server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[str, object]:
    """gigatile's app, over the settings in the environment now, under uvicorn in a thread of
    this process, on a free loopback port: (base URL, the uvicorn.Server; set its should_exit
    to stop it)."""
    import uvicorn

    from gigatile.app import create_app

    app = create_app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def mount_viewers(app, folder: Path | None = None) -> bool:
    """Serve the viewers' npm packages (`make viewers`: build/viewers) at /viewers/, for the
    viewer page's switch; only where the folder exists (never in the Lambda package)."""
    from fastapi.staticfiles import StaticFiles

    folder = folder or Path(__file__).resolve().parents[1] / "build" / "viewers"
    if not folder.is_dir():
        return False
    app.mount("/viewers", StaticFiles(directory=str(folder)), name="viewers")
    return True


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's S3 server in its own process (its memory is not ours), on a free port."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def s3_client(endpoint: str):
    """A boto3 client for a local S3 server, with the dummy credentials it accepts."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def upload(endpoint: str, bucket: str, key: str, path: Path) -> None:
    client = s3_client(endpoint)
    client.create_bucket(Bucket=bucket)
    client.upload_file(str(path), bucket, key)


def use_credentials() -> None:
    for key, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(key, value)


def pattern(width: int, height: int, seed: int = 1, grain: float = 0):
    """A colourful multi-octave noise with detail at every zoom, computed lazily by libvips.
    `grain` adds per-pixel noise, so JPEG tiles weigh what photographs' do."""
    import pyvips

    cells = [c for c in (4096, 1024, 256, 64, 16) if c < max(width, height)] or [16]
    octaves = [pyvips.Image.perlin(width, height, cell_size=c, seed=seed + i) for i, c in enumerate(cells)]
    weights = [0.5**i for i in range(len(octaves))]

    def mix(shift: int):
        total = sum(o * weights[(i + shift) % len(weights)] for i, o in enumerate(octaves))
        norm = sum(weights)
        return ((total / norm + 1) * 127.5).cast("uchar")

    image = mix(0).bandjoin([mix(1), mix(2)])
    if grain:
        image = (image + pyvips.Image.gaussnoise(width, height, sigma=grain, seed=seed)).cast("uchar")
    return image.copy(interpretation="srgb")


def animation(colours: list[tuple[int, int, int]], width: int, height: int, delay_ms: int = 100):
    """Solid-colour frames as one libvips animation (frames stacked, `page-height` set),
    ready for gifsave or webpsave."""
    import pyvips

    frames = [pyvips.Image.black(width, height, bands=3).new_from_image(list(c)).cast("uchar") for c in colours]
    image = pyvips.Image.arrayjoin(frames, across=1).copy(interpretation="srgb")
    image.set_type(pyvips.GValue.gint_type, "page-height", height)
    image.set_type(pyvips.GValue.array_int_type, "delay", [delay_ms] * len(colours))
    return image


def make_pyramid(
    path: Path, width: int, height: int, subifd: bool = True, quality: int = 85, seed: int = 1, grain: float = 0
) -> Path:
    """A tiled pyramidal JPEG TIFF written by libvips (256 px tiles), unless it exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        pattern(width, height, seed, grain).tiffsave(
            str(tmp),
            tile=True,
            tile_width=256,
            tile_height=256,
            pyramid=True,
            subifd=subifd,
            compression="jpeg",
            Q=quality,
            bigtiff=width * height * 3 > 2**31,
        )
        tmp.rename(path)
    return path


def make_striped_scan(path: Path, width: int = 12_000, height: int = 9_000) -> Path:
    """An RGB scan as scanning software writes one: striped (libvips' 128 rows a strip at
    this width), LZW with Predictor 2, no levels; unless it exists."""
    if not path.exists():
        from gigatile.vips import vips

        path.parent.mkdir(parents=True, exist_ok=True)
        xyz = vips().Image.xyz(width, height)
        x, y = xyz[0], xyz[1]  # smooth bands (sin in degrees): a box-filtered pyramid matches Lanczos
        bands = [((x / 7 + y / 5).sin() * 100 + 128), ((x / 11).sin() * 90 + 120), ((y / 9).cos() * 80 + 110)]
        image = bands[0].cast("uchar").bandjoin([b.cast("uchar") for b in bands[1:]])
        tmp = path.with_suffix(".partial")
        image.copy(interpretation="srgb").tiffsave(
            str(tmp), compression="lzw", predictor="horizontal", bigtiff=width * height * 3 > 2**31
        )
        tmp.rename(path)
    return path


def proc_status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM…), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries
    that over exec from the forking parent, so a fresh child reports its parent's peak."""
    return proc_status_mib("VmHWM")
