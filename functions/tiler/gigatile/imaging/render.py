"""Render a box of a virtual image of the whole source at a given size.

Every tile of a level is a crop of the same virtual image (the chosen source level
resized with Lanczos3 to the exact level size), so neighbouring tiles meet without seams;
libvips computes only the pixels the crop needs.
"""

from __future__ import annotations

from .source_image import SourceImage


def view_at(source: SourceImage, width: int, height: int):
    """The whole image at width × height, lazily, from the cheapest adequate level."""
    opened = source.level_for(width, height)
    image = opened.image
    if (image.width, image.height) != (width, height):
        image = image.resize(width / image.width, vscale=height / image.height, kernel="lanczos3")
    return opened, image


def to_display(image):
    """8-bit sRGB or grey (alpha kept), whatever the source's colour space and depth."""
    if image.interpretation in ("cmyk", "lab", "labs", "lch", "xyz", "scrgb") or image.format != "uchar":
        image = image.colourspace("srgb" if image.bands >= 3 else "b-w")
    return image if image.format == "uchar" else image.cast("uchar")
