"""The bad-input matrix: every route (simple API, thumbnails, DeepZoom, IIIF) fed malformed parameters,
path attacks on the image id, and hostile or broken files. Each case states the status and
error code it must get; every answer must be short JSON (no traceback), and the next good
request on the same instance must still succeed. (The 28-case table of the first issue is
in test_http.py; docs/reliability.md counts both.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

import hostile_files as hostile
from conftest import BUCKET, PREFIX
from gigatile.vips import vips

FUZZ_CORPUS = Path(__file__).parent / "fuzz" / "corpus" / "images"

GOOD_TILE = "/api/v1/image/tile?path=pyr.tif&level=5&x=1&y=1"
E400, E403, E404, E413, E415 = (
    (400, "invalid_parameter"),
    (403, "forbidden"),
    (404, "image_not_found"),
    (413, "too_large"),
    (415, "unsupported_image"),
)
BAD_ID = (400, "invalid_image_id")
NO_TILE = (404, "tile_not_found")
NO_PAGE = (404, "page_not_found")
QUERY_ROUTES = ("meta", "tile", "thumbnail")  # the id is a query parameter


def routes(image_id: str) -> dict[str, str]:
    """The seven entry points for one image id (query ids encoded, path ids with %2F, and with
    %2E for dots so that the client does not resolve `..` segments before sending)."""
    q, p = quote(image_id, safe=""), quote(image_id, safe="").replace(".", "%2E")
    return {
        "meta": f"/api/v1/image/meta?path={q}",
        "tile": f"/api/v1/image/tile?path={q}&level=0&x=0&y=0",
        "thumbnail": f"/api/v1/image/thumbnail?path={q}&width=64",
        "dzi": f"/dzi/{p}.dzi",
        "dz-tile": f"/dzi/{p}_files/0/0_0.jpeg",
        "info": f"/iiif/3/{p}/info.json",
        "iiif": f"/iiif/3/{p}/full/64,/0/default.jpg",
    }


# -- image ids: (id, expected on every route) ---------------------------------------------
IDS = [
    ("../secret/hidden.jpg", BAD_ID),
    ("nested/../../secret/hidden.jpg", BAD_ID),
    ("nested/../pyr.tif", BAD_ID),
    ("./pyr.tif", BAD_ID),
    ("..", BAD_ID),
    ("/secret/hidden.jpg", BAD_ID),
    ("s3://other-bucket/pyr.tif", BAD_ID),
    ("nested\\..\\pyr.tif", BAD_ID),
    ("pyr.tif\x00.jpg", BAD_ID),
    ("pyr.tif\n", BAD_ID),
    ("a//pyr.tif", BAD_ID),
    ("x" * 1025, BAD_ID),
    # Literal names, never decoded twice nor normalised: just keys that do not exist.
    ("%2e%2e/secret/hidden.jpg", E404),
    ("%2e%2e%2fsecret%2fhidden.jpg", E404),
    ("\uff0e\uff0e/secret/hidden.jpg", E404),  # fullwidth full stops
    ("pyr\u2024tif", E404),  # one-dot leader
    ("secret/hidden.jpg", E404),  # exists only outside the prefix
    ("nope.tif", E404),
]
NO_ROUTE = (404, "not_found")  # a newline in a path matches no route at all


def _expected(image_id: str, route: str, expected: tuple) -> tuple:
    in_path = route not in QUERY_ROUTES
    return NO_ROUTE if in_path and "\n" in image_id else expected


ID_CASES = [
    pytest.param(url, _expected(image_id, route, expected), id=f"{route}:{image_id[:24]!r}")
    for image_id, expected in IDS
    for route, url in routes(image_id).items()
    # The simple API's own length limit answers first, as a parameter error.
    if not (len(image_id) > 1024 and route in QUERY_ROUTES)
] + [pytest.param(routes("x" * 1025)[r], E400, id=f"{r}:overlong") for r in QUERY_ROUTES]

# -- parameters, route by route: (url, expected) ------------------------------------------
T = "/api/v1/image/tile?path=pyr.tif"
TH = "/api/v1/image/thumbnail?path=photo.jpg"  # 2000 × 1500
PARAMS = [
    # simple API tile (pyr.tif: 3000 × 5000, max_level 5)
    *[(f"{T}&level={v}&x=1&y=1", E400) for v in ("-1", "abc", "1.5", "1e3", "", "0x10", "+-1")],
    *[(f"{T}&level=5&x={v}&y=1", E400) for v in ("-1", "abc", "2.5", "", "1e1", "½")],
    # Lenient integer parsing (pydantic): the same tile as level=5&x=2.
    (f"{T}&level=%205&x=2&y=1", (200, None)),
    (f"{T}&level=5&x=2.0&y=1", (200, None)),
    *[(f"{T}&level=5&x=1&y={v}", E400) for v in ("-1", "abc", "NaN", "inf", "")],
    (f"{T}&level=99999999999999999999999&x=1&y=1", NO_TILE),
    (f"{T}&level=6&x=0&y=0", NO_TILE),
    (f"{T}&level=4096&x=0&y=0", NO_TILE),
    (f"{T}&level=5&x=12&y=0", NO_TILE),
    (f"{T}&level=5&x=0&y=20", NO_TILE),
    (f"{T}&level=5&x=999999999&y=0", NO_TILE),
    (f"{T}&level=0&x=1&y=0", NO_TILE),
    *[(f"{T}&level=5&x=1&y=1&tile_size={v}", E400) for v in ("0", "-256", "63", "1025", "abc", "256.5", "")],
    *[(f"{T}&level=5&x=1&y=1&quality={v}", E400) for v in ("0", "101", "-1", "abc", "90.5", "")],
    *[(f"{T}&level=5&x=1&y=1&format={v}", E400) for v in ("gif", "bmp", "tiff", "jp2", "../x", "x" * 9, "")],
    (f"{T}&level=5&x=1&y=1&level=4", E400),  # repeated
    (f"{T}&level=5&x=1&y=1&x=2", E400),
    (f"{T}&level=5&x=1&y=1&format=png&format=jpeg", E400),
    ("/api/v1/image/tile?level=5&x=1&y=1", E400),  # no path
    ("/api/v1/image/tile?path=pyr.tif&x=1&y=1", E400),  # no level
    ("/api/v1/image/tile?path=pyr.tif&path=photo.jpg&level=0&x=0&y=0", E400),
    # pages: pyr.tif is one image (its pages are pyramid levels)
    *[(f"{T}&level=5&x=1&y=1&page={v}", E400) for v in ("-1", "abc", "1.5", "65536", "")],
    (f"{T}&level=5&x=1&y=1&page=1", NO_PAGE),
    (f"{T}&level=5&x=1&y=1&page=0&page=1", E400),
    ("/api/v1/image/meta?path=pyr.tif&page=1", NO_PAGE),
    ("/dzi/pyr.tif.dzi?page=1", NO_PAGE),
    ("/dzi/pyr.tif_files/13/0_0.jpeg?page=65535", NO_PAGE),
    ("/iiif/3/page:1/pyr.tif/info.json", NO_PAGE),
    ("/iiif/3/page:99999/pyr.tif/full/64,/0/default.jpg", NO_PAGE),
    ("/iiif/3/page:123456/pyr.tif/info.json", E404),  # not a page segment: part of the id
    ("/iiif/3/page:-1/pyr.tif/info.json", E404),
    # thumbnails
    (TH, E400),  # neither width nor height
    *[(f"{TH}&width={v}", E400) for v in ("0", "-1", "abc", "65536", "1.5", "")],
    *[(f"{TH}&height={v}", E400) for v in ("0", "abc", "1e3")],
    *[(f"{TH}&width=64&fit={v}", E400) for v in ("fill", "", "CONTAIN", "inside")],
    *[(f"{TH}&width=64&icc={v}", E400) for v in ("cmyk", "", "none")],
    *[(f"{TH}&width=64&format={v}", E400) for v in ("gif", "tiff", "")],
    (f"{TH}&width=64&width=65", E400),
    (f"{TH}&width=64&page=1", NO_PAGE),
    (f"{TH}&width=20000&height=20000", (200, None)),  # never enlarged: 2000 × 1500
    ("/api/v1/image/thumbnail?path=pyr.tif&width=12000&format=png", E413),  # 3000 × 5000 PNG: over 4.4 MB
    # simple API meta
    *[(f"/api/v1/image/meta?path=pyr.tif&tile_size={v}", E400) for v in ("0", "63", "1025", "abc", "")],
    ("/api/v1/image/meta", E400),
    ("/api/v1/image/meta?path=", E400),
    ("/api/v1/image/meta?path=pyr.tif&path=pyr.tif", E400),
    # DeepZoom (pyr.tif: level 13 is full size)
    ("/dzi/pyr.tif_files/14/0_0.jpeg", NO_TILE),
    ("/dzi/pyr.tif_files/13/12_0.jpeg", NO_TILE),
    ("/dzi/pyr.tif_files/13/0_20.jpeg", NO_TILE),
    ("/dzi/pyr.tif_files/9999/0_0.jpeg", NO_TILE),
    ("/dzi/pyr.tif_files/13/0_0.gif", E400),
    ("/dzi/pyr.tif_files/13/0_0.bmp", E400),
    ("/dzi/pyr.tif.dzi?format=gif", E400),
    ("/dzi/pyr.tif.dzi?tile_size=63", E400),
    ("/dzi/pyr.tif.dzi?overlap=3", E400),
    ("/dzi/pyr.tif.dzi?overlap=-1", E400),
    ("/dzi/pyr.tif_files/13/0_0.jpeg?quality=0", E400),
    ("/dzi/pyr.tif_files/13/0_0.jpeg?tile_size=2000", E400),
    ("/dzi/pyr.tif_files/13/0_0.jpeg?overlap=1&overlap=2", E400),
    # paths that are neither ID.dzi nor ID_files/LEVEL/COL_ROW.FORMAT
    ("/dzi/pyr.tif_files/13/a_b.jpeg", E400),
    ("/dzi/pyr.tif_files/13/0_.jpeg", E400),
    ("/dzi/pyr.tif_files/-1/0_0.jpeg", E400),
    ("/dzi/pyr.tif_files/13/0_0_0.jpeg", E400),
    ("/dzi/pyr.tif_files/13/0_0", E400),
    ("/dzi/pyr.tif", E400),
    ("/dzi/", E400),
    # IIIF image requests (pyr.tif is 3000 × 5000)
    *[
        (f"/iiif/3/pyr.tif/{region}/64,/0/default.jpg", E400)
        for region in ("-1,0,10,10", "0,0,0,10", "0,0,10,0", "a,b,c,d", "10,10", "pct:101,0,1,1", "pct:x,0,1,1")
    ],
    ("/iiif/3/pyr.tif/3000,0,10,10/64,/0/default.jpg", E400),  # outside the image
    *[
        (f"/iiif/3/pyr.tif/full/{size}/0/default.jpg", E400)
        for size in ("0,", ",0", "abc", "pct:0", "pct:-5", "!0,0", "-5,", "64,64,64", "w,h")
    ],
    ("/iiif/3/pyr.tif/full/99999999,/0/default.jpg", E400),
    ("/iiif/3/pyr.tif/full/pct:1000/0/default.jpg", E400),
    *[(f"/iiif/3/pyr.tif/full/64,/{rot}/default.jpg", E400) for rot in ("361", "-1", "abc", "!abc", "1e400", "nan")],
    *[(f"/iiif/3/pyr.tif/full/64,/0/{q}.jpg", E400) for q in ("best", "native", "colour")],
    # Not an image request (no quality): the whole path is read as an image id.
    ("/iiif/3/pyr.tif/full/64,/0/.jpg", E404),
    *[(f"/iiif/3/pyr.tif/full/64,/0/default.{f}", E400) for f in ("gif", "pdf", "jp2", "tif", "bmp")],
]


@pytest.fixture(scope="module")
def hostile_ids(s3, images):
    """Upload the hostile files next to the fixtures; return {name: id}."""
    pyvips = vips()
    tif, jpeg = images["pyr.tif"].read_bytes(), images["photo.jpg"].read_bytes()
    single = _single_level_tiff(pyvips, images["photo.jpg"])
    files = {
        "ifd-loop.tif": hostile.tiff_ifd_loop(single),
        "offsets-past-eof.tif": hostile.tiff_offsets_past_eof(single),
        "bomb.tif": hostile.tiff_header_claims(200_000, 200_000),
        "bomb.png": hostile.png_header_claims(200_000, 200_000),
        "bomb.jpg": hostile.jpeg_header_claims(jpeg, 65_000, 65_000),
        "image.svg": hostile.SVG,
        "doc.pdf": hostile.PDF,
        "archive.zip": hostile.zip_of(images["photo.jpg"]),
        "native.v": hostile.vips_native(pyvips),
        "single.tif": single,
        # Found by the image fuzzer: libvips opens it, gigatile's TIFF parse finds its SubIFD
        # array past the end of the file (it once escaped as a 500).
        "subifds-past-eof.tif": (FUZZ_CORPUS / "subifds-past-eof.tif").read_bytes(),
    }
    for name, source in (("pyr.tif", tif), ("photo.jpg", jpeg), ("alpha.png", None), ("small.webp", None)):
        data = source if source is not None else images[name].read_bytes()
        for cut in (16, 200, len(data) // 3, 2 * len(data) // 3, len(data) - 100):
            files[f"cut-{cut}-{name}"] = data[:cut]
    for name, data in files.items():
        s3.bucket_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/hostile/{name}", Body=data)
    return {name: f"hostile/{name}" for name in files}


def _single_level_tiff(pyvips, jpeg_path) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "single.tif"
        pyvips.Image.new_from_file(str(jpeg_path)).tiffsave(str(path), tile=True, compression="jpeg", Q=85)
        return path.read_bytes()


# -- hostile files: (name, route, expected) -------------------------------------------------
FILES = [
    *[(n, r, E415) for n in ("image.svg", "doc.pdf", "archive.zip", "native.v") for r in ("meta", "tile", "info")],
    *[(n, "thumbnail", E415) for n in ("image.svg", "doc.pdf", "archive.zip", "native.v")],
    *[(n, r, E413) for n in ("bomb.tif", "bomb.png") for r in ("meta", "tile", "thumbnail", "info", "iiif")],
    ("bomb.jpg", "thumbnail", E413),
    ("bomb.jpg", "meta", (200, None)),  # the header alone is fine: 65,000² is under the image limit…
    ("bomb.jpg", "tile", E413),  # …but no level of it decodes within the pixel budget
    ("bomb.jpg", "iiif", E413),
    ("offsets-past-eof.tif", "meta", (200, None)),  # the header is intact
    ("offsets-past-eof.tif", "tile", E415),  # the pixels are not there
    ("offsets-past-eof.tif", "iiif", E415),
    ("ifd-loop.tif", "tile", (200, None)),  # libtiff stops at the loop; page 0 is intact
    *[("subifds-past-eof.tif", r, E415) for r in ("meta", "tile", "thumbnail", "info", "iiif")],
]


def check_error(resp, expected):
    status, code = expected
    assert resp.status_code == status, resp.text[:300]
    if code is not None:
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["error"]["code"] == code
        assert len(resp.content) < 2000 and "Traceback" not in resp.text
    assert resp.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def app_client(s3):
    """One instance for the whole matrix, under uvicorn (Starlette's TestClient decodes
    percent-escapes in paths twice): the point is that it keeps serving."""
    import os

    import httpx

    from infra.local_stack import start_server

    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_S3", "GIGATILE_SOURCE")}
    os.environ.update(AWS_ENDPOINT_URL_S3=s3.proxy.endpoint, GIGATILE_SOURCE=f"s3://{BUCKET}/{PREFIX}")
    base, server = start_server()
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client
    server.should_exit = True
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def good_tile(app_client):
    resp = app_client.get(GOOD_TILE)
    assert resp.status_code == 200
    return resp.content


def still_serving(client, good_tile):
    resp = client.get(GOOD_TILE)
    assert resp.status_code == 200 and resp.content == good_tile


@pytest.mark.parametrize("url,expected", ID_CASES)
def test_image_id_attacks(app_client, good_tile, url, expected):
    check_error(app_client.get(url), expected)
    still_serving(app_client, good_tile)


@pytest.mark.parametrize("url,expected", [pytest.param(u, e, id=u[-60:]) for u, e in PARAMS])
def test_malformed_parameters(app_client, good_tile, url, expected):
    check_error(app_client.get(url), expected)
    still_serving(app_client, good_tile)


@pytest.mark.parametrize("name,route,expected", FILES, ids=[f"{n}:{r}" for n, r, _ in FILES])
def test_hostile_files(app_client, good_tile, hostile_ids, name, route, expected):
    check_error(app_client.get(routes(hostile_ids[name])[route]), expected)
    still_serving(app_client, good_tile)


TRUNCATED = [(n, c) for n in ("pyr.tif", "photo.jpg", "alpha.png", "small.webp") for c in range(5)]


@pytest.mark.parametrize("name,cut", TRUNCATED, ids=[f"{n}:cut{c}" for n, c in TRUNCATED])
def test_truncated_files_never_give_a_corrupt_tile(app_client, good_tile, hostile_ids, images, name, cut):
    """A truncated copy answers 415, or — where the bytes a tile needs are all there — the
    very tile the whole file gives. Never a grey or half tile."""
    size = len(images[name].read_bytes())
    cuts = (16, 200, size // 3, 2 * size // 3, size - 100)
    broken = hostile_ids[f"cut-{cuts[cut]}-{name}"]
    for tile in ("level=0&x=0&y=0", "level=3&x=1&y=2"):
        whole = app_client.get(f"/api/v1/image/tile?path={name}&{tile}")
        resp = app_client.get(f"/api/v1/image/tile?path={quote(broken, safe='')}&{tile}")
        if whole.status_code != 200:  # no such tile in this (smaller) image
            continue
        if resp.status_code == 200:
            assert resp.content == whole.content
        else:
            check_error(resp, E415)
    still_serving(app_client, good_tile)


def test_blocked_loaders_refuse_before_parsing(hostile_ids, tmp_path):
    """The serving process has every loader but the six image loaders blocked: libvips'
    own format, SVG (this libvips has librsvg) and PDF (it has no PDF loader) fail as
    blocked when called directly, before reading a byte."""
    pyvips = vips()
    files = {"vipsload": hostile.vips_native(pyvips), "svgload": hostile.SVG, "pdfload": hostile.PDF}
    present = 0
    for loader, data in files.items():
        if not pyvips.type_find("VipsForeignLoad", f"{loader}_source"):
            continue
        present += 1
        path = tmp_path / loader
        path.write_bytes(data)
        with pytest.raises(pyvips.Error, match="blocked"):
            pyvips.Operation.call(loader, str(path))
    assert present >= 2  # vipsload always, svgload in pyvips-binary


def test_matrix_has_over_200_cases():
    assert len(ID_CASES) + len(PARAMS) + len(FILES) + len(TRUNCATED) >= 200


def test_local_name_too_long_for_the_file_system_is_404(configure, tmp_path):
    # Found by schemathesis: a 1,000-character id (under the 1,024 limit) made open() fail
    # with ENAMETOOLONG, which was a 500.
    resp = configure(GIGATILE_SOURCE=tmp_path).get("/api/v1/image/meta", params={"path": "0" * 1000})
    check_error(resp, E404)
