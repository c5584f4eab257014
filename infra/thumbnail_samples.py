"""The files thumbnails are checked on: one picture written by libvips as each kind of file
an image proxy meets (JPEG, PNG with alpha, WebP, CMYK JPEG, 16-bit PNG, an EXIF-rotated
JPEG, Display P3 with its profile). Shared by tests/test_thumbnail.py and
`python -m infra.bench thumbnails`."""

from __future__ import annotations

from pathlib import Path

from infra.local_stack import pattern

WIDTH, HEIGHT = 1600, 1200


def write_samples(folder: Path) -> dict[str, Path]:
    from gigatile.vips import vips

    pyvips = vips()
    folder.mkdir(parents=True, exist_ok=True)
    picture = pattern(WIDTH, HEIGHT, seed=5)
    alpha = (pyvips.Image.xyz(WIDTH, HEIGHT)[0] * 255 / WIDTH).cast("uchar")
    # Saturated colours, where Display P3 and sRGB values differ most.
    vivid = ((picture - 127) * 3 + 127).cast("uchar").copy(interpretation="srgb")
    upright = picture.copy()
    upright.set_type(pyvips.GValue.gint_type, "orientation", 6)  # "turn 90° clockwise to view"
    writers = {
        "photo.jpg": lambda p: picture.jpegsave(p, Q=92),
        "alpha.png": lambda p: picture.bandjoin(alpha).pngsave(p),
        "photo.webp": lambda p: picture.webpsave(p, Q=92),
        # CMYK through libvips' built-in CMYK profile, which the JPEG then carries.
        "cmyk.jpg": lambda p: picture.icc_export(output_profile="cmyk").jpegsave(p, Q=92),
        "deep.png": lambda p: (picture.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16").pngsave(p),
        "rotated.jpg": lambda p: upright.jpegsave(p, Q=92),
        # Display P3 values with their profile: the same colours as vivid.jpg once converted.
        "vivid.jpg": lambda p: vivid.jpegsave(p, Q=92),
        "p3.jpg": lambda p: vivid.icc_export(output_profile="p3").jpegsave(p, Q=92),
    }
    files = {}
    for name, write in writers.items():
        files[name] = folder / name
        write(str(files[name]))
    return files


def vips_thumbnail(path: Path, width: int, height: int, fit: str):
    """libvips' own thumbnail of the file, never enlarged, as comparable(): `vips thumbnail
    --size down --export-profile srgb` (without an export profile, libvips leaves the values
    of an RGB image with an embedded profile as they are, as gigatile's icc=keep does)."""
    from gigatile.vips import vips

    crop = "centre" if fit == "cover" else "none"
    image = vips().Image.thumbnail(str(path), width, height=height, size="down", crop=crop, export_profile="srgb")
    return comparable(image.copy_memory())


def comparable(image):
    """8-bit sRGB, flattened onto grey when transparent: what a viewer shows. (Colour under
    alpha 0 is invisible, and libvips' thumbnail keeps premultiplied pixels in 8 bits.)"""
    if image.format != "uchar" or image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    return image.flatten(background=128) if image.hasalpha() else image
