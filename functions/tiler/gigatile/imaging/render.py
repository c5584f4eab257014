"""Render a box of a virtual image of the whole source at a given scale.

Every tile of a level is a crop of the same virtual image (the chosen source level
resized with Lanczos3 so that its content is exactly 1/scale of the source), so
neighbouring tiles meet without seams; libvips computes only the pixels a crop needs.
"""

from __future__ import annotations

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
        image = image.resize(factor, kernel="lanczos3")
    if image.width < width or image.height < height:
        image = image.embed(0, 0, max(width, image.width), max(height, image.height), extend="copy")
    if (image.width, image.height) != (width, height):
        image = image.crop(0, 0, width, height)
    return opened, image

    return opened, image


def to_display(image):
    """8-bit sRGB or grey (alpha kept), whatever the source's colour space and depth."""
    if image.interpretation in ("cmyk", "lab", "labs", "lch", "xyz", "scrgb") or image.format != "uchar":
        image = image.colourspace("srgb" if image.bands >= 3 else "b-w")
    return image if image.format == "uchar" else image.cast("uchar")
