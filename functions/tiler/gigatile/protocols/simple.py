"""The simple JSON API: /api/v1/image/meta and /api/v1/image/tile (design note contract),
/api/v1/image/thumbnail (a whole page fitted into a box, upright, colour-managed) and
/api/v1/image/associated/NAME (a slide's label, macro or thumbnail, whole).

/api/v1/image/tile/STRETCH is a tile with a display stretch of its own (`bands:3,2,1;
range:0,3000`, protocols.params): a path segment, not a query key, because CloudFront's
cache key for this API is at its quota of query keys."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import Field

from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.responses import Body, Cache, image_size_headers, respond, tile_size_headers
from ..http.signing import require_access
from ..imaging.geometry import TileGrid
from ..imaging.thumbnail import Box, thumbnail_plan
from ..observability import record_tile
from ..service import tile_etag
from .params import STRETCH_HELP, Format, ImageId, Page, Params, Quality, TileSize, parse_stretch, tiler_of

router = APIRouter(prefix="/api/v1/image", tags=["simple"])

Coordinate = Annotated[int, Field(ge=0)]
# A path segment, not a query key: CloudFront's cache key for this API is at its quota.
AssociatedName = Annotated[
    str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="an associated image's name, as in meta")
]
StretchSegment = Annotated[str, Path(min_length=1, max_length=300, description=STRETCH_HELP)]
Version = Annotated[str | None, Field(max_length=200, description="source version from meta")]
Side = Annotated[int | None, Field(ge=1, le=65535, description="box side in pixels (never enlarged)")]


class MetaParams(Params):
    image_id: ImageId
    tile_size: TileSize = 256
    page: Page = 0


class TileParams(Params):
    image_id: ImageId
    level: Coordinate
    x: Coordinate
    y: Coordinate
    tile_size: TileSize = 256
    quality: Quality = None
    format: Format = "jpeg"
    page: Page = 0
    v: Version = None


class ThumbnailParams(Params):
    image_id: ImageId
    width: Side = None
    height: Side = None
    fit: Literal["contain", "cover"] = "contain"
    format: Format = "jpeg"
    quality: Quality = None
    page: Page = 0
    icc: Annotated[Literal["srgb", "keep"], Field(description="convert to sRGB, or keep the profile")] = "srgb"


class AssociatedParams(Params):
    image_id: ImageId
    format: Format = "jpeg"
    quality: Quality = None


@router.get("/meta", openapi_extra=MetaParams.openapi())
@offload
def meta(request: Request):
    q = MetaParams.read(request)
    tiler = tiler_of(request)
    settings = tiler.settings
    require_access(settings, request, q.image_id)
    version = tiler.version(q.image_id)
    cache = Cache(tile_etag(version, "meta", q.tile_size, q.page), version, max_age=settings.meta_max_age)
    return respond(
        request, settings, cache, lambda: Body(tiler.meta(q.image_id, q.tile_size, q.page), "application/json")
    )


@router.get("/tile", openapi_extra=TileParams.openapi())
@offload
def tile(request: Request):
    return _tile(request, TileParams.read(request), None)


@router.get("/tile/{stretch}", openapi_extra=TileParams.openapi())
@offload
def stretched_tile(request: Request, stretch: StretchSegment):
    """A tile with the display stretch the path names (non-8-bit data: bands and ranges)."""
    return _tile(request, TileParams.read(request), stretch)


def _tile(request: Request, q: TileParams, stretch: str | None):
    tiler = tiler_of(request)
    settings = tiler.settings
    asked = parse_stretch(stretch)
    require_access(settings, request, q.image_id)
    fmt, negotiated = output_format(request, q.format)
    version = tiler.version(q.image_id)
    level, x, y, tile_size, page = q.level, q.x, q.y, q.tile_size, q.page
    etag = tile_etag(version, "tile", level, x, y, tile_size, fmt, q.quality, page, asked and asked.key())

    def make() -> Body:
        result = tiler.tile(
            q.image_id, lambda w, h: TileGrid(w, h, tile_size), level, x, y, fmt, q.quality, page, asked
        )
        record_tile(q.image_id, result, tile_level=level, x=x, y=y, page=page)
        return Body(result.body, result.media_type, tile_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version, pinned=q.v == version.etag), make, negotiated)


@router.get("/thumbnail", openapi_extra=ThumbnailParams.openapi())
@offload
def thumbnail(request: Request):
    q = ThumbnailParams.read(request)
    tiler = tiler_of(request)
    settings = tiler.settings
    require_access(settings, request, q.image_id)
    fmt, negotiated = output_format(request, q.format)
    plan = thumbnail_plan(Box(q.width, q.height, q.fit), q.icc, settings.max_output_side, settings.max_output_pixels)
    version = tiler.version(q.image_id)
    etag = tile_etag(version, "thumbnail", q.width, q.height, q.fit, fmt, q.quality, q.page, q.icc)

    def make() -> Body:
        result = tiler.render(q.image_id, plan, fmt, q.quality, q.page)
        record_tile(q.image_id, result, thumbnail_width=q.width, thumbnail_height=q.height, fit=q.fit, page=q.page)
        return Body(result.body, result.media_type, image_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version), make, negotiated)


@router.get("/associated/{name}", openapi_extra=AssociatedParams.openapi())
@offload
def associated(request: Request, name: AssociatedName):
    q = AssociatedParams.read(request)
    tiler = tiler_of(request)
    settings = tiler.settings
    require_access(settings, request, q.image_id)
    fmt, negotiated = output_format(request, q.format)
    version = tiler.version(q.image_id)
    etag = tile_etag(version, "associated", name, fmt, q.quality)

    def make() -> Body:
        result = tiler.associated(q.image_id, name, fmt, q.quality)
        record_tile(q.image_id, result, associated=name)
        return Body(result.body, result.media_type, image_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version), make, negotiated)
