"""Small hostile files that claim or point at much more (issue #18), against a server in its
own process: each answers JSON 4xx/5xx (never internal_error) or a bounded 200, before the
deadline (never 504), with its S3 GETs and bytes counted by the proxy in front of the S3
server and its peak RSS growth read from the server's /proc/PID/status; the server keeps
serving the next good image.

Each run writes the matrix (status, GETs, bytes, RSS growth, time) to
build/hostile-budgets.md; docs/reliability.md shows it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

import hostile_files as hostile
from conftest import BUCKET, PREFIX, ROOT
from infra.local_stack import free_port, pattern

GOOD_TILE = "/api/v1/image/tile?path=pyr.tif&level=5&x=1&y=1"
MIB = 1 << 20
# Peak RSS growth one hostile request may cause in the server. What a 1,769 MB function can
# give a request: ~1,769 MB less the runtime, libvips and the caches (~450 MB), over the
# renders it runs at once (GIGATILE_MAX_RENDERS: 1 vCPU, so a few).
RSS_LIMIT_MB = 200
E413, E415, E503 = (413, "too_large"), (415, "unsupported_image"), (503, "source_changed")
E404A = (404, "associated_image_not_found")
OK = (200, None)
MATRIX_OUT = ROOT / "build" / "hostile-budgets.md"


def routes(image_id: str) -> dict[str, str]:
    q, p = quote(image_id, safe=""), quote(image_id, safe="").replace(".", "%2E")
    return {
        "meta": f"/api/v1/image/meta?path={q}",
        "tile": f"/api/v1/image/tile?path={q}&level=0&x=0&y=0",  # the lowest zoom: the whole image
        "full-res tile": f"/api/v1/image/tile?path={q}&level=99&x=0&y=0",  # level 99: see _full_res
        "thumbnail": f"/api/v1/image/thumbnail?path={q}&width=64",
        "info": f"/iiif/3/{p}/info.json",
        "iiif max": f"/iiif/3/{p}/full/max/0/default.jpg",
        "label": f"/api/v1/image/associated/label?path={q}",  # slides only
    }


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    expected: dict[str, tuple[int, str | None]]  # route → (status, error code)
    # The lowest zoom of a one-level 1500 × 1000 tiled TIFF reads all its 24 tiles, one GET
    # each: valid files, costly by layout, still inside the budget.
    max_gets: int = 12
    says: str | None = None  # what every error answer's message must name


ALL = ("meta", "tile", "full-res tile", "thumbnail", "info", "iiif max")
ROUTE_ORDER = (*ALL, "label")
PIXELS = ("tile", "full-res tile", "thumbnail", "iiif max")


def every(expected, routes=ALL):
    return dict.fromkeys(routes, expected)


CASES = [
    Case(
        "tile-counts-max.tif",
        "tiled JPEG TIFF, every TileByteCount 2^32−1",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
    ),
    Case(
        "tile-counts-zero.tif",
        "tiled JPEG TIFF, every TileByteCount 0",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
    ),
    Case(
        "short-arrays.tif",
        "tile offset and byte count arrays of 1 value for a 16 × 12 grid",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
    ),
    Case(
        "offsets-past-eof.tif",
        "every tile offset past the end of the object",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
    ),
    Case("jpegtables-1mib.tif", "JPEGTables grown to 1 MiB with comment segments", every(OK), max_gets=80),
    Case("description-16mib.tif", "a 16 MiB ImageDescription", every(OK)),
    Case("ifd-loop.tif", "the first IFD's next pointer points at itself", every(OK), max_gets=80),
    Case("pages-10000.tif", "10,000 IFDs in one chain", every(E415)),
    Case("subifds-100000.tif", "100,000 SubIFDs", every(E415)),
    Case("subifd-self.tif", "a page whose SubIFD is itself", every(OK)),
    Case("subifd-loop.tif", "a SubIFD whose next pointer is itself", every(OK)),
    Case("subifd-larger.tif", "a 4096² reduced level under a 512² base", every(OK)),
    Case("zero-width.tif", "a width of 0", every(E415)),
    Case("width-2-31.tif", "a width of 2^31 (one tile offset)", every(E415)),
    # Read as libtiff reads it (the first of a repeated tag), not as 2^20 × 2^20 (413).
    Case("size-repeated.tif", "ImageWidth and ImageLength each twice: 256, then 2^20", every(OK)),
    Case(
        "tile-8192.tif",
        "65,536² with 8,192² tiles (67 Mpx a tile: over the decode budget)",
        {"meta": OK, "info": OK} | every(E413, PIXELS),
    ),
    Case("tile-16384.tif", "65,536² with 16,384² tiles (libvips refuses tiles over 8,192)", every(E415)),
    Case(
        "one-level-20000.tif",
        "one tiled level of 20,000² (6,250 shared tiles), no stored low levels",
        {"meta": OK, "info": OK, "full-res tile": OK} | every(E413, ("tile", "thumbnail", "iiif max")),
    ),
    Case("bits-7.tif", "7 bits a sample", every(E415)),
    Case("samples-5.tif", "5 samples a pixel", every(OK)),
    Case("float64.tif", "64-bit float samples", every(E415)),
    Case(
        "striped-tall.tif",
        "striped, 1000 × 1,000,000, one row a strip (the issue's 7.6 MiB file)",
        # A full-resolution tile decodes only the 256 strips it covers (imaging/strips.py).
        {"meta": OK, "info": OK, "full-res tile": OK} | every(E413, ("tile", "thumbnail", "iiif max")),
    ),
    Case(
        "striped-counts-max.tif",
        "striped, every StripByteCount 2^32−1",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
    ),
    # Aperio slides (IFD 0 says "Aperio"), with their label route.
    Case("svs-level-larger.tif", "Aperio: a 4096² level under a 1024² base", every(OK) | {"label": E404A}),
    Case("svs-level-zero.tif", "Aperio: a 0 × 0 level", every(OK) | {"label": E404A}),
    Case(
        "svs-level-10000x.tif",
        "Aperio: a 20,000² base with a 2 × 2 level (10,000×), no level between",
        {"meta": OK, "info": OK, "full-res tile": OK, "label": E404A} | every(E413, ("tile", "thumbnail", "iiif max")),
    ),
    Case(
        "svs-label-huge.tif",
        "Aperio: a label declared 100,000 × 100,000 (shared strips)",
        every(OK) | {"label": E413},
        says="100000×100000 label",
    ),
    Case("svs-label-tiled.tif", "Aperio: a tiled 300 × 200 label", every(OK) | {"label": E404A}),
    Case(
        "svs-description-1mib.tif",
        "Aperio: a 1 MiB ImageDescription, MPP NaN and AppMag 1e999",
        every(OK) | {"label": E404A},
    ),
    Case(
        "svs-mpp-garbage.tif",
        "Aperio: a 512 B ImageDescription, MPP NaN and -0, AppMag 1e999 and 'x'",
        every(OK) | {"label": E404A},
    ),
    # GDAL internal masks (NewSubfileType 4, PhotometricInterpretation 4) of a 2-level COG.
    Case("mask-size-differs.tif", "COG: the base's mask is 300 × 200, not 512²", every(OK)),
    Case("mask-8-bits.tif", "COG: masks of 8 bits a sample, not 1", every(OK)),
    Case(
        "mask-offsets-past-eof.tif",
        "COG: every mask tile offset past the end",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
        says="mask",
    ),
    Case("mask-no-level.tif", "COG: 3 more masks (64², 32², 16²) that no level has", every(OK)),
    # Non-8-bit data and GDAL's tags.
    Case("float32-nan.tif", "float32, every value NaN", every(OK)),
    Case("float32-inf.tif", "float32, only +inf and −inf", every(OK)),
    Case("nodata-abc.tif", "float32, GDAL_NODATA 'abc'", every(OK)),
    Case("nodata-1e999.tif", "float32, GDAL_NODATA '1e999'", every(OK)),
    Case("nodata-16kib.tif", "uint16, GDAL_NODATA of 16 KiB of text", every(OK)),
    Case("metadata-malformed.tif", "uint16, GDAL_METADATA not well-formed XML", every(OK)),
    Case("metadata-1mib.tif", "uint16, GDAL_METADATA of 1 MiB", every(OK)),
    Case("metadata-laughs.tif", "uint16, GDAL_METADATA with nested entities (billion laughs)", every(OK)),
    Case("statistics-min-over-max.tif", "uint16, STATISTICS_MINIMUM > STATISTICS_MAXIMUM", every(OK)),
    Case("statistics-nan.tif", "float32, STATISTICS_MINIMUM/MAXIMUM NaN", every(OK)),
    Case("scale-1e308.tif", "uint16, GDAL SCALE 1e308 and OFFSET -1e308 (ignored)", every(OK)),
    Case("scale-zero.tif", "float32, GDAL SCALE 0 (ignored)", every(OK)),
    Case("scale-1e-320.tif", "uint16, GDAL SCALE 1e-320, a denormal (ignored)", every(OK)),
    Case("bits-12.tif", "12 bits a sample", every(E415)),
    Case("bits-24.tif", "24-bit integer samples", every(E415)),
    Case("uint16-samples-64.tif", "uint16, 64 samples a pixel", every(OK)),
    # JPEG 2000 tiles (decoded by Pillow's OpenJPEG): refused by the decoder, or from the
    # codestream's header before any decoding when it claims more than the TIFF's tile.
    Case(
        "j2k-garbage.tif",
        "compression 33003, tiles of garbage bytes",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
        says="JPEG 2000",
    ),
    Case(
        "j2k-truncated.tif",
        "compression 33003, tiles a codestream cut after SIZ",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
        says="JPEG 2000",
    ),
    Case(
        "j2k-oversized.tif",
        "compression 33003, tiles a codestream header claiming 60,000²",
        {"meta": OK, "info": OK} | every(E415, PIXELS),
        says="JPEG 2000 tile says it is 60000×60000",
    ),
]


def _files() -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path, small_path = Path(tmp) / "single.tif", Path(tmp) / "small.tif"
        tiled = {"tile": True, "tile_width": 256, "tile_height": 256, "compression": "jpeg", "Q": 85}
        pattern(4000, 3000, seed=5, grain=6).tiffsave(str(path), **tiled)
        single = path.read_bytes()  # 4000 × 3000, 16 × 12 tiles of 256, one level, ~1.6 MiB
        pattern(1500, 1000, seed=6, grain=6).tiffsave(str(small_path), **tiled)
        small = small_path.read_bytes()  # 6 × 4 tiles
    return {
        "tile-counts-max.tif": hostile.tiff_counts(single, 2**32 - 1),
        "tile-counts-zero.tif": hostile.tiff_counts(single, 0),
        "short-arrays.tif": hostile.tiff_short_arrays(single),
        "offsets-past-eof.tif": hostile.tiff_offsets_past_eof(single),
        "jpegtables-1mib.tif": hostile.tiff_big_jpeg_tables(small),
        "description-16mib.tif": hostile.tiff_description(16 * MIB),
        "ifd-loop.tif": hostile.tiff_ifd_loop(small),
        "pages-10000.tif": hostile.tiff_page_chain(10_000),
        "subifds-100000.tif": hostile.tiff_with_subifds(100_000),
        "subifd-self.tif": hostile.tiff_with_subifds(self_reference=True),
        "subifd-loop.tif": hostile.tiff_with_subifds(loop=True),
        "subifd-larger.tif": hostile.tiff_with_subifds(larger=True),
        "zero-width.tif": hostile.tiff_sized(0, 256),
        "width-2-31.tif": hostile.tiff_sized(2**31, 1, tiles=1),
        "size-repeated.tif": hostile.tiff_size_repeated(2**20),
        "tile-8192.tif": hostile.tiff_sized(65536, 65536, tile=8192),
        "tile-16384.tif": hostile.tiff_sized(65536, 65536, tile=16384),
        "one-level-20000.tif": hostile.tiff_sized(20000, 20000),
        "bits-7.tif": hostile.tiff_samples(7, 1),
        "samples-5.tif": hostile.tiff_samples(8, 5),
        "float64.tif": hostile.tiff_samples(64, 1, sample_format=3),
        "striped-tall.tif": hostile.tiff_striped(1000, 1_000_000),
        "striped-counts-max.tif": hostile.tiff_striped(256, 256, 16, count=2**32 - 1),
        **hostile.added_formats(),
    }


@pytest.fixture(scope="module")
def uploaded(s3):
    files = _files()
    for name, data in files.items():
        s3.bucket_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/budgets/{name}", Body=data)
    return {name: len(data) for name, data in files.items()}


@dataclass
class Server:
    proc: subprocess.Popen
    client: httpx.Client

    def status(self, field: str) -> int:
        """A /proc/PID/status figure (VmRSS, VmHWM) in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


@pytest.fixture(scope="module")
def server(s3):
    """gigatile serve in its own process (its memory is what is measured), over the counting
    proxy, with default settings."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGATILE_")}
    env.update(
        AWS_ENDPOINT_URL_S3=s3.proxy.endpoint,
        GIGATILE_SOURCE=f"s3://{BUCKET}/{PREFIX}",
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gigatile.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    for _ in range(200):
        try:
            if client.get("/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("gigatile serve did not start")
    good = client.get(GOOD_TILE)
    assert good.status_code == 200
    yield Server(proc, client), good.content
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


ROWS: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def write_matrix():
    """One row per file: each route's answer, and the most any of them read, grew and took."""
    yield
    if not ROWS:
        return
    MATRIX_OUT.parent.mkdir(exist_ok=True)
    lines = [
        "| file | what | answers (meta · lowest-zoom tile · full-res tile · thumbnail · info.json · IIIF full/max"
        " · label, slides only)"
        " | codes | GETs | bytes read | RSS growth | time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        rows = [r for r in ROWS if r["file"] == case.name]
        if not rows:
            continue
        answers = " · ".join(str(r["status"]) for r in rows)
        codes = ", ".join(sorted({f"`{r['code']}`" for r in rows if r["code"]}))
        lines.append(
            f"| `{case.name}` ({_size(rows[0]['size'])}) | {case.what} | {answers} | {codes} | "
            f"≤ {max(r['gets'] for r in rows)} | ≤ {_size(max(r['bytes'] for r in rows))} | "
            f"≤ {max(r['rss'] for r in rows) / MIB:.1f} MiB | ≤ {max(r['seconds'] for r in rows):.2f} s |"
        )
    MATRIX_OUT.write_text("\n".join(lines) + "\n")


def _size(n: int) -> str:
    return f"{n / MIB:.2f} MiB" if n >= MIB else f"{n / 1024:.1f} KiB"


def _full_res(client, url: str, image_id: str) -> str:
    """The full-resolution tile's URL: the simple API's max_level from meta."""
    meta = client.get(routes(image_id)["meta"])
    level = meta.json()["max_level"] if meta.status_code == 200 else 0
    return url.replace("level=99", f"level={level}")


def measure(s3, server: Server, url: str, key: str) -> tuple[httpx.Response, dict]:
    s3.proxy.reset()
    before = server.status("VmRSS")
    server.reset_peak()
    start = time.monotonic()
    resp = server.client.get(url)
    seconds = time.monotonic() - start
    reads = s3.proxy.gets(key)
    figures = {
        "gets": len(reads),
        "bytes": sum(r.bytes for r in reads),
        "rss": max(0, server.status("VmHWM") - before),
        "seconds": seconds,
    }
    return resp, figures


def check_answer(resp: httpx.Response, expected: tuple[int, str | None]) -> None:
    status, code = expected
    assert resp.status_code == status, resp.text[:300]
    if status >= 400:
        assert resp.headers["content-type"] == "application/json"
        body = resp.json()
        assert body["error"]["code"] == code and "Traceback" not in resp.text


CASE_ROUTES = [(case, route) for case in CASES for route in ROUTE_ORDER if route in case.expected]


@pytest.mark.parametrize("case,route", CASE_ROUTES, ids=[f"{c.name}:{r}" for c, r in CASE_ROUTES])
def test_hostile_file_is_refused_or_served_within_budgets(s3, server, uploaded, case, route):
    srv, good = server
    image_id = f"budgets/{case.name}"
    url = routes(image_id)[route]
    if route == "full-res tile":
        url = _full_res(srv.client, url, image_id)
    resp, figures = measure(s3, srv, url, f"/{PREFIX}/budgets/{case.name}")
    ROWS.append(
        {
            "file": case.name,
            "size": uploaded[case.name],
            "what": case.what,
            "route": route,
            "status": resp.status_code,
            "code": resp.json()["error"]["code"] if resp.status_code >= 400 else None,
            **figures,
        }
    )
    check_answer(resp, case.expected[route])
    if case.says and resp.status_code >= 400:
        assert case.says in resp.json()["error"]["message"]
    # Bounded reads: never more than the object (and the first 512 KiB window) once over,
    # nor more GETs than a cold open and a few tiles take.
    assert figures["bytes"] <= uploaded[case.name] + 512 * 1024
    assert figures["gets"] <= case.max_gets
    assert figures["rss"] <= RSS_LIMIT_MB * MIB
    # Alive, and the next good image is the same tile as before.
    assert srv.client.get(GOOD_TILE).content == good


# -- the budgets' own refusals, the converter, and objects replaced between requests --------
def test_the_read_budget_stops_a_request_before_the_bytes_it_cannot_afford(configure, s3, uploaded, caplog):
    """A valid file whose header alone is 16 MiB, served with a 4 MiB budget: 413
    read_budget_exceeded before the GET that would pass it, the reads made counted in the log."""
    client = configure(GIGATILE_MAX_REQUEST_READ_MB=4)
    resp = client.get(routes("budgets/description-16mib.tif")["meta"])
    check_answer(resp, (413, "read_budget_exceeded"))
    # The route's version check (one GET of the 512 KiB open window, unpinned) comes first,
    # then meta's own reads, pinned to that version and charged to the budget.
    version, *reads = s3.proxy.gets("description-16mib")
    assert version.if_match is None and all(r.if_match for r in reads)
    assert sum(r.bytes for r in reads) <= 4 * MIB
    refused = [r for r in caplog.records if r.getMessage() == "refused"]
    assert refused and refused[-1].error == "read_budget_exceeded"
    assert refused[-1].s3_gets == len(reads) and refused[-1].s3_bytes == sum(r.bytes for r in reads)
    assert client.get(GOOD_TILE).status_code == 200


def test_a_walk_through_ten_thousand_ifds_stops_at_the_page_limit_within_the_get_budget(configure, s3, uploaded):
    """The open parses the chain itself (libvips opens a TIFF when a view needs pixels): it
    stops at MAX_IFDS pages, a clear 415, before the request's GET budget runs out."""
    client = configure(GIGATILE_MAX_REQUEST_GETS=2)
    resp = client.get(routes("budgets/pages-10000.tif")["meta"])
    check_answer(resp, (415, "unsupported_image"))
    assert "more than 4096 pages" in resp.json()["error"]["message"]
    assert len(s3.proxy.gets("pages-10000")) <= 1 + 2  # the version check, then meta's two
    assert client.get(GOOD_TILE).status_code == 200


OVER_BUDGET = [
    ("striped-tall.tif", route, level)
    for route, level in (("tile", 0), ("full-res tile", 11), ("thumbnail", 0), ("iiif max", 0))
] + [("one-level-20000.tif", route, 0) for route in ("tile", "thumbnail", "iiif max")]


@pytest.mark.parametrize("name,route,level", OVER_BUDGET, ids=[f"{n}:{r}" for n, r, _ in OVER_BUDGET])
def test_views_over_the_decode_budget_wait_for_the_converter(configure, uploaded, name, route, level):
    """With the converter on, a view that would decode the whole 1 Gpx strip image (any
    below full resolution: level 11 is 1/2), or every tile of a 400 Mpx level for a
    thumbnail, is 503 + Retry-After (the pyramid is on its way),
    decided from the header alone."""
    client = configure(GIGATILE_CONVERTER="1")
    url = routes(f"budgets/{name}")[route].replace("level=99", f"level={level}").replace("width=64", "height=256")
    resp = client.get(url)
    check_answer(resp, (503, "conversion_pending"))
    assert int(resp.headers["retry-after"]) > 0


@pytest.mark.parametrize("fmt", ["png", "jpeg"])  # rendered by libvips; passed through as stored
def test_an_object_overwritten_by_its_first_tenth_is_503_then_the_new_version(client, s3, images, fmt):
    """The issue's case: a SubIFD pyramid replaced by its own first 10 % between requests.
    The next new tile is 503 source_changed (was 415 "vips2png: unable to write to target"),
    nothing of the old version is served any more (info.json was answered from its cache), and
    the next good image is served."""
    key, image_id = f"{PREFIX}/budgets/overwritten-{fmt}.tif", f"budgets/overwritten-{fmt}.tif"
    data = images["pyr.tif"].read_bytes()
    s3.bucket_client.put_object(Bucket=BUCKET, Key=key, Body=data)
    q = quote(image_id, safe="")
    assert client.get(f"/iiif/3/{quote(image_id, safe='').replace('.', '%2E')}/info.json").status_code == 200
    assert client.get(f"/api/v1/image/tile?path={q}&level=5&x=0&y=0&format={fmt}").status_code == 200
    s3.bucket_client.put_object(Bucket=BUCKET, Key=key, Body=data[: len(data) // 10])
    s3.proxy.reset()
    resp = client.get(f"/api/v1/image/tile?path={q}&level=5&x=3&y=4&format={fmt}")
    check_answer(resp, E503)
    assert [r.status for r in s3.proxy.gets(image_id)] == [412]  # nothing read of the new version
    info = client.get(f"/iiif/3/{quote(image_id, safe='').replace('.', '%2E')}/info.json")
    check_answer(info, E415)  # the new version, a truncated file, not the old one's cache
    assert client.get(GOOD_TILE).status_code == 200


# -- the fixes the added formats' cases asked for ------------------------------------------
@pytest.mark.parametrize("past_eof", [False, True])
def test_a_mask_whose_tiles_lie_past_the_end_is_refused_not_a_transparent_tile(client, s3, past_eof):
    """libtiff read the mask's missing tiles as zeros: 200 and a wholly transparent tile.
    The mask's stored tiles are now checked as the level's are; a good mask still serves."""
    import pyvips

    name = f"budgets/mask-{'past-eof' if past_eof else 'good'}.tif"
    s3.bucket_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}", Body=hostile.cog_masks(past_eof=past_eof))
    for level in (0, 1):
        resp = client.get(f"/api/v1/image/tile?path={quote(name, safe='')}&level={level}&x=0&y=0&format=png")
        if past_eof:
            check_answer(resp, E415)
            assert "mask" in resp.json()["error"]["message"]
        else:
            check_answer(resp, OK)
            tile = pyvips.Image.new_from_buffer(resp.content, "")
            assert tile.bands == 2 and tile[1].min() == 255  # the mask, all set: opaque


def test_gdal_metadata_with_a_dtd_is_ignored_unparsed():
    """No entity is ever declared, let alone expanded: a document with a DTD is not parsed
    (GDAL writes none), even when the rest of it is valid statistics."""
    from gigatile.formats import gdal_metadata
    from gigatile.formats.tiff import TiffFile

    class Bytes:
        def __init__(self, data: bytes):
            self.data = data

        def read(self, offset: int, length: int, exact: bool = False) -> bytes:
            return self.data[offset : offset + length]

    def bands(xml: bytes):
        data = hostile.tiff_typed(b"\x01\x00", 16, 1, extra={42112: hostile.gdal_text(xml)})
        tiff = TiffFile(Bytes(data), len(data))
        return gdal_metadata.read(tiff, tiff.pages[0]).bands

    statistics = hostile.gdal_statistics("10", "5000")
    assert bands(statistics)[0].range == (10.0, 5000.0)
    assert bands(b'<!DOCTYPE GDALMetadata [<!ENTITY x "10">]>' + statistics) == {}
    assert bands(hostile.BILLION_LAUGHS) == {}
