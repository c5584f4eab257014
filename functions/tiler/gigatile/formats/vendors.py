"""Which whole-slide scanner's layout an object follows (its *flavor*), what that scanner's
metadata says about its levels, and which flavors this build refuses.

Recognised as OpenSlide's format notes describe each (and as OpenSlide detects them):

- DICOM WSI: "DICM" at byte 128 (a DICOM Part 10 file), from the first bytes only
  (formats.dicom reads the instance);
- Hamamatsu NDPI: tag 65420 in the first IFD;
- Ventana BIF: an XMP packet (tag 700) in the first IFD holding `<iScan`;
- Aperio SVS: ImageDescription starting "Aperio";
- Philips TIFF: Software starting "Philips", ImageDescription XML rooted at
  `<DataObject ObjectType="DPUfsImport">`; each level's stored size is padded to whole
  tiles, so its downsample comes from the XML's per-level DICOM_PIXEL_SPACING;
- Leica SCN: ImageDescription XML in Leica's 2010/10/01 namespace: a collection (the glass
  slide) of images, each with its pyramid levels as `dimension` elements naming their IFD;
  the image covering the whole collection is the macro;
- OME-TIFF: ImageDescription OME-XML (formats.ome reads it).

XML is parsed with xml.etree, a DTD refused; anything malformed means "not that flavor".
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from .tiff import Ifd, TiffError, TiffFile

SOFTWARE, XMP, NDPI_TAG = 305, 700, 65420
MAX_XML = 16 * 1024 * 1024  # Philips keeps its label and macro in the XML, base64
MAX_XMP = 1024 * 1024
MAX_DOWNSAMPLE = 1 << 20
LEICA_NS = "http://www.leica-microsystems.com/scn/2010/10/01"

# What each refused flavor is called, and why it is refused (the 415 message).
# formats.dicom says why an instance is not served, after this.
DICOM_REFUSED = "DICOM WSI instance not served (convert the slide to a tiled pyramidal TIFF)"
REFUSED = {
    "hamamatsu-ndpi": "Hamamatsu NDPI is not supported: its levels are single JPEG streams "
    "that cannot be read by tiles; convert the slide to a tiled pyramidal TIFF",
    "ventana-bif": "Ventana BIF is not supported: its tiles overlap and are stored in "
    "serpentine order; convert the slide to a tiled pyramidal TIFF",
}


class Unsupported(Exception):
    """A recognised flavor this build does not serve (the message names it)."""


def is_dicom(head: bytes) -> bool:
    """A DICOM Part 10 file: a 128-byte preamble, then "DICM"."""
    return head[128:132] == b"DICM"


def flavor(tiff: TiffFile) -> str | None:
    """The scanner layout of a TIFF ("aperio", "philips", "leica", "ome", "hamamatsu-ndpi",
    "ventana-bif"), or None for any other TIFF."""
    first = tiff.pages[0]
    if NDPI_TAG in first.entries:
        return "hamamatsu-ndpi"
    if b"<iScan" in _tag_bytes(tiff, first, XMP, MAX_XMP):
        return "ventana-bif"
    description = tiff.description(first, MAX_XML)
    if description.startswith("Aperio"):
        return "aperio"
    if LEICA_NS in description[:4096]:
        return "leica"
    if "DPUfsImport" in description[:4096] and _tag_bytes(tiff, first, SOFTWARE, 1024).startswith(b"Philips"):
        return "philips"
    if "<OME" in description[:4096]:
        return "ome"
    return None


def refusal(name: str | None) -> str | None:
    """The 415 message for a flavor this build does not serve, else None."""
    return REFUSED.get(name or "")


def _tag_bytes(tiff: TiffFile, ifd: Ifd, tag: int, limit: int) -> bytes:
    entry = ifd.entries.get(tag)
    if entry is None or entry.count > limit:
        return b""
    try:
        return tiff.raw(entry)
    except TiffError:
        return b""


def _xml(text: str) -> ElementTree.Element | None:
    text = text.lstrip()
    if not text.startswith("<") or "<!DOCTYPE" in text:
        return None
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def philips_downsamples(description: str) -> tuple[float, ...] | None:
    """Each level's downsample against level 0, from the pixel spacing Philips records per
    level (rounded to integers, as OpenSlide does: the stored sizes are padded to tiles)."""
    root = _xml(description)
    if root is None or root.tag != "DataObject" or root.get("ObjectType") != "DPUfsImport":
        return None
    wsi = [
        image
        for image in root.iterfind("./Attribute[@Name='PIM_DP_SCANNED_IMAGES']/Array/DataObject")
        if image.findtext("./Attribute[@Name='PIM_DP_IMAGE_TYPE']") == "WSI"
    ]
    if len(wsi) != 1:
        return None
    path = (
        "./Attribute[@Name='PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE']/Array"
        "/DataObject[@ObjectType='PixelDataRepresentation']/Attribute[@Name='DICOM_PIXEL_SPACING']"
    )
    spacings = []
    for node in wsi[0].iterfind(path):
        try:  # "row spacing" "column spacing", in mm, each quoted
            row, column = (float(v.strip('" ')) for v in (node.text or "").split())
        except ValueError:
            return None
        if not (0 < row < math.inf and 0 < column < math.inf):  # NaN too
            return None
        spacings.append((row, column))
    if not spacings:
        return None
    r0, c0 = spacings[0]
    ratios = [(r / r0 + c / c0) / 2 for r, c in spacings]
    if not all(0 < ratio <= MAX_DOWNSAMPLE for ratio in ratios):
        return None
    return tuple(float(round(ratio)) for ratio in ratios)


@dataclass(frozen=True)
class LeicaLayout:
    levels: tuple[int, ...]  # the main image's IFDs, widest first
    macro: int | None  # the macro image's largest IFD


def leica_layout(description: str) -> LeicaLayout | None:
    """The IFDs of a Leica SCN's main image (its levels, z-plane 0) and of its macro. Raises
    Unsupported for a slide with several main images (regions OpenSlide composites onto one
    canvas of the glass slide: not served)."""
    root = _xml(description)
    if root is None or _local(root.tag) != "scn":
        return None
    ns = {"s": LEICA_NS}
    collection = root.find("s:collection", ns)
    if collection is None:
        return None
    main: list[list[tuple[int, int]]] = []
    macro: int | None = None
    try:
        for image in collection.findall("s:image", ns):
            view = image.find("s:view", ns)
            if view is None:
                return None
            dims = [
                (int(d.get("sizeX", "")), int(d.get("ifd", "")))
                for d in image.findall("s:pixels/s:dimension", ns)
                if d.get("z", "0") == "0"
            ]
            dims.sort(reverse=True)
            whole = (view.get("offsetX"), view.get("offsetY")) == ("0", "0") and (
                view.get("sizeX"),
                view.get("sizeY"),
            ) == (collection.get("sizeX"), collection.get("sizeY"))
            if whole and dims:
                macro = dims[0][1]
            elif dims:
                main.append(dims)
    except ValueError:
        return None
    if len(main) > 1:
        raise Unsupported(
            f"Leica SCN with {len(main)} scanned regions is not supported (only slides with one main image)"
        )
    if not main:
        return None
    return LeicaLayout(tuple(ifd for _, ifd in main[0]), macro)
