"""Every common viewer, taken from npm (build/viewers, `make viewers`) and wired as the
snippets in docs/viewers.md show, opens a gigatile image in Debian's headless Chromium,
cross-origin, and shows the right pixels at full resolution.

The page is served from one loopback port, gigatile from another (so CORS is exercised);
gigatile reads the image from the S3 server. Each viewer is opened, zoomed out, zoomed
in, then moved to full resolution (1 screen pixel = 1 image pixel) with the image's
bottom-right corner inside its drawing area; every response from gigatile must be 200.
The screenshot of the drawing area is compared with the same region of the source file
read by Pillow (tests/picture_match.py).
"""

from __future__ import annotations

import http.server
import io
import itertools
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests import picture_match
from tests.conftest import BUCKET, PREFIX, ROOT

VIEWERS_DIR = ROOT / "build" / "viewers"
DOC = ROOT / "docs" / "viewers.md"
# Odd (not a power of two, not a multiple of the tile size), 20.7 Mpx: in the range where
# misaligned `sizes` once sent OpenSeadragon 5 and Mirador to a level that does not exist.
WIDTH, HEIGHT = 6001, 3457
IMAGE_ID = "scans/odd.tif"
PLACEHOLDER_BASE = "https://tiles.example.org"
PLACEHOLDER_ID = "folder%2Fscan.tif"
IIIF3 = f"{PLACEHOLDER_BASE}/iiif/3/{PLACEHOLDER_ID}/info.json"


@dataclass(frozen=True)
class Viewer:
    """How the test drives one viewer: the docs snippet it runs (found by its viewer's
    package) and what to change in it, the element that is the drawing surface, the CSS that
    hides the viewer's own controls (they overlay the picture), and JavaScript for its public
    API: `opened`, `zoom_out`, `zoom_in`, and `place(x, y, w, h)` showing image region
    (x, y, w, h) on the w × h drawing surface at one screen pixel per image pixel."""

    snippet: str
    replace: dict[str, str]
    surface: str
    hide: str  # CSS, or "overlays": hide whatever overlaps the surface (HIDE_OVERLAYS)
    opened: str
    zoom_out: str
    zoom_in: str
    place: str
    # Console errors the viewer's own bundle logs on any page (not about requests or pixels).
    known_errors: tuple[str, ...] = ()
    # OpenSeadragon's canvas drawer draws each tile one pixel larger (picture_match.seams_overdrawn).
    seams_overdrawn: bool = False
    # Given a collection, the label of the item a user picks in the viewer's list of it.
    choose: str | None = None


# Hides every element drawn over the surface that is neither inside it nor around it
# (OpenSeadragon's buttons, Mirador's zoom bar and panels): marked, and hidden by a rule.
HIDE_OVERLAYS = """(selector) => {
  const surface = document.querySelector(selector);
  const r = surface.getBoundingClientRect();
  for (const el of document.querySelectorAll("#viewer *")) {
    if (el === surface || el.contains(surface) || surface.contains(el)) continue;
    const b = el.getBoundingClientRect();
    if (b.right > r.left && b.left < r.right && b.bottom > r.top && b.top < r.bottom) el.dataset.overlay = "";
  }
}"""

OSD = dict(
    snippet="openseadragon-6.1.1",
    surface=".openseadragon-canvas",
    hide="overlays",
    opened="viewer.world.getItemCount() > 0",
    zoom_out="viewer.viewport.zoomTo(viewer.viewport.getMinZoom(), null, true)",
    zoom_in="viewer.viewport.zoomTo(viewer.viewport.getHomeZoom() * 2, null, true)",
    place="([x, y, w, h]) => viewer.viewport.fitBounds(viewer.viewport.imageToViewportRectangle(x, y, w, h), true)",
)
# Mirador's state, driven through its own actions (`Mirador.actions` in 3, flattened into
# `Mirador` in 4); its OpenSeadragon's world units are the canvas's, which gigatile makes the
# image's pixels. The view: {x, y} its centre, zoom 1 / (width shown, in image pixels).
MIRADOR_VIEW = (
    "const id = Object.keys(mirador.store.getState().windows)[0];"
    " const view = (v) => mirador.store.dispatch((Mirador.actions || Mirador).updateViewport(id, v));"
)
MIRADOR = dict(
    snippet="mirador-4.0.0",
    surface=".openseadragon-canvas",
    hide="overlays",
    opened="(() => { const s = mirador.store.getState(); const id = Object.keys(s.windows)[0];"
    " return !!(id && s.viewers[id]); })()",
    zoom_out=f"(() => {{ {MIRADOR_VIEW} view({{ x: {WIDTH / 2}, y: {HEIGHT / 2}, zoom: 1 / {WIDTH * 2} }}); }})()",
    zoom_in=f"(() => {{ {MIRADOR_VIEW} view({{ x: {WIDTH / 3}, y: {HEIGHT / 3}, zoom: 1 / 1600 }}); }})()",
    # Mirador applies the zoom and the pan of one update about the old centre (4.0.0 ends up
    # hundreds of pixels off), so: zoom first, let OpenSeadragon's animation end, then pan.
    place=f"async ([x, y, w, h]) => {{ {MIRADOR_VIEW}"
    " const now = mirador.store.getState().viewers[id]; view({ x: now.x, y: now.y, zoom: 1 / w });"
    " await new Promise((done) => setTimeout(done, 1500)); view({ x: x + w / 2, y: y + h / 2, zoom: 1 / w }); }",
)
LEAFLET = dict(
    snippet="leaflet-iiif-3.0.0",
    surface="#viewer",
    hide=".leaflet-control-container { display: none }",
    opened="layer.maxNativeZoom !== undefined && map._loaded === true && !layer.isLoading()",
    zoom_out="map.setZoom(map.getMinZoom(), { animate: false })",
    zoom_in="map.setZoom(layer.maxNativeZoom - 1, { animate: false })",
    place="([x, y, w, h]) => map.setView(map.unproject([x + w / 2, y + h / 2], layer.maxNativeZoom),"
    " layer.maxNativeZoom, { animate: false })",
)
OPENLAYERS = dict(
    snippet="ol-10.11.0",
    surface="#viewer",
    hide=".ol-overlaycontainer-stopevent { display: none }",
    opened="layer.getSource() !== null && map.getView().getResolution() !== undefined",
    zoom_out="map.getView().setZoom(map.getView().getMinZoom())",
    zoom_in="map.getView().setZoom(map.getView().getMaxZoom() - 1)",
    place="([x, y, w, h]) => { const view = map.getView(); view.setResolution(1);"
    " view.setCenter([x + w / 2, -(y + h / 2)]); }",
)

IIIF2 = {IIIF3: f"{PLACEHOLDER_BASE}/iiif/2/{PLACEHOLDER_ID}/info.json"}
DZI = {IIIF3: f"{PLACEHOLDER_BASE}/dzi/{PLACEHOLDER_ID}.dzi"}
OSD5 = {"openseadragon-6.1.1": "openseadragon-5.0.1"}
VIEWERS = {
    "openseadragon-6.1.1-dzi": Viewer(**OSD, replace=DZI),
    "openseadragon-6.1.1-iiif3": Viewer(**OSD, replace={}),
    "openseadragon-6.1.1-iiif2": Viewer(**OSD, replace=IIIF2),
    "openseadragon-5.0.1-dzi": Viewer(**OSD, replace={**OSD5, **DZI}),
    "openseadragon-5.0.1-iiif3": Viewer(**OSD, replace=OSD5),
    "openseadragon-5.0.1-iiif2": Viewer(**OSD, replace={**OSD5, **IIIF2}),
    "mirador-4.0.0-manifest3": Viewer(
        **MIRADOR,
        replace={},
        known_errors=("Accessing element.ref was removed in React 19",),
        seams_overdrawn=True,
    ),
    "mirador-3.4.3-manifest2": Viewer(
        **MIRADOR, replace={"mirador-4.0.0": "mirador-3.4.3", "/iiif/3/": "/iiif/2/"}, seams_overdrawn=True
    ),
    # gigatile's collection of the image's folder: Mirador lists it, the image is picked.
    "mirador-4.0.0-collection3": Viewer(
        **MIRADOR,
        replace={f"{PLACEHOLDER_ID}/manifest.json": f"{IMAGE_ID.split('/')[0]}/collection.json"},
        known_errors=("Accessing element.ref was removed in React 19",),
        seams_overdrawn=True,
        choose=IMAGE_ID.rsplit("/", 1)[-1],
    ),
    "leaflet-iiif-3.0.0-iiif3": Viewer(**LEAFLET, replace={}),
    "leaflet-iiif-3.0.0-iiif2": Viewer(**LEAFLET, replace=IIIF2),
    "ol-10.11.0-iiif3": Viewer(**OPENLAYERS, replace={}),
    "ol-10.11.0-iiif2": Viewer(**OPENLAYERS, replace=IIIF2),
}


def snippets() -> dict[str, str]:
    """docs/viewers.md's HTML snippets, keyed by the package of their last script (the
    viewer's; Leaflet-IIIF's first script is Leaflet)."""
    found = {}
    for block in re.findall(r"```html\n(.*?)```", DOC.read_text(), re.S):
        packages = re.findall(r'<script src="/viewers/([^/]+)/', block)
        assert packages, block
        found.setdefault(packages[-1], block)
    return found


def page_html(viewer: Viewer, tiler: str, width: int, height: int) -> str:
    body = snippets()[viewer.snippet]
    for old, new in viewer.replace.items():
        assert old in body, (old, viewer.snippet)
        body = body.replace(old, new)
    body = body.replace(PLACEHOLDER_BASE, tiler).replace(PLACEHOLDER_ID, urllib.parse.quote(IMAGE_ID, safe=""))
    # The test's own frame around the snippet: a fixed size, no margins, no control overlays.
    return (
        "<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        f"<style>body {{ margin: 0; background: #fff }} #viewer {{ width: {width}px !important;"
        f" height: {height}px !important }} [data-overlay] {{ visibility: hidden !important }}"
        f" {'' if viewer.hide == 'overlays' else viewer.hide}</style></head><body>\n{body}</body></html>"
    )


@pytest.fixture(scope="module")
def odd_image(s3, tmp_path_factory) -> Path:
    """A 6001 × 3457 tiled pyramidal JPEG TIFF (quality 95, no chroma subsampling: gigatile
    passes its full-resolution tiles through as stored) whose picture has structure at every
    pixel and differs everywhere: a red gradient across, a green one down, blue diagonal
    stripes, and per-pixel noise."""
    from gigatile.vips import vips

    pyvips = vips()
    x, y = pyvips.Image.xyz(WIDTH, HEIGHT).bandsplit()
    stripes = ((x + y * 2) % 97) * (255 / 97)
    picture = (x * (255 / WIDTH)).bandjoin([y * (255 / HEIGHT), stripes]) * 0.7 + 38
    noise = pyvips.Image.gaussnoise(WIDTH, HEIGHT, sigma=16, mean=0, seed=11)
    picture = (picture + noise).cast("uchar").copy(interpretation="srgb")
    path = tmp_path_factory.mktemp("viewers") / "odd.tif"
    picture.tiffsave(
        str(path), tile=True, tile_width=256, tile_height=256, pyramid=True, subifd=True, compression="jpeg", Q=95
    )
    s3.bucket_client.upload_file(str(path), BUCKET, f"{PREFIX}/{IMAGE_ID}")
    return path


@pytest.fixture(scope="module")
def source_pixels(odd_image) -> np.ndarray:
    """The full-resolution pixels as Pillow (its own libtiff and libjpeg) reads them."""
    from PIL import Image

    with Image.open(odd_image) as image:  # the first directory: full resolution
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    return pixels.astype(np.int16)


@pytest.fixture(scope="module")
def tiler(s3, odd_image):
    """gigatile under uvicorn for the whole module (not per test: a server per viewer would
    cost an open of the image each time)."""
    from infra.local_stack import mount_viewers, start_server

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
        env.setenv("GIGATILE_SOURCE", f"s3://{BUCKET}/{PREFIX}")
        url, server = start_server()
        mount_viewers(server.config.app)  # for the viewer page's switch
        yield url
        server.should_exit = True


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The pages' own origin: a static server on another loopback port, with the viewers'
    npm packages at /viewers/. Yields (base URL, folder to write pages into)."""
    if not (VIEWERS_DIR / ".installed").exists():
        pytest.fail("build/viewers is missing: `make viewers` (a prerequisite of `make test`) installs it")
    folder = tmp_path_factory.mktemp("site")
    (folder / "viewers").symlink_to(VIEWERS_DIR, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


class Traffic:
    """Every request of the page to gigatile: responses, failures, those in flight."""

    def __init__(self, page, origin: str):
        self.origin = origin
        self.responses: list[tuple[str, int]] = []
        self.failed: list[str] = []
        self.in_flight = 0
        self.last_change = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: self.responses.append((r.url, r.status)) if self._ours(r) else None)

    def _ours(self, request_or_response) -> bool:
        return request_or_response.url.startswith(self.origin)

    def _started(self, request) -> None:
        if self._ours(request):
            self.in_flight += 1
            self.last_change = time.monotonic()

    def _ended(self, request) -> None:
        if self._ours(request):
            self.in_flight -= 1
            self.last_change = time.monotonic()

    def _failed(self, request) -> None:
        if self._ours(request):
            self.failed.append(f"{request.url}: {request.failure}")
        self._ended(request)

    def tiles(self) -> list[str]:
        return [url for url, _ in self.responses if not url.endswith((".json", ".dzi"))]


def settle(page, traffic: Traffic, surface=None, timeout: float = 30) -> bytes:
    """Wait until no request to gigatile has been in flight for 0.6 s and, given the drawing
    surface, two screenshots of it 0.3 s apart are the same (fades and animations are over)."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        page.wait_for_timeout(300)
        if traffic.in_flight or time.monotonic() - traffic.last_change < 0.6:
            continue
        if surface is None:
            return b""
        shot = page.screenshot(clip=surface.bounding_box())
        if shot == previous:
            return shot
        previous = shot
    raise AssertionError(f"the viewer did not settle in {timeout} s ({traffic.in_flight} requests in flight)")


def pick_from_collection(page, label: str) -> None:
    """Click `label` in Mirador's list of a collection's manifests. Mirador opens that list by
    itself, though not always (then its window offers "Show collection")."""
    item = page.get_by_role("menuitem", name=label, exact=True)
    button = page.get_by_role("button", name="Show collection")
    item.or_(button).first.wait_for(timeout=30_000)
    if not item.is_visible():
        button.click()
    item.click(timeout=30_000)


@pytest.mark.parametrize("name", list(VIEWERS))
def test_viewer_shows_the_source_pixels(name, browser, site, tiler, source_pixels, tmp_path):
    viewer = VIEWERS[name]
    base, folder = site
    context = browser.new_context(viewport={"width": 900, "height": 700}, device_scale_factor=1)
    page = context.new_page()
    traffic = Traffic(page, tiler)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    (folder / f"{name}.html").write_text(page_html(viewer, tiler, 800, 600))
    try:
        page.goto(f"{base}/{name}.html")
        if viewer.choose:
            pick_from_collection(page, viewer.choose)
        page.wait_for_function(viewer.opened, timeout=30_000)
        surface = page.locator(viewer.surface).first
        timings = [time.monotonic()]
        settle(page, traffic)
        timings.append(time.monotonic())
        stages = {"open": len(traffic.tiles())}
        for stage in ("zoom_out", "zoom_in"):
            page.evaluate(getattr(viewer, stage))
            settle(page, traffic)
            timings.append(time.monotonic())
            stages[stage] = len(traffic.tiles()) - sum(stages.values())

        if viewer.hide == "overlays":
            page.evaluate(f"({HIDE_OVERLAYS})({viewer.surface!r})")
        box = surface.bounding_box()
        assert box, viewer.surface
        w, h = int(box["width"]), int(box["height"])
        shown = (round(0.75 * w), round(0.75 * h))  # the image's corner, 3/4 across and down
        x0, y0 = WIDTH - shown[0], HEIGHT - shown[1]
        page.evaluate(f"({viewer.place})([{x0}, {y0}, {w}, {h}])")
        png = settle(page, traffic, surface)
        timings.append(time.monotonic())
        stages["full_resolution"] = len(traffic.tiles()) - sum(stages.values())
    except Exception:
        page.screenshot(path=str(tmp_path / f"{name}.png"))  # kept for a look
        raise

    from PIL import Image

    (tmp_path / f"{name}-surface.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert shot.shape[:2] == (h, w), (shot.shape, w, h)
    expected = picture_match.seams_overdrawn(source_pixels, x0, y0) if viewer.seams_overdrawn else source_pixels
    result = picture_match.match(shot, expected, x0, y0, shown)
    seconds = [round(b - a, 1) for a, b in itertools.pairwise(timings)]
    # pytest -s shows it: tiles and seconds per stage (open, zoom out, zoom in, full resolution)
    print(f"\n{name}: tiles {stages} in {seconds} s (total {len(traffic.tiles())}); {result}")
    bad = [(url, status) for url, status in traffic.responses if status != 200]
    assert bad == [] and traffic.failed == [], (bad, traffic.failed)
    assert [e for e in console_errors if not e.startswith(viewer.known_errors)] == []
    assert stages["full_resolution"] > 0, "no full-resolution tile was requested"
    if viewer.choose:  # the image was reached through the collection
        assert any(url.endswith("/collection.json") for url, _ in traffic.responses), traffic.responses[:3]
    assert result.problems() == [], f"{result}; screenshot in {tmp_path}"
    context.close()


def _synthetic(width: int = 1501, height: int = 1101) -> np.ndarray:
    """A small picture of the same kind as the odd image: gradients, stripes, noise."""
    y, x = np.mgrid[0:height, 0:width]
    picture = np.stack([x * 255 / width, y * 255 / height, (x + 2 * y) % 97 * 255 / 97], axis=2) * 0.7 + 38
    noise = np.random.default_rng(11).normal(0, 16, picture.shape)
    return np.clip(picture + noise, 0, 255).astype(np.int16)


def _as_jpeg(pixels: np.ndarray) -> np.ndarray:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, "JPEG", quality=90, subsampling=0)
    return np.asarray(Image.open(out)).astype(np.int16)


def _faulty(shot: np.ndarray, source: np.ndarray, x0: int, y0: int, fault: str) -> np.ndarray:
    """`shot` with one of the faults a tiler or a viewer can show, on the tile whose
    top-left corner is image pixel (1024, 768) (screen (tx, ty))."""
    shot = shot.copy()
    tx, ty = 1024 - x0, 768 - y0
    tile = (slice(ty, ty + 256), slice(tx, tx + 256))
    if fault == "black tile":
        shot[tile] = 0
    elif fault == "missing tile":
        shot[tile] = shot[-1, -1]
    elif fault == "tile shifted 2 px":
        shot[tile] = source[768 + 2 : 768 + 258, 1024 + 2 : 1024 + 258]
    elif fault == "tile from the level below, stretched":
        low = source[768 : 768 + 256, 1024 : 1024 + 256].reshape(128, 2, 128, 2, 3).mean(axis=(1, 3))
        shot[tile] = np.repeat(np.repeat(low, 2, axis=0), 2, axis=1)
    elif fault == "edge tile drawn 256 px wide":
        width = source.shape[1] - 1280  # the last column of tiles, 221 px wide
        from PIL import Image

        edge = source[768 : 768 + 256, 1280:].astype(np.uint8)
        grown = np.asarray(Image.fromarray(edge).resize((256, 256), Image.BILINEAR)).astype(np.int16)
        shot[ty : ty + 256, 1280 - x0 : 1280 - x0 + 256] = grown
        assert width < 256
    elif fault == "picture 1 px off":
        shot = np.roll(shot, 1, axis=1)
    elif fault == "picture 3 px off":
        shot = np.roll(shot, (3, 3), axis=(0, 1))
    else:
        assert fault == "none"
    return shot


@pytest.mark.parametrize(
    "fault",
    [
        "none",
        "black tile",
        "missing tile",
        "tile shifted 2 px",
        "tile from the level below, stretched",
        "edge tile drawn 256 px wide",
        "picture 1 px off",
        "picture 3 px off",
    ],
)
def test_picture_match_fails_a_wrong_tile(fault):
    """The comparison discriminates: the right picture (JPEG-coded at quality 90, 4:4:4,
    coarser than the viewers' tiles: MAE 6.4 here against their 1.7) passes,
    and each fault a viewer or tiler could show fails it."""
    source = _synthetic()
    height, width = source.shape[:2]
    shown = (round(0.75 * 800), round(0.75 * 600))
    x0, y0 = width - shown[0], height - shown[1]
    shot = np.full((600, 800, 3), 255, np.int16)  # the page's background beyond the corner
    shot[: shown[1], : shown[0]] = _as_jpeg(source[y0:, x0:])
    result = picture_match.match(_faulty(shot, source, x0, y0, fault), source, x0, y0, shown)
    print(f"{fault}: {result}")
    assert (result.problems() == []) == (fault == "none"), f"{fault}: {result}"


SWITCH = ["osd-iiif2", "osd5-iiif3", "mirador", "mirador-collection", "mirador3", "leaflet"]
SWITCH += ["openlayers", "openlayers-iiif2"]


@pytest.mark.parametrize("choice", SWITCH)
def test_the_viewer_page_switches_viewers(choice, browser, site, tiler):
    """gigatile's own page (/viewer/ID?viewer=…) opens the image in each viewer of its switch,
    from the packages the local server mounts at /viewers/ (over the folder's collection,
    the image is picked from Mirador's list)."""
    page = browser.new_page(viewport={"width": 900, "height": 700})
    tiles = []
    page.on("response", lambda r: tiles.append(r.status) if "/default.jpg" in r.url else None)
    page.goto(f"{tiler}/viewer/{urllib.parse.quote(IMAGE_ID, safe='')}?viewer={choice}")
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "open", page.inner_text("#info")
    if choice == "mirador-collection":
        pick_from_collection(page, IMAGE_ID.rsplit("/", 1)[-1])
    deadline = time.monotonic() + 30
    while not tiles and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert tiles and set(tiles) == {200}, tiles
    page.close()


def test_the_viewer_page_says_when_a_viewer_is_not_served(live_server, browser):
    """Where /viewers/ is not served (a deployed function), the switch says so."""
    page = browser.new_page()
    page.goto(f"{live_server}/viewer/pyr.tif?viewer=mirador")
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=30_000)
    assert page.evaluate("document.body.dataset.state") == "unavailable"
    assert "Mirador is not available on this deployment" in page.inner_text("#info")
    page.close()
