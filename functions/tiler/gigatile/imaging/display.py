"""Turn decoded pixels into what a screen shows: sRGB, 8 bits, grey or colour, alpha kept."""

from __future__ import annotations

from ..vips import vips


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
