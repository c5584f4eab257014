"""What GDAL (and tools that write its tags) says about a TIFF's values: per-band statistics,
scale and offset (tag 42112, GDAL_METADATA, an XML document), the nodata value (tag 42113,
GDAL_NODATA, ASCII) and whether an extra sample is alpha (ExtraSamples, tag 338).

Read from the parsed directory only: nothing is decoded. A malformed or implausibly long
tag is ignored, as GDAL itself ignores metadata it cannot parse.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from .tiff import Ifd, TiffError, TiffFile

GDAL_METADATA, GDAL_NODATA, EXTRA_SAMPLES = 42112, 42113, 338
MAX_XML = 256 * 1024
ASSOCIATED_ALPHA, UNASSOCIATED_ALPHA = 1, 2  # ExtraSamples values that mean alpha
PLAUSIBLE = (1e-30, 1e30)  # |scale| and |offset| bounds: beyond, a float64 range over- or underflows


@dataclass(frozen=True)
class BandMetadata:
    minimum: float | None = None  # STATISTICS_MINIMUM
    maximum: float | None = None  # STATISTICS_MAXIMUM
    scale: float | None = None
    offset: float | None = None

    @property
    def range(self) -> tuple[float, float] | None:
        if self.minimum is None or self.maximum is None or not self.minimum < self.maximum:
            return None
        return self.minimum, self.maximum

    @property
    def units(self) -> tuple[float, float] | None:
        """(scale, offset) when GDAL says the values stand for value × scale + offset; None
        when it does not, or says something no display range survives (a scale of 0, or one
        so large or small that a range in those units overflows or vanishes)."""
        if self.scale is None and self.offset is None:
            return None
        scale, offset = (1.0 if self.scale is None else self.scale), self.offset or 0.0
        if not (PLAUSIBLE[0] <= abs(scale) <= PLAUSIBLE[1] and abs(offset) <= PLAUSIBLE[1]):
            return None
        return scale, offset


@dataclass(frozen=True)
class GdalMetadata:
    bands: dict[int, BandMetadata] = field(default_factory=dict)  # by 0-based band
    nodata: float | None = None  # NaN when GDAL_NODATA says "nan"
    alpha_samples: tuple[int, ...] = ()  # 0-based sample indices ExtraSamples marks as alpha


def _ascii(tiff: TiffFile, ifd: Ifd, tag: int) -> str | None:
    entry = ifd.entries.get(tag)
    if entry is None or entry.kind != 2 or entry.count > MAX_XML:
        return None
    try:
        return tiff.raw(entry).split(b"\0", 1)[0].decode("latin-1")
    except TiffError:
        return None


def _number(text: str | None) -> float | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _bands(xml: str | None) -> dict[int, BandMetadata]:
    """`<GDALMetadata><Item name="STATISTICS_MINIMUM" sample="0">12.5</Item>…`: the items
    that concern one band's values."""
    if not xml or "<!DOCTYPE" in xml:
        # GDAL writes no DTD; one is only a way to declare entities (nested ones expand a
        # few hundred bytes into gigabytes: expat caps that, but only after megabytes).
        return {}
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return {}
    found: dict[int, dict[str, float]] = {}
    names = {"STATISTICS_MINIMUM": "minimum", "STATISTICS_MAXIMUM": "maximum", "SCALE": "scale", "OFFSET": "offset"}
    for item in root.iter("Item"):
        name, sample = names.get(item.get("name", "").upper()), item.get("sample", "")
        value = _number(item.text)
        if name is None or not sample.isdigit() or value is None:
            continue
        found.setdefault(int(sample), {})[name] = value
    return {band: BandMetadata(**values) for band, values in found.items()}


def read(tiff: TiffFile, ifd: Ifd) -> GdalMetadata:
    nodata_text = (_ascii(tiff, ifd, GDAL_NODATA) or "").strip()
    nodata = math.nan if nodata_text.lower() == "nan" else _number(nodata_text)
    alpha: tuple[int, ...] = ()
    entry = ifd.entries.get(EXTRA_SAMPLES)
    if entry is not None and entry.count <= 256:
        try:
            extra = tiff.values(entry)
        except TiffError:
            extra = ()
        first = ifd.samples - len(extra)  # extra samples are the last ones
        alpha = tuple(first + i for i, kind in enumerate(extra) if kind in (ASSOCIATED_ALPHA, UNASSOCIATED_ALPHA))
    return GdalMetadata(_bands(_ascii(tiff, ifd, GDAL_METADATA)), nodata, alpha)
