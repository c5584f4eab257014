"""IIIF Image API 3.0 and 2.1, compliance level 2: /iiif/3/ID/info.json and
/iiif/3/ID/REGION/SIZE/ROTATION/QUALITY.FORMAT (https://iiif.io/api/image/3.0/), the same
under /iiif/2/ (https://iiif.io/api/image/2.1/). The versions differ in info.json's shape,
in size syntax (3.0 needs `^` to upscale and says `max`; 2.1 upscales freely and also says
`full`) and in their context and profile URIs; one router per version, one code path.

Region and size pick a scale; the render is the same plan as every tile (the cheapest
pyramid level, Lanczos3), so a IIIF tile and the DeepZoom tile it equals share caches.

A page other than the first (a GIF frame, a page of a multi-page TIFF) is its own image
service: `/iiif/3/page:N/ID/…`. Viewers build every URL from info.json's `id`, which keeps
that segment, as it keeps a `t:TOKEN` segment before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from ..config import Settings
from ..errors import InvalidParameter, TooLarge
from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.responses import Body, Cache, respond
from ..http.signing import require_access, split_path_token
from ..imaging.geometry import grid_box
from ..imaging.plan import Plan
from ..imaging.source_image import SourceImage
from ..observability import record_tile
from ..service import Tiler, tile_etag
from .manifests import MAX_CANVASES, Page, manifest2, manifest3
from .params import tiler_of

TILE_SIZE = 256
EXTRA_FORMATS = ["webp", "avif"]
EXTRA_QUALITIES = ["color", "gray", "bitonal"]
NUMBER = r"\d+(?:\.\d+)?"
REQUEST = re.compile(
    r"^(?P<id>.+)/(?P<region>[^/]+)/(?P<size>[^/]+)/(?P<rotation>[^/]+)/(?P<quality>[^/.]+)\.(?P<fmt>[^/.]+)$"
)
REGION_PX = re.compile(r"^(\d+),(\d+),(\d+),(\d+)$")
REGION_PCT = re.compile(rf"^pct:({NUMBER}),({NUMBER}),({NUMBER}),({NUMBER})$")
SIZE_WH = re.compile(r"^(!)?(\d*),(\d*)$")
SIZE_PCT = re.compile(rf"^pct:({NUMBER})$")
ROTATION = re.compile(rf"^(!)?({NUMBER})$")
QUALITIES = ("default", "color", "gray", "bitonal")
PAGE_SEGMENT = re.compile(r"^page:(\d{1,5})/(.+)$")


@dataclass(frozen=True)
class Limits:
    max_width: int
    max_height: int
    max_area: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_output_side, settings.max_output_side, settings.max_output_pixels)

    def allows(self, w: int, h: int) -> bool:
        return w <= self.max_width and h <= self.max_height and w * h <= self.max_area

    def fit(self, w: float, h: float) -> tuple[int, int]:
        """(w, h) scaled down, keeping its aspect, until it is within every limit."""
        k = min(1.0, self.max_width / w, self.max_height / h, math.sqrt(self.max_area / (w * h)))
        return max(1, math.floor(w * k)), max(1, math.floor(h * k))


def parse_region(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    if text == "full":
        return 0, 0, width, height
    if text == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    if m := REGION_PX.match(text):
        x, y, w, h = map(int, m.groups())
    elif m := REGION_PCT.match(text):
        px, py, pw, ph = map(float, m.groups())
        x, y = round(px * width / 100), round(py * height / 100)
        w, h = round(pw * width / 100), round(ph * height / 100)
    else:
        raise InvalidParameter(f"region must be full, square, x,y,w,h or pct:x,y,w,h, got {text!r}")
    if w <= 0 or h <= 0:
        raise InvalidParameter("region width and height must be above zero")
    if x >= width or y >= height:
        raise InvalidParameter(f"region {text} lies outside the {width}×{height} image")
    return x, y, min(w, width - x), min(h, height - y)


def parse_size(text: str, rw: int, rh: int, limits: Limits, version: int = 3) -> tuple[int, int]:
    """Output size of a rw × rh region. 3.0: `^` allows upscaling; 2.1: upscaling needs no
    marker and `full` is the region's own size."""
    upscale = version == 2 or text.startswith("^")
    spec = text if version == 2 else text.removeprefix("^")
    if spec == "max":
        return limits.fit(rw, rh)
    if spec == "full" and version == 2:
        spec = f"{rw},{rh}"
    if m := SIZE_PCT.match(spec):
        k = float(m.group(1)) / 100
        w, h = round(rw * k), round(rh * k)
    elif m := SIZE_WH.match(spec):
        confined, ws, hs = m.groups()
        if not ws and not hs or confined and not (ws and hs):
            raise InvalidParameter(f"size {text!r} needs a width, a height, or both")
        if confined:
            k = min(int(ws) / rw, int(hs) / rh)
            w, h = round(rw * k), round(rh * k)
        else:
            # A computed side is at least 1 px: `512,` of a 1 px high row at the image's edge.
            w = int(ws) if ws else max(1, round(rw * int(hs) / rh))
            h = int(hs) if hs else max(1, round(rh * int(ws) / rw))
    else:
        keywords = "full, max" if version == 2 else "max"
        marker = "" if version == 2 else " (with ^ to upscale)"
        raise InvalidParameter(f"size must be {keywords}, w,, ,h, pct:n, w,h or !w,h{marker}, got {text!r}")
    if w <= 0 or h <= 0:
        raise InvalidParameter(f"size {text!r} gives an empty image")
    if not upscale and (w > rw or h > rh):
        raise InvalidParameter(f"size {text!r} would upscale the {rw}×{rh} region: use ^{spec}")
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_area:
        raise TooLarge(
            f"{w}×{h} is over the limits (maxWidth {limits.max_width}, maxHeight {limits.max_height}, "
            f"maxArea {limits.max_area})"
        )
    return w, h


def parse_rotation(text: str) -> tuple[bool, float]:
    m = ROTATION.match(text)
    if not m or not 0 <= float(m.group(2)) <= 360:
        raise InvalidParameter(f"rotation must be a number of degrees 0–360, optionally after !, got {text!r}")
    return bool(m.group(1)), float(m.group(2)) % 360


def plan_for(region: str, size: str, rotation: str, quality: str, limits: Limits, version: int = 3):
    """Parse the four path parameters into a function from the source to a render Plan."""
    mirror, angle = parse_rotation(rotation)
    if quality not in QUALITIES:
        raise InvalidParameter(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")

    # `w,` and `,h` leave the other side to the server (grid_box).
    loose = "h" if re.fullmatch(r"\^?\d+,", size) else "w" if re.fullmatch(r"\^?,\d+", size) else ""

    def plan(src: SourceImage) -> Plan:
        rx, ry, rw, rh = parse_region(region, src.width, src.height)
        ow, oh = parse_size(size, rw, rh, limits, version)
        shown = "color" if quality == "default" else quality
        tile = grid_box(src.width, src.height, (rx, ry, rw, rh), (ow, oh), loose)
        if tile is not None and limits.allows(*tile[1]):  # a tile of the grid: as DeepZoom cuts it
            s, out = tile
            view = (math.ceil(src.width / s), math.ceil(src.height / s))
            return Plan(s, view, (rx // s, ry // s, *out), out, mirror, angle, shown)
        scale = min(rw / ow, rh / oh)
        view = (math.ceil(src.width / scale), math.ceil(src.height / scale))
        left, top = min(math.floor(rx / scale), view[0] - 1), min(math.floor(ry / scale), view[1] - 1)
        box = (left, top, max(1, min(round(rw / scale), view[0] - left)), max(1, min(round(rh / scale), view[1] - top)))
        return Plan(scale, view, box, (ow, oh), mirror, angle, shown)

    return plan


def public_base(request: Request, settings: Settings) -> str:
    """Where clients reach this service: configured, or as the proxy in front says, or as seen."""
    if settings.public_url:
        return settings.public_url
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{proto}://{host.split(',')[0].strip()}{request.scope.get('root_path', '')}"


def tiles_and_sizes(src: SourceImage, limits: Limits) -> tuple[list[dict], list[dict]]:
    longest = max(src.width, src.height)
    factors = [2**i for i in range(max(1, math.ceil(math.log2(longest / TILE_SIZE)) + 1))]
    # One size per scale factor, as viewers (OpenSeadragon 5, Mirador) pair them up to pick
    # a level: ceil(W/f) × ceil(H/f), smallest first, within the output limits.
    sizes = []
    for f in reversed(factors):
        w, h = math.ceil(src.width / f), math.ceil(src.height / f)
        if w * h <= limits.max_area and w <= limits.max_width and h <= limits.max_height:
            sizes.append({"width": w, "height": h})
    return [{"width": TILE_SIZE, "height": TILE_SIZE, "scaleFactors": factors}], sizes


def info3(src: SourceImage, service_id: str, limits: Limits) -> dict:
    tiles, sizes = tiles_and_sizes(src, limits)
    return {
        "@context": "http://iiif.io/api/image/3/context.json",
        "id": service_id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level2",
        "width": src.width,
        "height": src.height,
        "maxWidth": limits.max_width,
        "maxHeight": limits.max_height,
        "maxArea": limits.max_area,
        "tiles": tiles,
        "sizes": sizes,
        "extraFormats": EXTRA_FORMATS,
        "extraQualities": EXTRA_QUALITIES,
        "extraFeatures": ["mirroring", "rotationArbitrary", "sizeUpscaling", "profileLinkHeader"],
    }


def info2(src: SourceImage, service_id: str, limits: Limits) -> dict:
    tiles, sizes = tiles_and_sizes(src, limits)
    # Beyond level 2: what is really served (jsonldMediaType: the JSON-LD content type on
    # request; baseUriRedirect: the bare service URI answers 303).
    supports = ["mirroring", "rotationArbitrary", "sizeAboveFull", "regionSquare", "profileLinkHeader", "cors"]
    supports += ["jsonldMediaType", "baseUriRedirect"]
    return {
        "@context": "http://iiif.io/api/image/2/context.json",
        "@id": service_id,
        "protocol": "http://iiif.io/api/image",
        "width": src.width,
        "height": src.height,
        "profile": [
            "http://iiif.io/api/image/2/level2.json",
            {
                "formats": ["jpg", "png", *EXTRA_FORMATS],
                "qualities": ["default", *EXTRA_QUALITIES],
                "supports": supports,
                "maxWidth": limits.max_width,
                "maxHeight": limits.max_height,
                "maxArea": limits.max_area,
            },
        ],
        "tiles": tiles,
        "sizes": sizes,
    }


@dataclass(frozen=True)
class Version:
    number: int
    info: Callable[[SourceImage, str, Limits], dict]
    manifest: Callable[[str, str, list[Page]], dict]

    @property
    def context(self) -> str:
        return f"http://iiif.io/api/image/{self.number}/context.json"

    @property
    def profile_link(self) -> str:
        return f'<http://iiif.io/api/image/{self.number}/level2.json>;rel="profile"'

    @property
    def ld_json(self) -> str:
        return f'application/ld+json;profile="{self.context}"'


def make_router(version: Version) -> APIRouter:
    router = APIRouter(prefix=f"/iiif/{version.number}", tags=["iiif"])

    @router.get("/{path:path}", name=f"iiif{version.number}", summary=f"IIIF Image API {version.number}")
    @offload
    def iiif(request: Request, path: str) -> Response:
        tiler = tiler_of(request)
        settings = tiler.settings
        token, path = split_path_token(path) if settings.signing_keys else (None, path)
        page, path = split_page(path)
        if path.endswith("/info.json"):
            return info_response(request, tiler, version, path.removesuffix("/info.json"), page, token)
        if path.endswith("/manifest.json"):  # of the whole image, every page a canvas
            return manifest_response(request, tiler, version, path.removesuffix("/manifest.json"), token)
        m = REQUEST.match(path)
        if not m:
            # The bare service URI: the spec asks for a 303 to its info.json. (An id that itself
            # looks like ID/REGION/SIZE/ROTATION/QUALITY.FORMAT is read as an image request.)
            require_access(settings, request, path, token)
            tiler.version(path)  # 404 for an unknown image, 400 for a bad id
            service = service_uri(request, settings, version, path, page, token)
            return RedirectResponse(f"{service}/info.json", status_code=303, headers={"Cache-Control": "max-age=300"})

        image_id = m["id"]
        require_access(settings, request, image_id, token)
        fmt, negotiated = output_format(request, m["fmt"])
        plan = plan_for(m["region"], m["size"], m["rotation"], m["quality"], Limits.of(settings), version.number)
        source_version = tiler.version(image_id)
        params = (m["region"], m["size"], m["rotation"], m["quality"], fmt, page)
        etag = tile_etag(source_version, f"iiif{version.number}", *params)  # sizes read differently

        def make() -> Body:
            result = tiler.render(image_id, plan, fmt, None, page)
            record_tile(image_id, result, region=m["region"], size=m["size"], page=page)
            return Body(result.body, result.media_type)

        headers = {"Link": version.profile_link} | negotiated
        return respond(request, settings, Cache(etag, source_version), make, headers)

    return router


V3 = Version(3, info3, manifest3)
V2 = Version(2, info2, manifest2)
routers = [make_router(V3), make_router(V2)]


def split_page(path: str) -> tuple[int, str]:
    """`page:N/REST` → (N, REST); any other path → (0, path)."""
    m = PAGE_SEGMENT.match(path)
    return (int(m[1]), m[2]) if m else (0, path)


def service_uri(
    request: Request, settings: Settings, version: Version, image_id: str, page: int, token: str | None
) -> str:
    """The image's IIIF id; a path token and page stay in it, so that viewers send them with every tile."""
    signed = f"t:{token}/" if token else ""
    paged = f"page:{page}/" if page else ""
    return f"{public_base(request, settings)}/iiif/{version.number}/{signed}{paged}{quote(image_id, safe='')}"


def info_response(
    request: Request, tiler: Tiler, version: Version, image_id: str, page: int, token: str | None
) -> Response:
    settings = tiler.settings
    require_access(settings, request, image_id, token)
    source_version = tiler.version(image_id)
    service_id = service_uri(request, settings, version, image_id, page, token)
    cache = Cache(tile_etag(source_version, "info", service_id), source_version, max_age=settings.meta_max_age)
    ld = "application/ld+json" in request.headers.get("accept", "")
    media = version.ld_json if ld else "application/json"

    def make() -> Body:
        return Body(version.info(tiler.describe(image_id, page), service_id, Limits.of(settings)), media)

    headers = {"Vary": "Accept", "Link": version.profile_link}
    if not ld and version.number == 2:  # plain JSON: where its JSON-LD context is (2.1 §5)
        context = f'<{version.context}>;rel="http://www.w3.org/ns/json-ld#context";type="application/ld+json"'
        headers["Link"] = f"{headers['Link']}, {context}"
    return respond(request, settings, cache, make, headers)


def manifest_response(request: Request, tiler: Tiler, version: Version, image_id: str, token: str | None) -> Response:
    settings = tiler.settings
    require_access(settings, request, image_id, token)
    source_version = tiler.version(image_id)
    manifest_id = f"{service_uri(request, settings, version, image_id, 0, token)}/manifest.json"
    cache = Cache(tile_etag(source_version, "manifest", manifest_id), source_version, max_age=settings.meta_max_age)
    presentation = f"http://iiif.io/api/presentation/{version.number}/context.json"
    ld = "application/ld+json" in request.headers.get("accept", "")
    media = f'application/ld+json;profile="{presentation}"' if ld else "application/json"

    def make() -> Body:
        first = tiler.describe(image_id)
        pages = []
        for n in range(min(first.pages, MAX_CANVASES)):
            src = tiler.describe(image_id, n) if n else first
            pages.append(Page(service_uri(request, settings, version, image_id, n, token), src.width, src.height))
        return Body(version.manifest(manifest_id, image_id, pages), media)

    return respond(request, settings, cache, make, {"Vary": "Accept"})
