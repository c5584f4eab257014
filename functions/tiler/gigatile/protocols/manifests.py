"""IIIF Presentation manifests made from an image's own metadata, beside its image service:
`/iiif/3/ID/manifest.json` (Presentation 3.0) and `/iiif/2/ID/manifest.json` (2.1), so that
Mirador and other manifest-driven viewers open any image without a hand-written manifest;
and collections of a folder's images and sub-folders (protocols/collection.py lists them).

One canvas per page (a GIF's frames, a multi-page TIFF's pages), each painted by its page's
image service; the label is the key's last path segment; a thumbnail service is the
image's own.
"""

from __future__ import annotations

from dataclasses import dataclass

THUMBNAIL_SIDE = 256
# Pages beyond this get no canvas (a 10,000-frame GIF must not mean 10,000 header reads).
MAX_CANVASES = 500


@dataclass(frozen=True)
class Page:
    """One page as a canvas: its image service's id and its size."""

    service: str
    width: int
    height: int


def label_of(image_id: str) -> str:
    return image_id.rsplit("/", 1)[-1]


def _thumbnail_size(page: Page, version: int) -> str:
    """A size no larger than the image (3.0 refuses to upscale without ^)."""
    if max(page.width, page.height) <= THUMBNAIL_SIDE:
        return "max" if version == 3 else "full"
    return f"!{THUMBNAIL_SIDE},{THUMBNAIL_SIDE}"


def manifest3(manifest_id: str, image_id: str, pages: list[Page]) -> dict:
    base = manifest_id.removesuffix("/manifest.json")
    first = pages[0]

    def service(page: Page) -> list[dict]:
        return [{"id": page.service, "type": "ImageService3", "profile": "level2"}]

    canvases = []
    for n, page in enumerate(pages, 1):
        canvas = f"{base}/canvas/p{n}"
        body = {
            "id": f"{page.service}/full/max/0/default.jpg",
            "type": "Image",
            "format": "image/jpeg",
            "width": page.width,
            "height": page.height,
            "service": service(page),
        }
        annotation = {
            "id": f"{base}/annotation/p{n}",
            "type": "Annotation",
            "motivation": "painting",
            "body": body,
            "target": canvas,
        }
        canvases.append(
            {
                "id": canvas,
                "type": "Canvas",
                "label": {"none": [f"p. {n}"]},
                "width": page.width,
                "height": page.height,
                "items": [{"id": f"{base}/page/p{n}", "type": "AnnotationPage", "items": [annotation]}],
            }
        )
    thumbnail = {
        "id": f"{first.service}/full/{_thumbnail_size(first, 3)}/0/default.jpg",
        "type": "Image",
        "format": "image/jpeg",
        "service": service(first),
    }
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": manifest_id,
        "type": "Manifest",
        "label": {"none": [label_of(image_id)]},
        "thumbnail": [thumbnail],
        "items": canvases,
    }


def manifest2(manifest_id: str, image_id: str, pages: list[Page]) -> dict:
    base = manifest_id.removesuffix("/manifest.json")
    first = pages[0]

    def service(page: Page) -> dict:
        return {
            "@context": "http://iiif.io/api/image/2/context.json",
            "@id": page.service,
            "profile": "http://iiif.io/api/image/2/level2.json",
        }

    canvases = []
    for n, page in enumerate(pages, 1):
        canvas = f"{base}/canvas/p{n}"
        resource = {
            "@id": f"{page.service}/full/full/0/default.jpg",
            "@type": "dctypes:Image",
            "format": "image/jpeg",
            "width": page.width,
            "height": page.height,
            "service": service(page),
        }
        image = {"@type": "oa:Annotation", "motivation": "sc:painting", "resource": resource, "on": canvas}
        canvases.append(
            {
                "@id": canvas,
                "@type": "sc:Canvas",
                "label": f"p. {n}",
                "width": page.width,
                "height": page.height,
                "images": [image],
            }
        )
    thumbnail = {"@id": f"{first.service}/full/{_thumbnail_size(first, 2)}/0/default.jpg", "service": service(first)}
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": manifest_id,
        "@type": "sc:Manifest",
        "label": label_of(image_id),
        "thumbnail": thumbnail,
        "sequences": [{"@id": f"{base}/sequence/normal", "@type": "sc:Sequence", "canvases": canvases}],
    }


@dataclass(frozen=True)
class Member:
    """One item of a collection: an image's manifest or a sub-folder's collection."""

    id: str
    label: str
    is_collection: bool


def collection3(collection_id: str, label: str, members: list[Member], note: str | None) -> dict:
    doc: dict = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": collection_id,
        "type": "Collection",
        "label": {"none": [label]},
    }
    if note:
        doc["summary"] = {"none": [note]}
    doc["items"] = [
        {"id": m.id, "type": "Collection" if m.is_collection else "Manifest", "label": {"none": [m.label]}}
        for m in members
    ]
    return doc


def collection2(collection_id: str, label: str, members: list[Member], note: str | None) -> dict:
    def ref(m: Member) -> dict:
        return {"@id": m.id, "@type": "sc:Collection" if m.is_collection else "sc:Manifest", "label": m.label}

    doc: dict = {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": collection_id,
        "@type": "sc:Collection",
        "label": label,
    }
    if note:
        doc["description"] = note
    doc["collections"] = [ref(m) for m in members if m.is_collection]
    doc["manifests"] = [ref(m) for m in members if not m.is_collection]
    return doc
