"""Render a box of a virtual image of the whole source at a given scale.

Every tile of a level is a crop of the same virtual image (the chosen source level
resized with Lanczos3 so that its content is exactly 1/scale of the source), so
neighbouring tiles meet without seams; libvips computes only the pixels a crop needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..vips import vips
from .source_image import SourceImage


@dataclass(frozen=True)
class Plan:
    """What to render: the image reduced by `scale` as a `view`-sized virtual image, the
    `box` (left, top, width, height) of it to cut, resized to `out`, then mirrored,
    rotated clockwise by `rotation` degrees and turned to `quality`.

    `icc` says what becomes of an embedded colour profile: "strip" keeps the stored pixel
    values and drops it (tiles: what pass-through serves too), "srgb" converts the pixels
    to sRGB with it, "keep" keeps the stored values and embeds it in the output."""

    scale: float
    view: tuple[int, int]
    box: tuple[int, int, int, int]
    out: tuple[int, int]
    mirror: bool = False
    rotation: float = 0
    quality: str = "color"  # color, gray or bitonal
    icc: str = "strip"


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


def to_srgb(image):
    """Pixels converted to sRGB with their embedded ICC profile; a profile libvips cannot
    use leaves them as they are (to_display then converts CMYK with libvips' own profile)."""
    if "icc-profile-data" in image.get_fields():
        try:
            return image.icc_transform("srgb", embedded=True, intent="relative")
        except vips().Error:
            return image
    return image


def to_display(image):
    """8-bit sRGB or grey (alpha kept), whatever the source's colour space and depth."""
    if image.interpretation in ("cmyk", "lab", "labs", "lch", "xyz", "scrgb") or image.format != "uchar":
        image = image.colourspace("srgb" if image.bands >= 3 else "b-w")
    return image if image.format == "uchar" else image.cast("uchar")


def render(source: SourceImage, plan: Plan):
    """The plan as a lazy libvips image, and the open level it reads (for error cleanup)."""
    opened, image = view_at(source, plan.scale, *plan.view)
    left, top, width, height = plan.box
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


def _exactly(image, width: int, height: int):
    """Crop or edge-extend to exactly width × height (resizes round to the nearest pixel)."""
    if image.width < width or image.height < height:
        image = image.embed(0, 0, max(width, image.width), max(height, image.height), extend="copy")
    return image.crop(0, 0, width, height) if (image.width, image.height) != (width, height) else image
