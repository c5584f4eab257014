"""The simple JSON API: /api/v1/image/meta and /api/v1/image/tile (design note contract),
/api/v1/image/thumbnail (a whole page fitted into a box, upright, colour-managed) and
/api/v1/image/associated/NAME (a slide's label, macro or thumbnail, whole).

/api/v1/image/tile/STRETCH is a tile with a display stretch of its own (`bands:3,2,1;
range:0,3000`, protocols.params): a path segment, not a query key, because CloudFront's
cache key for this API is at its quota of query keys."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.responses import Body, Cache, image_size_headers, respond, tile_size_headers
from ..http.signing import require_access
from ..imaging.geometry import TileGrid
from ..imaging.thumbnail import Box, thumbnail_plan
from ..observability import record_tile
from ..service import tile_etag
from .params import STRETCH_HELP, Format, ImageId, Page, Quality, TileSize, parse_stretch, tiler_of

router = APIRouter(prefix="/api/v1/image", tags=["simple"])

Coordinate = Annotated[int, Query(ge=0)]
# A path segment, not a query key: CloudFront's cache key for this API is at its quota.
AssociatedName = Annotated[
    str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="an associated image's name, as in meta")
]
StretchSegment = Annotated[str, Path(min_length=1, max_length=300, description=STRETCH_HELP)]
Version = Annotated[str | None, Query(max_length=200, description="source version from meta")]
Side = Annotated[int | None, Query(ge=1, le=65535, description="box side in pixels (never enlarged)")]


@router.get("/meta")
@offload
def meta(request: Request, image_id: ImageId, tile_size: TileSize = 256, page: Page = 0):
    tiler = tiler_of(request)
    settings = tiler.settings
    require_access(settings, request, image_id)
    version = tiler.version(image_id)
    cache = Cache(tile_etag(version, "meta", tile_size, page), version, max_age=settings.meta_max_age)
    return respond(request, settings, cache, lambda: Body(tiler.meta(image_id, tile_size, page), "application/json"))


@router.get("/tile")
@offload
def tile(
    request: Request,
    image_id: ImageId,
    level: Coordinate,
    x: Coordinate,
    y: Coordinate,
    tile_size: TileSize = 256,
    quality: Quality = None,
    format: Format = "jpeg",
    page: Page = 0,
    v: Version = None,
):
    return _tile(request, image_id, level, x, y, tile_size, quality, format, page, v, None)


@router.get("/tile/{stretch}")
@offload
def stretched_tile(
    request: Request,
    stretch: StretchSegment,
    image_id: ImageId,
    level: Coordinate,
    x: Coordinate,
    y: Coordinate,
    tile_size: TileSize = 256,
    quality: Quality = None,
    format: Format = "jpeg",
    page: Page = 0,
    v: Version = None,
):
    """A tile with the display stretch the path names (non-8-bit data: bands and ranges)."""
    return _tile(request, image_id, level, x, y, tile_size, quality, format, page, v, stretch)


def _tile(request, image_id, level, x, y, tile_size, quality, format, page, v, stretch: str | None):
    tiler = tiler_of(request)
    settings = tiler.settings
    asked = parse_stretch(stretch)
    require_access(settings, request, image_id)
    fmt, negotiated = output_format(request, format)
    version = tiler.version(image_id)
    etag = tile_etag(version, "tile", level, x, y, tile_size, fmt, quality, page, asked and asked.key())

    def make() -> Body:
        result = tiler.tile(image_id, lambda w, h: TileGrid(w, h, tile_size), level, x, y, fmt, quality, page, asked)
        record_tile(image_id, result, tile_level=level, x=x, y=y, page=page)
        return Body(result.body, result.media_type, tile_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version, pinned=v == version.etag), make, negotiated)


@router.get("/thumbnail")
@offload
def thumbnail(
    request: Request,
    image_id: ImageId,
    width: Side = None,
    height: Side = None,
    fit: Literal["contain", "cover"] = "contain",
    format: Format = "jpeg",
    quality: Quality = None,
    page: Page = 0,
    icc: Annotated[Literal["srgb", "keep"], Query(description="convert to sRGB, or keep the profile")] = "srgb",
):
    tiler = tiler_of(request)
    settings = tiler.settings
    require_access(settings, request, image_id)
    fmt, negotiated = output_format(request, format)
    plan = thumbnail_plan(Box(width, height, fit), icc, settings.max_output_side, settings.max_output_pixels)
    version = tiler.version(image_id)
    etag = tile_etag(version, "thumbnail", width, height, fit, fmt, quality, page, icc)

    def make() -> Body:
        result = tiler.render(image_id, plan, fmt, quality, page)
        record_tile(image_id, result, thumbnail_width=width, thumbnail_height=height, fit=fit, page=page)
        return Body(result.body, result.media_type, image_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version), make, negotiated)


@router.get("/associated/{name}")
@offload
def associated(
    request: Request,
    image_id: ImageId,
    name: AssociatedName,
    format: Format = "jpeg",
    quality: Quality = None,
):
    tiler = tiler_of(request)
    settings = tiler.settings
    require_access(settings, request, image_id)
    fmt, negotiated = output_format(request, format)
    version = tiler.version(image_id)
    etag = tile_etag(version, "associated", name, fmt, quality)

    def make() -> Body:
        result = tiler.associated(image_id, name, fmt, quality)
        record_tile(image_id, result, associated=name)
        return Body(result.body, result.media_type, image_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version), make, negotiated)
