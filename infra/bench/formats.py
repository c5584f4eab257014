"""Reads per tile, by format (#13): for every format gigatile serves, a file of ≥ 10,000 px
written the way its producer writes it, served over S3 through the counting proxy.

    python -m infra.bench formats [--width 12000 --height 10000 --tiles 8] [--only svs-jpeg,cog-mask]
    python -m infra.bench formats --smoke       (2,000 × 1,500, 2 tiles a zoom, four formats: the harness only)

Each file gets its own moto S3 server and a fresh `gigatile serve` process (uvicorn), so
the server's peak RSS (VmHWM) is that file's. Through the counting proxy the bench asks for
the simple API's meta (the cold open), then, at each DeepZoom level the file stores (full
resolution, each stored level at a power-of-two downsample) and one it does not store,
`--tiles` random tiles never asked before, and counts the S3 GETs and bytes of each. It
checks #13's three criteria and prints PASS or MISS for each (a MISS is a finding):

- stored: at a zoom the file stores, every tile answers 200 after ≤ 2 GETs;
- budget: no tile of any zoom reads more than max(4 MiB, 10 % of the file);
- RSS: the server's peak RSS stays under 300 MB.

Writes build/bench/formats.md and formats.json (build/bench-smoke/ with --smoke). Files are
written once into --cache (generating the full set takes a few minutes the first time).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from infra.bench import servers
from infra.bench.tile_costs import aperio_sample
from infra.counting_proxy import CountingProxy
from infra.local_stack import DUMMY_CREDENTIALS, make_pyramid, make_striped_scan, pattern, start_moto, upload

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "gigatile-formats"
TILE = 256  # gigatile's default DeepZoom tile size
RSS_LIMIT_MB = 300
MB = 1_000_000


@dataclass(frozen=True)
class Format:
    name: str
    producer: str
    suffix: str
    write: Callable[[Path, int, int], Path]  # (path, width, height) → the file, written there
    stored: Callable[[int, int], list[int]]  # the downsamples the file stores, 1 first


def halvings(limit: int = TILE) -> Callable[[int, int], list[int]]:
    """Levels each half the last until the image fits one `limit` block (libvips' pyramid,
    GDAL's COG overviews)."""

    def stored(width: int, height: int) -> list[int]:
        out = [1]
        while max(width, height) / out[-1] > limit:
            out.append(out[-1] * 2)
        return out

    return stored


def fixed(*factors: int) -> Callable[[int, int], list[int]]:
    return lambda width, height: list(factors)


# -- writers: each the project's own writer of that format, over the same picture -------------


def rgb(width: int, height: int, seed: int = 1, grain: float = 6):
    """The picture as a (height, width, 3) uint8 array (the demo pattern, with grain so that
    JPEG tiles weigh what photographs' do; without, for measured data: deflate then takes
    seconds, not minutes, over 10⁸ pixels)."""
    import numpy as np

    image = pattern(width, height, seed=seed, grain=grain)
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(height, width, 3))


def write_pyramid(subifd: bool):
    return lambda path, w, h: make_pyramid(path, w, h, subifd=subifd, grain=6)


def write_converted(path: Path, w: int, h: int) -> Path:
    """What the converter writes (`gigatile pyramid`, the converter Lambda): ceil-halved
    levels as SubIFDs, every directory first."""
    from gigatile.conversion.pyramid import convert

    convert(pattern(w, h, grain=6), path, quality=85)
    return path


def write_flat_tiled(path: Path, w: int, h: int) -> Path:
    pattern(w, h, grain=6).tiffsave(str(path), tile=True, tile_width=TILE, tile_height=TILE, compression="jpeg", Q=85)
    return path


def write_jpeg(path: Path, w: int, h: int) -> Path:
    pattern(w, h, grain=6).jpegsave(str(path), Q=85)
    return path


def write_svs(codec: str):
    return lambda path, w, h: aperio_sample(path, w, h, codec)


def write_cog_mask(path: Path, w: int, h: int) -> Path:
    import numpy as np

    from tests.slide_files import cog_with_mask

    data = np.ascontiguousarray(rgb(w, h).transpose(2, 0, 1))
    yy, xx = np.ogrid[0:h, 0:w]
    # A disc of valid pixels, as an orthophoto's footprint inside its bounding box.
    mask = (((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < (0.45 * min(w, h)) ** 2).astype(np.uint8) * 255
    return cog_with_mask(path, data, mask)


def write_cog_uint16(path: Path, w: int, h: int) -> Path:
    import numpy as np

    from tests.test_stretch import cog

    bands = rgb(w, h, grain=0).transpose(2, 0, 1).astype(np.uint16) * 40 + 300  # reflectance-like counts
    nir = (bands.sum(axis=0) // 3).astype(np.uint16)
    return cog(path, np.concatenate([bands, nir[None]]))


def write_cog_float32(path: Path, w: int, h: int) -> Path:
    import numpy as np

    from tests.test_stretch import NODATA, cog

    dem = rgb(w, h, grain=0)[:, :, 0].astype(np.float32) * 3.5 + 120  # metres
    dem[h // 3 : h // 2, : w // 3] = NODATA  # the sea
    return cog(path, dem[None], nodata=NODATA, statistics=True)


def write_ome(path: Path, w: int, h: int) -> Path:
    import numpy as np

    from tests.test_ome import write_ome as tifffile_ome

    channels = np.ascontiguousarray(rgb(w, h, grain=0).transpose(2, 0, 1)).astype(np.uint16) * 64 + 1000
    return tifffile_ome(path, channels, (2, 4, 8), ["DAPI", "GFP", "Cy5"])


def write_philips(path: Path, w: int, h: int) -> Path:
    from tests.slide_files import philips_tiff, shrink

    base = rgb(w, h)
    return philips_tiff(path, [base, shrink(base, 2), shrink(base, 4)], rgb(400, 200, 2), rgb(800, 300, 3))


def write_leica(path: Path, w: int, h: int) -> Path:
    from tests.slide_files import leica_scn, shrink

    base = rgb(w, h)
    return leica_scn(path, [base, shrink(base, 2), shrink(base, 4)], rgb(800, 300, 3), (2000, 800))


def write_dicom(path: Path, w: int, h: int) -> Path:
    from tests.slide_files import dicom_wsi

    template = ROOT / "tests" / "fixtures" / "openslide" / "boxes_0.dcm"
    return dicom_wsi(path, template, rgb(w, h), tile=TILE)


def write_striped(path: Path, w: int, h: int) -> Path:
    return make_striped_scan(path, w, h)


FORMATS = [
    Format("pyramid-subifd", "libvips tiffsave pyramid subifd", "tif", write_pyramid(True), halvings()),
    Format("pyramid-pages", "libvips tiffsave pyramid (pages)", "tif", write_pyramid(False), halvings()),
    Format("converted", "gigatile pyramid (the converter)", "tif", write_converted, halvings()),
    Format("cog-mask", "GDAL COG, 8-bit RGB, internal mask", "tif", write_cog_mask, halvings()),
    Format("cog-uint16", "GDAL COG, 4-band uint16", "tif", write_cog_uint16, halvings()),
    Format("cog-float32", "GDAL COG, float32, nodata", "tif", write_cog_float32, halvings()),
    Format("ome-tiff", "tifffile OME-TIFF, 3 × uint16, SubIFDs 2/4/8", "ome.tif", write_ome, fixed(1, 2, 4, 8)),
    Format("svs-jpeg", "Aperio SVS, JPEG, levels 1/4/16", "svs", write_svs("jpeg"), fixed(1, 4, 16)),
    Format("svs-j2k", "Aperio SVS, JPEG 2000 (33005), 1/4/16", "svs", write_svs("j2k"), fixed(1, 4, 16)),
    Format("philips", "Philips TIFF, levels 1/2/4", "tiff", write_philips, fixed(1, 2, 4)),
    Format("leica", "Leica SCN, levels 1/2/4", "scn", write_leica, fixed(1, 2, 4)),
    Format("dicom", "DICOM WSI instance (pydicom), 256 px frames", "dcm", write_dicom, fixed(1)),
    Format("flat-tiled", "tiled JPEG TIFF, no pyramid", "tif", write_flat_tiled, fixed(1)),
    Format("striped", "striped LZW scan", "tif", write_striped, fixed(1)),
    Format("jpeg", "baseline JPEG", "jpg", write_jpeg, fixed(1)),
]


SMOKE = ("pyramid-subifd", "cog-mask", "svs-j2k", "striped")


def written(fmt: Format, folder: Path, width: int, height: int) -> Path:
    """The format's file in `folder`, written unless it is there."""
    path = folder / f"{fmt.name}-{width}x{height}.{fmt.suffix}"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("partial-" + path.name)
        tmp.unlink(missing_ok=True)
        made = fmt.write(tmp, width, height)
        # Some writers keep a cache file at the path they were given.
        made.rename(path)
    return path


# -- zooms ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zoom:
    level: int  # DeepZoom level
    downsample: int
    stored: bool


def zooms(width: int, height: int, stored: list[int]) -> list[Zoom]:
    """Full resolution, each stored power-of-two downsample, and one downsample not stored:
    between two stored levels where there is a gap, else below the coarsest."""
    top = math.ceil(math.log2(max(width, height)))
    powers = [d for d in stored if d & (d - 1) == 0 and d <= 2**top]
    gaps = [d * 2 for d in powers if d * 2 not in powers and d * 2 < powers[-1]]
    between = gaps[0] if gaps else powers[-1] * 2
    chosen = sorted({*powers, between})
    return [Zoom(top - int(math.log2(d)), d, d in powers) for d in chosen]


# -- measuring one file ------------------------------------------------------------------------


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def drain(stream) -> collections.deque:
    """The server's stderr, read in a thread (a full pipe would block it); the last lines."""
    tail: collections.deque = collections.deque(maxlen=20)
    threading.Thread(target=lambda: [tail.append(line) for line in stream], daemon=True).start()
    return tail


def measure(fmt: Format, path: Path, width: int, height: int, tiles: int, seed: int, env: dict) -> dict:
    key = f"{fmt.name}.{fmt.suffix}"
    size = path.stat().st_size
    moto, endpoint = start_moto()
    proxy = CountingProxy(endpoint)
    server = None
    try:
        upload(endpoint, BUCKET, key, path)
        gigatile = servers.Gigatile(f"s3://{BUCKET}", {**env, "AWS_ENDPOINT_URL_S3": proxy.endpoint})
        with tempfile.TemporaryDirectory() as tmp:
            server = gigatile.start(None, Path(tmp))
        log = drain(server.proc.stderr)
        proxy.reset()
        status, body = get(f"{server.base}/api/v1/image/meta?path={quote(key, safe='')}")
        opened = proxy.gets()
        meta = json.loads(body) if status == 200 else {"error": body.decode(errors="replace")[:300]}
        result = {
            "format": fmt.name,
            "producer": fmt.producer,
            "file_bytes": size,
            "width": width,
            "height": height,
            "meta_status": status,
            "open_gets": len(opened),
            "open_bytes": sum(r.bytes for r in opened),
            "source_levels": meta.get("source_levels"),
            "zooms": [],
        }
        # The size gigatile serves (a Philips level 0 is its stored size, padded to whole tiles).
        width, height = meta.get("width", width), meta.get("height", height)
        result.update(width=width, height=height)
        rng = random.Random(seed)
        for zoom in zooms(width, height, fmt.stored(width, height)):
            cols = math.ceil(math.ceil(width / zoom.downsample) / TILE)
            rows = math.ceil(math.ceil(height / zoom.downsample) / TILE)
            picked = rng.sample(range(cols * rows), min(tiles, cols * rows))
            reads, answers = [], collections.Counter()
            for index in picked:
                col, row = index % cols, index // cols
                proxy.reset()
                status, _ = get(f"{server.base}/dzi/{quote(key, safe='')}_files/{zoom.level}/{col}_{row}.jpeg")
                records = proxy.gets()
                answers[status] += 1
                reads.append((len(records), sum(r.bytes for r in records), status))
            result["zooms"].append(
                {
                    "dz_level": zoom.level,
                    "downsample": zoom.downsample,
                    "stored": zoom.stored,
                    "tiles": len(reads),
                    "answers": dict(sorted(answers.items())),
                    "gets_mean": statistics.mean(r[0] for r in reads),
                    "gets_max": max(r[0] for r in reads),
                    "kib_mean": statistics.mean(r[1] for r in reads) / 1024,
                    "kib_max": max(r[1] for r in reads) / 1024,
                }
            )
        result["peak_rss_mb"] = servers.peak_rss_mib(server.proc.pid) * 2**20 / MB
        result["log_tail"] = [line.decode(errors="replace").rstrip() for line in log][-3:]
    finally:
        if server is not None:
            server.stop()
        proxy.stop()
        moto.terminate()
        moto.wait()
    return judge(result)


def judge(result: dict) -> dict:
    """#13's three criteria, PASS or MISS, per zoom and for the file."""
    limit = max(4 * 2**20, result["file_bytes"] // 10)
    for zoom in result["zooms"]:
        zoom["stored_ok"] = (
            (zoom["answers"] == {200: zoom["tiles"]} and zoom["gets_max"] <= 2) if zoom["stored"] else None
        )
        zoom["budget_ok"] = zoom["kib_max"] * 1024 <= limit
    largest = max((z["kib_max"] for z in result["zooms"]), default=0) * 1024
    result.update(
        read_limit_bytes=limit,
        largest_read_bytes=largest,
        stored_ok=all(z["stored_ok"] is not False for z in result["zooms"]),
        budget_ok=largest <= limit,
        rss_ok=result["peak_rss_mb"] < RSS_LIMIT_MB,
    )
    return result


# -- report ------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else "PASS" if ok else "**MISS**"


def markdown(results: list[dict], command: str) -> str:
    lines = [
        f"`{command}`",
        "",
        "Per file: the cold open (simple API meta), the largest read of any tile against "
        "max(4 MiB, 10 % of the file), the server's peak RSS, and the three criteria.",
        "",
        "| format | producer | size | file | open GETs / KiB | largest tile read / limit | peak RSS | "
        "stored ≤ 2 GETs | ≤ limit | RSS < 300 MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['format']} | {r['producer']} | {r['width']:,} × {r['height']:,} | {r['file_bytes'] / 2**20:.1f} MiB "
            f"| {r['open_gets']} / {r['open_bytes'] / 1024:.0f} | {r['largest_read_bytes'] / 2**20:.2f} / "
            f"{r['read_limit_bytes'] / 2**20:.1f} MiB | {r['peak_rss_mb']:.0f} MB | {verdict(r['stored_ok'])} "
            f"| {verdict(r['budget_ok'])} | {verdict(r['rss_ok'])} |"
        )
    lines += [
        "",
        "Per zoom (DeepZoom level, downsample from full resolution; random tiles never asked "
        "before, each counted from its request to its answer):",
        "",
        "| format | DZ level | downsample | stored | answers | GETs / tile mean (max) | KiB / tile mean (max) "
        "| stored ≤ 2 GETs | ≤ limit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for z in r["zooms"]:
            answers = ", ".join(f"{n}× {status}" for status, n in z["answers"].items())
            lines.append(
                f"| {r['format']} | {z['dz_level']} | {z['downsample']} | {'yes' if z['stored'] else 'no'} | {answers} "
                f"| {z['gets_mean']:.2f} ({z['gets_max']}) | {z['kib_mean']:.1f} ({z['kib_max']:.1f}) "
                f"| {verdict(z['stored_ok'])} | {verdict(z['budget_ok'])} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench formats", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=12_000)
    parser.add_argument("--height", type=int, default=10_000)
    parser.add_argument("--tiles", type=int, default=8, help="random new tiles per zoom")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", help="comma-separated format names (default: all)")
    parser.add_argument("--smoke", action="store_true", help="2,000 × 1,500, 2 tiles a zoom")
    parser.add_argument("--cache", default=".cache/formats")
    parser.add_argument("--out", help="folder for formats.md and .json (default build/bench or build/bench-smoke)")
    args = parser.parse_args(argv)
    chosen = FORMATS
    if args.smoke:
        # One of each family (libvips pyramid, GDAL, scanner slide, no levels), so it stays short.
        args.width, args.height, args.tiles = 2000, 1500, 2
        args.only = args.only or ",".join(SMOKE)
    if args.only:
        names = args.only.split(",")
        chosen = [f for f in FORMATS if f.name in names]
        if len(chosen) != len(names):
            raise SystemExit(f"unknown format among {names}; known: {[f.name for f in FORMATS]}")
    out = Path(args.out or ROOT / "build" / ("bench-smoke" if args.smoke else "bench"))
    env = servers.gigatile_env(**DUMMY_CREDENTIALS)
    for key in ("GIGATILE_CONVERTER", "GIGATILE_CONVERT_ON_DEMAND"):
        env.pop(key, None)  # the defaults: no converter, so a zoom over the budget is 413
    os.environ.update({k: v for k, v in DUMMY_CREDENTIALS.items() if k not in os.environ})

    results = []
    for fmt in chosen:
        started = time.perf_counter()
        path = written(fmt, Path(args.cache), args.width, args.height)
        made = time.perf_counter()
        result = measure(fmt, path, args.width, args.height, args.tiles, args.seed, env)
        result["seconds"] = {"write": made - started, "measure": time.perf_counter() - made}
        results.append(result)
        print(
            f"{fmt.name:15s} open {result['open_gets']} GETs; largest tile read "
            f"{result['largest_read_bytes'] / 2**20:.2f} MiB; peak RSS {result['peak_rss_mb']:.0f} MB; "
            f"stored {verdict(result['stored_ok'])}, limit {verdict(result['budget_ok'])}, "
            f"RSS {verdict(result['rss_ok'])} ({made - started:.0f} s to write, {time.perf_counter() - made:.0f} s)",
            flush=True,
        )

    command = "python -m infra.bench formats" + (" --smoke" if args.smoke else "")
    if not args.smoke and (args.width, args.height, args.tiles) != (12_000, 10_000, 8):
        command += f" --width {args.width} --height {args.height} --tiles {args.tiles}"
    if args.only and not args.smoke:
        command += f" --only {args.only}"
    table = markdown(results, command)
    out.mkdir(parents=True, exist_ok=True)
    (out / "formats.md").write_text(table)
    (out / "formats.json").write_text(json.dumps({"command": command, "results": results}, indent=1))
    print(table)
