"""The simple JSON API: /api/v1/image/meta and /api/v1/image/tile (design note contract)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ..config import get_settings
from ..http.caching import cache_headers, not_modified, not_modified_response
from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.signing import require_access
from ..imaging.geometry import TileGrid
from ..observability import record_tile
from ..service import get_tiler, tile_etag

router = APIRouter(prefix="/api/v1/image", tags=["simple"])

ImageId = Annotated[
    str, Query(alias="path", min_length=1, max_length=1024, description="image id (key under the prefix)")
]
TileSize = Annotated[int, Query(ge=64, le=1024)]
Coordinate = Annotated[int, Query(ge=0)]


@router.get("/meta")
@offload
def meta(request: Request, image_id: ImageId, tile_size: TileSize = 256):
    settings, tiler = get_settings(), get_tiler()
    require_access(request, image_id)
    version = tiler.version(image_id)
    etag = tile_etag(version, "meta", tile_size)
    headers = cache_headers(settings, etag, version, pinned=False, max_age=settings.meta_max_age)
    if not_modified(request, etag):
        return not_modified_response(headers)
    return JSONResponse(tiler.meta(image_id, tile_size), headers=headers)


@router.get("/tile")
@offload
def tile(
    request: Request,
    image_id: ImageId,
    level: Coordinate,
    x: Coordinate,
    y: Coordinate,
    tile_size: TileSize = 256,
    quality: Annotated[int | None, Query(ge=1, le=100, description="default 90, or a stored tile's own")] = None,
    format: Annotated[str, Query(max_length=8)] = "jpeg",
    v: Annotated[str | None, Query(max_length=200, description="source version from meta")] = None,
):
    settings, tiler = get_settings(), get_tiler()
    require_access(request, image_id)
    fmt, negotiated = output_format(request, format)
    version = tiler.version(image_id)
    etag = tile_etag(version, "tile", level, x, y, tile_size, fmt, quality)
    headers = cache_headers(settings, etag, version, pinned=v == version.etag) | negotiated
    if not_modified(request, etag):
        return not_modified_response(headers)
    result = tiler.tile(image_id, lambda w, h: TileGrid(w, h, tile_size), level, x, y, fmt, quality)
    record_tile(image_id, result, tile_level=level, x=x, y=y)
    headers |= {"X-Tile-Width": str(result.width), "X-Tile-Height": str(result.height)}
    return Response(result.body, media_type=result.media_type, headers=headers)
