"""DeepZoom: /dzi/ID.dzi (the descriptor) and /dzi/ID_files/LEVEL/COL_ROW.FORMAT (tiles).

Laid out as OpenSeadragon reads it and `vips dzsave` writes it: level N = full size with
N = ceil(log2(max(w, h))), each lower level half the size rounded up, down to 1 × 1.
`tile_size`, `overlap`, `page` and `stretch` (protocols.params) come from the query (OpenSeadragon repeats the
descriptor's query string on every tile URL), so one image can be served with any layout;
without them, from GIGATILE_DZ_TILE_SIZE and GIGATILE_DZ_OVERLAP, page 0.
"""

from __future__ import annotations

import re
from typing import Annotated
from xml.sax.saxutils import quoteattr

from fastapi import APIRouter, Request
from pydantic import Field

from ..errors import InvalidParameter
from ..http.negotiation import output_format
from ..http.offload import offload
from ..http.responses import Body, Cache, respond, tile_size_headers
from ..http.signing import require_access
from ..imaging.encode import normalize_format
from ..imaging.geometry import DeepZoomGrid
from ..observability import record_tile
from ..service import tile_etag
from .params import Format, Page, Params, Quality, Stretch, TileSize, parse_stretch, tiler_of

router = APIRouter(prefix="/dzi", tags=["deepzoom"])

TILE_PATH = re.compile(r"^(?P<id>.+)_files/(?P<level>\d{1,4})/(?P<col>\d{1,9})_(?P<row>\d{1,9})\.(?P<fmt>\w{1,8})$")
Overlap = Annotated[int, Field(ge=0, le=2)]
DZI_TYPE = "application/xml"


class DeepZoomParams(Params):
    tile_size: TileSize | None = None
    overlap: Overlap | None = None
    format: Format = "jpeg"
    quality: Quality = None
    page: Page = 0
    stretch: Stretch = None


def descriptor(width: int, height: int, tile_size: int, overlap: int, fmt: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format={quoteattr(fmt)} '
        f'Overlap="{overlap}" TileSize="{tile_size}"><Size Width="{width}" Height="{height}"/></Image>\n'
    )


@router.get("/{path:path}", openapi_extra=DeepZoomParams.openapi())
@offload
def deepzoom(request: Request, path: str):
    q = DeepZoomParams.read(request)
    quality, page = q.quality, q.page
    tiler = tiler_of(request)
    settings = tiler.settings
    asked = parse_stretch(q.stretch)  # checked on the descriptor too: a viewer repeats it on tiles
    tile_size = settings.dz_tile_size if q.tile_size is None else q.tile_size
    overlap = settings.dz_overlap if q.overlap is None else q.overlap
    if path.endswith(".dzi"):
        image_id = path.removesuffix(".dzi")
        require_access(settings, request, image_id)
        fmt = normalize_format(q.format, allow_auto=True)  # "auto": tiles are .auto, chosen per request
        version = tiler.version(image_id)
        etag = tile_etag(version, "dzi", tile_size, overlap, fmt, page)

        def make_descriptor() -> Body:
            src = tiler.describe(image_id, page)
            return Body(descriptor(src.width, src.height, tile_size, overlap, fmt).encode(), DZI_TYPE)

        return respond(request, settings, Cache(etag, version, max_age=settings.meta_max_age), make_descriptor)

    match = TILE_PATH.match(path)
    if not match:
        raise InvalidParameter("DeepZoom paths are ID.dzi or ID_files/LEVEL/COL_ROW.FORMAT")
    image_id = match["id"]
    require_access(settings, request, image_id)
    fmt, negotiated = output_format(request, match["fmt"])
    level, col, row = int(match["level"]), int(match["col"]), int(match["row"])
    version = tiler.version(image_id)
    etag = tile_etag(version, "dz", level, col, row, tile_size, overlap, fmt, quality, page, asked and asked.key())

    def grid(width: int, height: int) -> DeepZoomGrid:
        return DeepZoomGrid(width, height, tile_size, overlap)

    def make_tile() -> Body:
        result = tiler.tile(image_id, grid, level, col, row, fmt, quality, page, asked)
        record_tile(image_id, result, tile_level=level, x=col, y=row, page=page)
        return Body(result.body, result.media_type, tile_size_headers(result.width, result.height))

    return respond(request, settings, Cache(etag, version), make_tile, negotiated)
