"""DeepZoom: /dzi/ID.dzi (the descriptor) and /dzi/ID_files/LEVEL/COL_ROW.FORMAT (tiles).

Laid out as OpenSeadragon reads it and `vips dzsave` writes it: level N = full size with
N = ceil(log2(max(w, h))), each lower level half the size rounded up, down to 1 × 1.
`tile_size`, `overlap` and `page` come from the query (OpenSeadragon repeats the
descriptor's query string on every tile URL), so one image can be served with any layout;
without them, from GIGATILE_DZ_TILE_SIZE and GIGATILE_DZ_OVERLAP, page 0.
"""

from __future__ import annotations

import re
from typing import Annotated
from xml.sax.saxutils import quoteattr

from fastapi import APIRouter, Query, Request, Response

from ..config import get_settings
from ..errors import InvalidParameter
from ..http.caching import cache_headers, not_modified, not_modified_response
from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.signing import require_access
from ..imaging.encode import normalize_format
from ..imaging.geometry import DeepZoomGrid
from ..observability import record_tile
from ..service import get_tiler, tile_etag
from .params import Format, Page, Quality, TileSize

router = APIRouter(prefix="/dzi", tags=["deepzoom"])

TILE_PATH = re.compile(r"^(?P<id>.+)_files/(?P<level>\d{1,4})/(?P<col>\d{1,9})_(?P<row>\d{1,9})\.(?P<fmt>\w{1,8})$")
Overlap = Annotated[int, Query(ge=0, le=2)]
DZI_TYPE = "application/xml"


def descriptor(width: int, height: int, tile_size: int, overlap: int, fmt: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format={quoteattr(fmt)} '
        f'Overlap="{overlap}" TileSize="{tile_size}"><Size Width="{width}" Height="{height}"/></Image>\n'
    )


@router.get("/{path:path}")
@offload
def deepzoom(
    request: Request,
    path: str,
    tile_size: TileSize | None = None,
    overlap: Overlap | None = None,
    format: Format = "jpeg",
    quality: Quality = None,
    page: Page = 0,
):
    settings, tiler = get_settings(), get_tiler()
    tile_size = settings.dz_tile_size if tile_size is None else tile_size
    overlap = settings.dz_overlap if overlap is None else overlap
    if path.endswith(".dzi"):
        image_id = path.removesuffix(".dzi")
        require_access(request, image_id)
        fmt = normalize_format(format, allow_auto=True)  # "auto": tiles are .auto, chosen per request
        version = tiler.version(image_id)
        etag = tile_etag(version, "dzi", tile_size, overlap, fmt, page)
        headers = cache_headers(settings, etag, version, pinned=False, max_age=settings.meta_max_age)
        if not_modified(request, etag):
            return not_modified_response(headers)
        src = tiler.describe(image_id, page)
        body = descriptor(src.width, src.height, tile_size, overlap, fmt)
        return Response(body, media_type=DZI_TYPE, headers=headers)

    match = TILE_PATH.match(path)
    if not match:
        raise InvalidParameter("DeepZoom paths are ID.dzi or ID_files/LEVEL/COL_ROW.FORMAT")
    image_id = match["id"]
    require_access(request, image_id)
    fmt, negotiated = output_format(request, match["fmt"])
    level, col, row = int(match["level"]), int(match["col"]), int(match["row"])
    version = tiler.version(image_id)
    etag = tile_etag(version, "dz", level, col, row, tile_size, overlap, fmt, quality, page)
    headers = cache_headers(settings, etag, version, pinned=False) | negotiated
    if not_modified(request, etag):
        return not_modified_response(headers)

    def grid(width: int, height: int) -> DeepZoomGrid:
        return DeepZoomGrid(width, height, tile_size, overlap)

    result = tiler.tile(image_id, grid, level, col, row, fmt, quality, page)
    record_tile(image_id, result, tile_level=level, x=col, y=row, page=page)
    headers |= {"X-Tile-Width": str(result.width), "X-Tile-Height": str(result.height)}
    return Response(result.body, media_type=result.media_type, headers=headers)
