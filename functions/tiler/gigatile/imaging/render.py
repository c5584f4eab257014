"""Render a box of a virtual image of the whole source at a given scale.

Every tile of a level is a crop of the same virtual image (the chosen source level
resized with Lanczos3 so that its content is exactly 1/scale of the source), so
neighbouring tiles meet without seams; libvips computes only the pixels a crop needs.
"""

from __future__ import annotations

from ..errors import TooLarge
from .display import to_display, to_srgb
from .plan import Plan
from .source_image import SourceImage


def view_at(source: SourceImage, scale: float, width: int, height: int):
    """The whole image reduced by `scale`, lazily, as exactly width × height pixels.

    A grid rounds level sizes up (ceil(30000 / 32) = 938) where the content ends at 937.5:
    the missing part of the last column or row repeats its edge.
    """
    opened, downsample = source.level_for(scale)
    image = opened.image
    factor = downsample / scale
    if factor != 1:
        image = resize(image, factor)
    return opened, _exactly(image, width, height)


def resize(image, hscale: float, vscale: float | None = None):
    """Lanczos3, with alpha premultiplied so that the colour of transparent pixels does
    not bleed into their visible neighbours."""
    vscale = hscale if vscale is None else vscale
    if not image.hasalpha():
        return image.resize(hscale, vscale=vscale, kernel="lanczos3")
    fmt = image.format
    return image.premultiply().resize(hscale, vscale=vscale, kernel="lanczos3").unpremultiply().cast(fmt)


def render(source: SourceImage, plan: Plan):
    """The plan as a lazy libvips image, and the open level it reads (for error cleanup)."""
    opened, image = view_at(source, plan.scale, *plan.view)
    left, top, width, height = plan.box
    _check_decode(source, opened.image, plan)
    image = image.crop(left, top, width, height)
    if (width, height) != plan.out:
        image = _exactly(resize(image, plan.out[0] / width, plan.out[1] / height), *plan.out)
    if plan.icc == "srgb":
        image = to_srgb(image)
    image = to_display(image)
    if plan.mirror:
        image = image.fliphor()
    if plan.rotation in (90, 180, 270):
        image = image.rot(f"d{int(plan.rotation)}")
    elif plan.rotation % 360:
        # Arbitrary angles grow the canvas; the corners stay transparent where the format can.
        if not image.hasalpha():
            image = image.bandjoin(255)
        image = image.rotate(plan.rotation, background=[0] * image.bands)
    if plan.quality in ("gray", "bitonal"):
        alpha = image[image.bands - 1] if image.hasalpha() else None
        gray = image.colourspace("b-w")[0] if image.bands >= 3 else image[0]
        image = (gray > 127).ifthenelse(255, 0).cast("uchar") if plan.quality == "bitonal" else gray
        if alpha is not None:
            image = image.bandjoin(alpha)
    return opened, image


def _check_decode(source: SourceImage, level, plan: Plan) -> None:
    """Refuse, before any pixel work, a view read from a level at least twice as fine as it
    (the file lacks the stored levels in between: the thumbnail of a one-level tiled TIFF)
    when the part of that level it covers is over the decode budget. Read tile by tile it
    would not take the memory, but it decodes them all, and reads them within one request."""
    _, _, width, height = plan.box
    rx, ry = level.width / plan.view[0], level.height / plan.view[1]
    region = round(width * rx) * round(height * ry)
    if min(rx, ry) >= 2 and region > source.max_decode_pixels:
        raise TooLarge(
            f"this view reads {region} pixels of a {level.width}×{level.height} level, over the "
            f"{source.max_decode_pixels} pixel budget: the image has no stored level near this scale; "
            "convert it to a tiled pyramidal TIFF"
        )


def _exactly(image, width: int, height: int):
    """Crop or edge-extend to exactly width × height (resizes round to the nearest pixel)."""
    if image.width < width or image.height < height:
        image = image.embed(0, 0, max(width, image.width), max(height, image.height), extend="copy")
    return image.crop(0, 0, width, height) if (image.width, image.height) != (width, height) else image
