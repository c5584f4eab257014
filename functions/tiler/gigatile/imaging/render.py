"""Render a box of a virtual image of the whole source at a given scale.

Every tile of a level is a crop of the same virtual image (the chosen source level
resized with Lanczos3 so that its content is exactly 1/scale of the source), so
neighbouring tiles meet without seams; libvips computes only the pixels a crop needs.
The source level is the nearest stored level at least as fine as the view, whatever its
downsample (a 1/8 view of a slide with levels 1, 4, 16 is its 4× level halved), and its
internal mask, if it has one, becomes the alpha band.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import AssociatedImageNotFound, TooLarge, UnsupportedImage
from ..formats import stored
from ..formats.tiff import TiffError
from . import jpeg2000
from . import stretch as stretching
from .display import to_display, to_srgb
from .opened import Opened
from .plan import Plan, StretchRequest
from .prefetch import Box, level_window
from .source_image import SourceImage
from .strips import striped_region


def view_at(
    source: SourceImage,
    scale: float,
    width: int,
    height: int,
    stretch: StretchRequest | None = None,
    box: Box | None = None,
    deadline: float = math.inf,
):
    """The whole image reduced by `scale`, lazily, as exactly width × height pixels, and the
    open images it reads (the level, and its mask if it has one); non-8-bit data (or any,
    when `stretch` asks) stretched to 8 bits. `box` (left, top, width, height; default: all)
    is the part of it that will be computed: a JPEG 2000 level decodes only the tiles under it,
    now, within `deadline` (monotonic; libvips' own decoding is watched by run_guarded).

    A grid rounds level sizes up (ceil(30000 / 32) = 938) where the content ends at 937.5:
    the missing part of the last column or row repeats its edge.
    """
    level, opened, downsample = source.level_for(scale)
    j2k = jpeg2000.level_ifd(source, level)  # refused by render() first if undecodable here
    reads: tuple[Opened, ...] = (opened,)
    image = opened.image  # libvips reads this level's header, and its pixels unless JPEG 2000
    band: Callable[[int], Any] | None = opened.band  # band b on its own (an OME-TIFF's channel: its page)
    if j2k is not None:
        reduce = jpeg2000.reduction(j2k, scale / downsample, level.mask is not None)
        window = level_window(source, level, j2k, scale, box or (0, 0, width, height), margin=2**reduce)
        image = jpeg2000.level_image(source, j2k, window, reduce, deadline)
        downsample *= 2**reduce  # decoded at 1/2**reduce of the level's size (shrink-on-load)
        band = None
    image = shown(source, image, stretch, band)
    if level.mask is not None:
        mask = _open_mask(source, level.mask)
        reads += (mask,)
        image = with_mask(image, mask.image)
    factor = downsample / scale
    if factor != 1:
        image = resize(image, factor)
    return reads, _exactly(image, width, height)


def shown(source: SourceImage, image, stretch: StretchRequest | None, band=None):
    """The bands of stored pixels that are shown, as 8 bits where they are not (or where
    `stretch` asks); `band(b)` is band b on its own (imaging.opened.Opened.band)."""
    chosen = stretching.resolve(source, stretch)
    if chosen is not None:
        return stretching.apply(image, chosen, band)
    if image.bands > 4:
        # Bands 1–3 are what is shown (as the stretch shows them); carrying the others
        # through the mask, resize and crop only multiplies the work: the fuzzer's 245-band
        # level took 1.1 GB of memory for one 256 px tile.
        return image.extract_band(0, n=3)
    return image


def _open_mask(source: SourceImage, mask) -> Opened:
    """The level's mask, its stored tiles checked first as the level's are (libtiff reads a
    mask tile past the end of the file as zeros: a silently transparent tile)."""
    if source.tiff is not None:
        try:
            stored.check_chunks(source.tiff, source.tiff.ifd_for(dict(mask.options)))
        except TiffError as exc:
            raise UnsupportedImage(f"not a readable TIFF mask: {exc}") from None
    return source.open_mask(mask)


def with_mask(image, mask):
    """The level with its 1-bit mask (0 or 255, the level's size) as alpha; masked pixels
    become transparent, or the background colour where the output has no alpha (JPEG)."""
    if (mask.width, mask.height) != (image.width, image.height):
        mask = _exactly(mask, image.width, image.height)
    if image.hasalpha():  # both: visible only where both say so
        return image[: image.bands - 1].bandjoin((image[image.bands - 1] & mask[0]).cast(image.format))
    return image.bandjoin(mask[0].cast(image.format))


def resize(image, hscale: float, vscale: float | None = None):
    """Lanczos3, with alpha premultiplied so that the colour of transparent pixels does
    not bleed into their visible neighbours."""
    vscale = hscale if vscale is None else vscale
    if not image.hasalpha():
        return image.resize(hscale, vscale=vscale, kernel="lanczos3")
    fmt = image.format
    return image.premultiply().resize(hscale, vscale=vscale, kernel="lanczos3").unpremultiply().cast(fmt)


def render(source: SourceImage, plan: Plan, deadline: float = math.inf):
    """The plan as a lazy libvips image, and the open images it reads (for error cleanup;
    none when the pixels come from a striped TIFF's strips, decoded from memory). JPEG 2000
    tiles are decoded now, within `deadline` (monotonic)."""
    left, top, width, height = plan.box
    _jpeg2000_level(source, plan.scale)  # a level this build cannot decode: refused first
    region = striped_region(source, plan)
    if region is not None:
        reads: tuple[Opened, ...] = ()
        image = shown(source, region, plan.stretch)
    else:
        reads, image = view_at(source, plan.scale, *plan.view, stretch=plan.stretch, box=plan.box, deadline=deadline)
        _check_decode(source, reads[0].image, plan)
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
    return reads, image


def render_associated(source: SourceImage, name: str, max_side: int, max_pixels: int) -> tuple[Opened, Any]:
    """A slide's associated image `name` (label, macro, thumbnail) whole, for display, and
    the open image it reads. Its size is checked from its header before any decode."""
    found = source.associated.get(name)
    if found is None:
        names = ", ".join(source.associated) or "none"
        raise AssociatedImageNotFound(f"no associated image {name!r} (this image has: {names})")
    opened = source.images.open_once(source.reader, dict(found.options), source.patches)
    width, height = opened.image.width, opened.image.height
    if max(width, height) > max_side or width * height > max_pixels:
        limits = f"{max_side} px a side, {max_pixels} pixels"
        raise TooLarge(f"the {width}×{height} {name} image is over the output limits ({limits})")
    return opened, to_display(opened.image)


def _jpeg2000_level(source: SourceImage, scale: float):
    """The IFD of the level a 1/`scale` view reads when its tiles are JPEG 2000 (decoded by
    imaging.jpeg2000, not libvips), else None. Refused from the TIFF's tags, before a tile
    is read, when this build cannot decode it (libvips' own message would only say that a
    tile failed)."""
    ifd = jpeg2000.level_ifd(source, source.level_at(scale))
    if ifd is not None and (why := jpeg2000.refusal(ifd)) is not None:
        raise UnsupportedImage(why)
    return ifd


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
