"""The one entry point for every measurement of gigatile:

    python -m infra.bench [COMMAND] [options]      (python -m infra.bench COMMAND --help)

    tiles        (the default; `make bench`) gigatile side by side with the alternatives,
                 over a local S3 server: writes docs/benchmarks.md, .json and .png
    tile-costs   gigatile alone over moto's S3 server: S3 GETs and bytes per tile, render
                 time, peak RSS over 1,000 random tiles of the demo sample
    cold-start   the x86_64 `sam build` as shipped, in fresh `python3.12 -S -E -B` processes:
                 import and first tile (pass-through, re-encoded), with the build's bytecode
                 and without (docs/benchmarks.md section, docs/cold-start.json)
    thumbnails   thumbnail quality (PSNR) and time against libvips' own thumbnail, and the
                 S3 reads of a thumbnail of large sources
    conversion   `gigatile pyramid` of a large baseline JPEG against plain libvips
                 tiffsave: wall time and peak RSS
    simulate     concurrent clients over uvicorn and a jittery S3: every body compared
                 byte for byte with a serial reference
    iipsrv       gigatile and IIPImage (iipsrv behind lighttpd) side by side over HTTP, each
                 pinned to one core, loaded by wrk: tiles/s, CPU per tile, RSS, first request,
                 same picture, and a py-spy profile per workload (docs/benchmarks.md section)
    tile-classes where workload A's CPU goes in-process, by kind of tile (pass-through,
                 rendered from one stored tile, from several, resampled)
    request-path what a request costs over its tile work (uvicorn, Lambda handler) and what
                 a million new tiles cost on Lambda, with pass-through and re-encoding
    s3-get       what one ranged S3 GET costs in CPU and garbage collections, and the first
                 request, CPU per new tile and peak RSS of a process serving tiles over S3
    dicom-series a DICOM WSI series over moto's S3 server: the open's GETs and bytes, and
                 GETs, bytes and pass-through of new tiles at every zoom
    formats      every served format (SVS, COG, OME-TIFF, Philips, Leica, DICOM, flat and striped
                 TIFF, JPEG …) at ≥ 10,000 px over S3: GETs and bytes per new tile at each zoom,
                 the cold open, peak RSS, and #13's criteria PASS/MISS (docs/performance.md section)
    soak         many requests through the Lambda handler: RSS, caches, file descriptors
                 and threads after a warm-up and at the end

Without a command, the options are those of `tiles`.
"""

from __future__ import annotations

import importlib
import sys

# command: (module, function taking the remaining arguments)
COMMANDS = {
    "tiles": ("infra.bench.tiles", "main"),
    "tile-costs": ("infra.bench.tile_costs", "main"),
    "cold-start": ("infra.bench.cold_start", "main"),
    "thumbnails": ("infra.bench.thumbnails", "main"),
    "conversion": ("infra.bench.conversion", "main"),
    "simulate": ("infra.bench.reliability", "simulate_main"),
    "soak": ("infra.bench.reliability", "soak_main"),
    "iipsrv": ("infra.bench.iipsrv", "main"),
    "request-path": ("infra.bench.request_path", "main"),
    "tile-classes": ("infra.bench.tile_classes", "main"),
    "s3-get": ("infra.bench.s3_get", "main"),
    "dicom-series": ("infra.bench.dicom_series", "main"),
    "formats": ("infra.bench.formats", "main"),
}
DEFAULT = "tiles"


def main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return
    command = argv[0] if argv and argv[0] in COMMANDS else None
    module, function = COMMANDS[command or DEFAULT]
    getattr(importlib.import_module(module), function)(argv[1:] if command else argv)


if __name__ == "__main__":
    main(sys.argv[1:])
