"""The simple JSON API: /api/v1/image/meta and /api/v1/image/tile (design note contract),
and /api/v1/image/thumbnail (a whole page fitted into a box, upright, colour-managed)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ..config import get_settings
from ..http.caching import cache_headers, not_modified, not_modified_response
from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.signing import require_access
from ..imaging.geometry import TileGrid
from ..imaging.thumbnail import Box, thumbnail_plan
from ..observability import record_tile
from ..service import get_tiler, tile_etag
from .params import Format, ImageId, Page, Quality, TileSize

router = APIRouter(prefix="/api/v1/image", tags=["simple"])

Coordinate = Annotated[int, Query(ge=0)]
Side = Annotated[int | None, Query(ge=1, le=65535, description="box side in pixels (never enlarged)")]


@router.get("/meta")
@offload
def meta(request: Request, image_id: ImageId, tile_size: TileSize = 256, page: Page = 0):
    settings, tiler = get_settings(), get_tiler()
    require_access(request, image_id)
    version = tiler.version(image_id)
    etag = tile_etag(version, "meta", tile_size, page)
    headers = cache_headers(settings, etag, version, pinned=False, max_age=settings.meta_max_age)
    if not_modified(request, etag):
        return not_modified_response(headers)
    return JSONResponse(tiler.meta(image_id, tile_size, page), headers=headers)


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
    v: Annotated[str | None, Query(max_length=200, description="source version from meta")] = None,
):
    settings, tiler = get_settings(), get_tiler()
    require_access(request, image_id)
    fmt, negotiated = output_format(request, format)
    version = tiler.version(image_id)
    etag = tile_etag(version, "tile", level, x, y, tile_size, fmt, quality, page)
    headers = cache_headers(settings, etag, version, pinned=v == version.etag) | negotiated
    if not_modified(request, etag):
        return not_modified_response(headers)
    result = tiler.tile(image_id, lambda w, h: TileGrid(w, h, tile_size), level, x, y, fmt, quality, page)
    record_tile(image_id, result, tile_level=level, x=x, y=y, page=page)
    headers |= {"X-Tile-Width": str(result.width), "X-Tile-Height": str(result.height)}
    return Response(result.body, media_type=result.media_type, headers=headers)


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
    settings, tiler = get_settings(), get_tiler()
    require_access(request, image_id)
    fmt, negotiated = output_format(request, format)
    plan = thumbnail_plan(Box(width, height, fit), icc, settings.max_output_side, settings.max_output_pixels)
    version = tiler.version(image_id)
    etag = tile_etag(version, "thumbnail", width, height, fit, fmt, quality, page, icc)
    headers = cache_headers(settings, etag, version, pinned=False) | negotiated
    if not_modified(request, etag):
        return not_modified_response(headers)
    result = tiler.render(image_id, plan, fmt, quality, page)
    record_tile(image_id, result, thumbnail_width=width, thumbnail_height=height, fit=fit, page=page)
    headers |= {"X-Image-Width": str(result.width), "X-Image-Height": str(result.height)}
    return Response(result.body, media_type=result.media_type, headers=headers)
