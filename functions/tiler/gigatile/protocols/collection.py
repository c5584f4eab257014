"""IIIF Presentation collections of a folder (a key prefix under the source):
`/iiif/3/PREFIX/collection.json` (Presentation 3.0) and `/iiif/2/PREFIX/collection.json`
(2.1); the source's top folder is `/iiif/3/collection.json`. PREFIX is sent percent-encoded
like an image id (`scans%2F2024`).

Each image directly in the folder is an item pointing at its manifest (manifests.py), each
sub-folder a sub-collection. The store lists the folder (S3 ListObjectsV2, one call per
1,000 keys); an object is an image when its name ends with an image extension (the listing
does not open them). At most MAX_ITEMS items, among the first MAX_SCANNED keys: a folder
holding more says so in its summary. The path `PREFIX/collection.json`, like the
manifest's `ID/manifest.json`, is one that no image request takes (every image route ends
with info.json, manifest.json or a format).
"""

from __future__ import annotations

import hashlib
from itertools import islice
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from ..errors import ImageNotFound, InvalidImageId
from ..http.offload import offload
from ..http.responses import Body, Cache, respond
from ..http.signing import split_path_token, verify
from ..service import Tiler, tile_etag
from ..sources.base import Entry, ObjectVersion
from ..sources.ids import validate_image_id
from .iiif import V2, V3, Version, public_base, service_uri
from .manifests import Member, collection2, collection3
from .params import tiler_of

MAX_ITEMS = 1000
MAX_SCANNED = 5000  # keys read from the listing (5 ListObjectsV2 calls) at most
# What gigatile's loaders open (JPEG, PNG, WebP, TIFF and its slide and OME forms, GIF, AVIF).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".svs", ".gif", ".avif")


def looks_like_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def read_folder(tiler: Tiler, folder_id: str) -> tuple[list[Entry], bool]:
    """The images and sub-folders of `folder_id` ("" or ending "/"), and whether there are
    more than were taken. The derived pyramids' folder is no sub-collection, and a name no
    image id can be (an empty segment of "a//b", control characters) is left out."""
    store = tiler.store
    folder = store.key_for(folder_id)  # the source's prefix + the folder's
    pyramids = tiler.settings.pyramid_prefix
    taken: list[Entry] = []
    for n, entry in enumerate(islice(store.list(folder), MAX_SCANNED + 1)):
        if n == MAX_SCANNED:
            return taken, True
        if entry.version is None:
            if pyramids and f"{folder}{entry.name}/" == pyramids:
                continue
        elif entry.version.size == 0 or not looks_like_image(entry.name):
            continue
        try:
            validate_image_id(folder_id + entry.name)
        except InvalidImageId:
            continue
        if len(taken) == MAX_ITEMS:
            return taken, True
        taken.append(entry)
    return taken, False


def make_router(version: Version) -> APIRouter:
    router = APIRouter(prefix=f"/iiif/{version.number}", tags=["iiif"])
    build = collection3 if version.number == 3 else collection2

    @router.get("/collection.json", name=f"iiif{version.number}_top_collection")
    @offload
    def top_collection(request: Request) -> Response:
        """The collection of the source's top folder."""
        return collection_response(request, tiler_of(request), "")

    @router.get("/{prefix:path}/collection.json", name=f"iiif{version.number}_collection")
    @offload
    def collection(request: Request, prefix: str) -> Response:
        """The collection of folder PREFIX: its images' manifests and its sub-folders."""
        return collection_response(request, tiler_of(request), prefix)

    def collection_response(request: Request, tiler: Tiler, prefix: str) -> Response:
        settings = tiler.settings
        token, prefix = split_path_token(prefix) if settings.signing_keys else (None, prefix)
        folder_id = validate_image_id(prefix) + "/" if prefix else ""
        if settings.signing_keys:  # a prefix token (scope ending "/") covering the folder
            verify(settings.signing_keys, token or request.query_params.get("token"), folder_id)
        entries, more = read_folder(tiler, folder_id)
        if not entries:
            raise ImageNotFound(f"no images or folders under {folder_id or 'the source'}")

        base = public_base(request, settings)
        signed = f"t:{token}/" if token else ""

        def collection_id(folder: str) -> str:
            where = f"{quote(folder.removesuffix('/'), safe='')}/" if folder else ""
            return f"{base}/iiif/{version.number}/{signed}{where}collection.json"

        def member(entry: Entry) -> Member:
            if entry.version is None:
                return Member(collection_id(f"{folder_id}{entry.name}/"), f"{entry.name}/", True)
            service = service_uri(request, settings, version, folder_id + entry.name, 0, token)
            return Member(f"{service}/manifest.json", entry.name, False)

        own_id = collection_id(folder_id)
        # The listing is the version: any image added, removed or rewritten changes the ETag.
        listing = "\n".join(f"{e.name}:{e.version.etag if e.version else '/'}" for e in entries)
        modified = [e.version.last_modified for e in entries if e.version and e.version.last_modified]
        listed = ObjectVersion(0, hashlib.sha256(listing.encode()).hexdigest(), max(modified, default=None))
        cache = Cache(tile_etag(listed, "collection", own_id, more), listed, max_age=settings.meta_max_age)
        presentation = f"http://iiif.io/api/presentation/{version.number}/context.json"
        ld = "application/ld+json" in request.headers.get("accept", "")
        media = f'application/ld+json;profile="{presentation}"' if ld else "application/json"
        label = folder_id.removesuffix("/").rsplit("/", 1)[-1] + "/" if folder_id else "/"
        note = (
            f"Part of this folder only: at most {MAX_ITEMS:,} items among its first {MAX_SCANNED:,} keys."
            if more
            else None
        )

        def make() -> Body:
            return Body(build(own_id, label, [member(e) for e in entries], note), media)

        return respond(request, settings, cache, make, {"Vary": "Accept"})

    return router


routers = [make_router(V3), make_router(V2)]
