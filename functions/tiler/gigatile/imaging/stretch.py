"""The linear display stretch of non-8-bit data (uint16, int16, float32, float64 …): which
bands are shown as grey or RGB, and which value range of each becomes 0…255.

What a request asks (`StretchRequest`, parsed by protocols.params) is completed with the
image's defaults (`Stretch`), decided once per source version:

- bands: 1–3 of an RGB(+extra) image, band 1 of the rest; a band that ExtraSamples marks
  as alpha stays alpha (a 4-band uint16 image's 4th band is not alpha unless it says so);
- range, for TIFFs: GDAL's STATISTICS_MINIMUM / MAXIMUM of each shown band where the file
  has them; else the 2nd–98th percentiles of the valid pixels of the coarsest stored
  level (a central 1024 × 1024 crop of it at most, one range over all shown bands so that
  RGB keeps its balance); else, when those cannot be read within the decode budget, the
  type's range (integers) or 0…1 (floats). Where GDAL gives a band a SCALE / OFFSET,
  ranges (defaults and requested) are in value × scale + offset, as GDAL shows the band.
  Other formats (a 16-bit PNG is a picture) use the type's whole range, and their own alpha;
- nodata (GDAL_NODATA), NaN and ±inf become transparent (the background in JPEG);
- an OME-TIFF's channels (one page each, read as bands): the first three by default, as
  grey (1), red + green (2) or RGB (3), any one or three on request, each over the
  2nd–98th percentiles of its own valid values in the coarsest level (8-bit channels too:
  fluorescence rarely fills the type's range).

8-bit images are left as they are unless a request asks for a stretch.
"""

from __future__ import annotations

import array
import bisect
import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..errors import InvalidParameter
from ..formats import gdal_metadata, stored
from ..formats.tiff import TiffError
from ..vips import vips
from .opened import vips_errors
from .plan import StretchRequest
from .prefetch import window_ranges

TYPE_RANGES = {
    "uchar": (0, 255),
    "char": (-128, 127),
    "ushort": (0, 65535),
    "short": (-32768, 32767),
    "uint": (0, 2**32 - 1),
    "int": (-(2**31), 2**31 - 1),
}
FLOATS = {"float": 3.4028234663852886e38, "double": 1.7976931348623157e308}  # largest finite
STATISTICS_SIDE = 1024  # the coarsest level's central crop that statistics are taken from
CUT = 2  # percent of the valid values left out at each end of a default range (QGIS's 2–98 %)
CUT_BINS = 65535  # histogram bins between the minimum and maximum (libvips counts ushort values)


@dataclass(frozen=True)
class Stretch:
    """A complete stretch for one image."""

    data_type: str  # libvips band format: ushort, short, float …
    bands: tuple[int, ...]  # 0-based, shown as grey (1) or RGB (3)
    ranges: tuple[tuple[float, float], ...]  # one per shown band
    nodata: float | None
    alpha: int | None  # the band that is alpha, if any
    range_from: str  # "gdal", "percentiles", "type" or "request"
    # GDAL's (scale, offset) of each shown band: the ranges are in value × scale + offset
    # (physical units); () when the file gives none (stored values).
    units: tuple[tuple[float, float], ...] = ()

    def describe(self) -> dict:
        return {
            "bands": [b + 1 for b in self.bands],
            "range": [list(r) for r in self.ranges],
            "range_from": self.range_from,
            "range_units": "scaled" if self.units else "stored",
            "scale_offset": [list(u) for u in self.units] or None,
            "nodata": self.nodata,
            "alpha_band": None if self.alpha is None else self.alpha + 1,
        }


@dataclass(frozen=True)
class Defaults:
    """An image's own stretch, and what other bands than its default ones are stretched with."""

    stretch: Stretch
    band_ranges: dict[int, tuple[float, float]]  # GDAL's statistics, by 0-based band
    fallback: tuple[float, float]  # for a band without its own
    band_units: dict[int, tuple[float, float]] = field(default_factory=dict)  # GDAL's (scale, offset)

    def range_of(self, band: int) -> tuple[float, float]:
        """The default range of `band`, in its scaled units where GDAL gives a scale/offset."""
        return scaled(self.band_ranges.get(band, self.fallback), self.band_units.get(band, IDENTITY))

    def units_of(self, bands: tuple[int, ...]) -> tuple[tuple[float, float], ...]:
        if not any(b in self.band_units for b in bands):
            return ()
        return tuple(self.band_units.get(b, IDENTITY) for b in bands)


IDENTITY = (1.0, 0.0)


def scaled(stored_range: tuple[float, float], units: tuple[float, float]) -> tuple[float, float]:
    """A range of stored values as value × scale + offset (in order: a scale may be negative)."""
    scale, offset = units
    low, high = (v * scale + offset for v in stored_range)
    return (low, high) if low <= high else (high, low)


# Defaults per SourceImage (one version of one page, kept while the tiler keeps it).
_defaults: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def defaults(source) -> Defaults | None:
    """The image's own stretch, or None for 8-bit images (shown as they are)."""
    if source not in _defaults:
        _defaults[source] = _default(source)
    return _defaults[source]


def default_stretch(source) -> Stretch | None:
    found = defaults(source)
    return None if found is None else found.stretch


def _default(source) -> Defaults | None:
    base = source.open(source.base_level.options).image
    fallback: tuple[float, float] = TYPE_RANGES.get(base.format, (0.0, 1.0))
    if source.channels:
        return _channel_defaults(source, base.format, base.bands, fallback)
    if base.format == "uchar":
        return None
    if source.tiff is None:  # a 16-bit PNG or the like: a picture, using the type's whole range
        alpha = base.bands - 1 if base.hasalpha() else None
        bands: tuple[int, ...] = (0, 1, 2) if base.bands >= 3 else (0,)
        return Defaults(Stretch(base.format, bands, (fallback,) * len(bands), None, alpha, "type"), {}, fallback)
    metadata = gdal_metadata.read(source.tiff, source.tiff.ifd_for(dict(source.base_level.options)))
    # A lone sample is the picture even when ExtraSamples calls it alpha (found by the fuzzer:
    # nothing was left to show).
    alpha = next((b for b in metadata.alpha_samples if b < base.bands), None) if base.bands > 1 else None
    colour = [b for b in range(base.bands) if b != alpha]
    bands = tuple(colour[:3]) if len(colour) >= 3 else tuple(colour[:1])
    band_ranges = {b: r for b, m in metadata.bands.items() if (r := m.range) is not None}
    band_units = {b: u for b, m in metadata.bands.items() if (u := m.units) is not None}
    if all(b in band_ranges for b in bands):
        range_from = "gdal"
    else:
        found = _statistics(source, bands, metadata.nodata)
        range_from = "percentiles" if found else "type"
        fallback = found or fallback
    own = Defaults(
        Stretch(base.format, bands, (), metadata.nodata, alpha, range_from), band_ranges, fallback, band_units
    )
    stretch = replace(own.stretch, ranges=tuple(own.range_of(b) for b in bands), units=own.units_of(bands))
    return replace(own, stretch=stretch)


def _channel_defaults(source, data_type: str, bands: int, fallback: tuple[float, float]) -> Defaults:
    """An OME-TIFF's channels (read as bands): the first three shown, each over its own
    valid values; the others' ranges are found when a request first shows them."""
    shown = tuple(range(min(bands, 3)))
    found = [_statistics(source, (b,), None) for b in shown]
    ranges = tuple(r or fallback for r in found)
    range_from = "percentiles" if all(found) else "type"
    return Defaults(Stretch(data_type, shown, ranges, None, None, range_from), dict(enumerate(ranges)), fallback)


def _statistics(source, bands: tuple[int, ...], nodata: float | None) -> tuple[float, float] | None:
    """The 2nd and 98th percentiles of the valid values of `bands` together, in the coarsest
    stored level (its central crop of at most STATISTICS_SIDE² pixels): as QGIS's default
    "cumulative count cut", so that a few outliers (hot pixels, a stray peak) do not grey
    out the rest. Found from a histogram of CUT_BINS bins between the values' minimum and
    maximum (libvips counts only 8- and 16-bit values), so exact to (max − min) / CUT_BINS.
    None when there are no valid values, they are all equal, or reading them is over the
    decode budget."""
    level = source.levels[-1]
    if source.tiff is not None:
        try:
            ifd = source.tiff.ifd_for(dict(level.options))
            if stored.decoded_at_once(source.tiff, ifd) > source.max_decode_pixels:
                return None
        except TiffError:
            return None
    opened = source.open(level.options)
    width, height = min(opened.image.width, STATISTICS_SIDE), min(opened.image.height, STATISTICS_SIDE)
    left, top = (opened.image.width - width) // 2, (opened.image.height - height) // 2
    if source.tiff is not None:  # the crop's stored tiles in a few merged GETs, not one GET each
        try:
            ifds = source.tiff.ifds_for(dict(level.options))
        except TiffError:
            ifds = []
        ifds = [ifds[b] for b in bands if b < len(ifds)] if len(ifds) > 1 else ifds
        window = (left, top, left + width, top + height)
        ranges = window_ranges(source, ifds, window, at_least=2) if ifds else []
        if ranges:
            source.reader.prefetch(ranges, source.version)
    images = [opened.band(b).crop(left, top, width, height) for b in bands]
    # All bands as one: the bands side by side (one range for all keeps RGB's balance).
    values = vips().Image.arrayjoin(images, across=len(images)) if len(images) > 1 else images[0]
    valid = _valid([values], nodata)
    with vips_errors(*(each.source for each in opened.reads)):
        if valid is None:
            low, high = values.min(), values.max()
        else:  # invalid pixels pushed past the other end, so that min and max skip them
            if valid.max() == 0:
                return None
            big = FLOATS["double"]
            low = valid.ifthenelse(values, big).min()
            high = valid.ifthenelse(values, -big).max()
        if not low < high:
            return None
        # Valid values as bins 1…CUT_BINS (bin 0: invalid), counted by libvips.
        k = (CUT_BINS - 1) / (high - low)
        binned = values.linear(k, 1.5 - low * k).cast("ushort")  # + 0.5: rounded, not truncated
        if valid is not None:
            binned = valid.ifthenelse(binned, 0)
        counts = array.array("I", bytes(binned.hist_find().cast("uint").write_to_memory()))
    cut = _cut(counts[1 : CUT_BINS + 1])
    if cut is None:
        return float(low), float(high)
    found = (low + cut[0] / k, low + cut[1] / k)
    # Integers' bins hold one value each where the range is under CUT_BINS: that value.
    return tuple(map(round, found)) if values.format in TYPE_RANGES else found  # type: ignore[return-value]


def _cut(counts) -> tuple[int, int] | None:
    """The bins (0-based) where the cumulative count first reaches CUT percent and 100 −
    CUT percent of the total, or None when they are the same bin."""
    running = list(itertools.accumulate(counts))
    total = running[-1]
    low = bisect.bisect_left(running, total * CUT / 100)
    high = bisect.bisect_left(running, total * (100 - CUT) / 100)
    return (low, high) if low < high else None


def resolve(source, asked: StretchRequest | None) -> Stretch | None:
    """The stretch to apply: the request's choices over the image's defaults; None when the
    image is 8-bit and nothing is asked. Bands and ranges that do not fit the image are 400."""
    own = defaults(source)
    if asked is None:
        return None if own is None else own.stretch
    image = source.open(source.base_level.options).image
    if own is None:  # 8-bit, stretched only because it is asked
        stretch = Stretch(image.format, (0, 1, 2) if image.bands >= 3 else (0,), (), None, None, "type")
        own = Defaults(stretch, {}, TYPE_RANGES["uchar"])
    default = own.stretch
    bands = asked.bands or default.bands
    if any(b >= image.bands for b in bands):
        if source.channels and len(source.channels) > image.bands:
            raise InvalidParameter(
                f"stretch: channel {max(bands) + 1} is beyond the first {image.bands} of this image's "
                f"{len(source.channels)} channels, the ones that can be shown"
            )
        raise InvalidParameter(f"stretch: band {max(bands) + 1} is beyond this image's {image.bands} bands")
    if source.channels:  # a channel shown for the first time: its own range, found once
        for b in bands:
            if b not in own.band_ranges:
                own.band_ranges[b] = _statistics(source, (b,), None) or own.fallback
    if asked.ranges is None:
        ranges = tuple(own.range_of(b) for b in bands)
        range_from = default.range_from
    elif len(asked.ranges) in (1, len(bands)):
        ranges = asked.ranges * len(bands) if len(asked.ranges) == 1 else asked.ranges
        range_from = "request"
    else:
        raise InvalidParameter(f"stretch: {len(asked.ranges)} ranges for {len(bands)} bands (give 1 or {len(bands)})")
    alpha = default.alpha if default.alpha not in bands else None
    return Stretch(default.data_type, bands, ranges, default.nodata, alpha, range_from, own.units_of(bands))


def _bandjoin(images: list):
    return images[0] if len(images) == 1 else images[0].bandjoin(images[1:])


def _valid(bands: list, nodata: float | None):
    """A 1-band uchar image, 255 where every one of `bands` (1-band images) holds a value
    (not nodata, NaN or ±inf), or None when every pixel does."""
    tests = []
    for band in bands:
        if band.format in FLOATS:  # NaN is not equal to itself; inf is beyond the largest finite
            tests.append((band == band) & (band.abs() <= FLOATS[band.format]))
        if nodata is not None and nodata == nodata:
            tests.append(band != nodata)
    if not tests:
        return None
    valid = tests[0]
    for test in tests[1:]:
        valid = valid & test
    return valid


def apply(image, stretch: Stretch, band: Callable | None = None):
    """`image` (a stored level, any band format) as 8-bit grey or sRGB, with alpha where
    pixels are invalid or the image has an alpha band. `band(b)`: band b on its own (an
    open image's, imaging.opened: an OME channel's page), by default `image[b]`."""
    band = band or (lambda b: image[b])
    chosen = [band(b) for b in stretch.bands]
    shown = _bandjoin(chosen)
    # value × s + o in lo…hi → 0…255: one linear map of the stored value per band.
    units = stretch.units or (IDENTITY,) * len(stretch.bands)
    spans = [255 / (hi - lo) for lo, hi in stretch.ranges]
    scale = [s * k for (s, _), k in zip(units, spans, strict=True)]
    offset = [(o - lo) * k for (_, o), (lo, _), k in zip(units, stretch.ranges, spans, strict=True)]
    out = shown.linear(scale, offset, uchar=True)  # clipped to 0…255
    if out.bands == 2:  # two channels: red and green
        out = out.bandjoin(0)
    valid = _valid(chosen, stretch.nodata)
    if valid is not None:
        out = valid.ifthenelse(out, 0)  # NaN would become 255 (libvips casts it so)
    alpha = valid
    if stretch.alpha is not None:
        high = TYPE_RANGES.get(image.format, (0, 1))[1]
        own = image[stretch.alpha].linear(255 / high, 0, uchar=True)
        alpha = own if alpha is None else alpha.ifthenelse(own, 0)
    out = out.copy(interpretation="srgb" if out.bands == 3 else "b-w")
    return out if alpha is None else out.bandjoin(alpha)
