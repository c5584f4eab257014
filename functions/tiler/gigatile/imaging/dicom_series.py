"""A DICOM WSI series as one image: the instance opened and the others of its series
beside it in its folder (DICOM PS3.3 A.32.8; as wsidicom and OpenSlide open a series
from any one of its files).

A scanner writes each pyramid level as its own instance (ImageType …\\VOLUME\\…) and the
label, overview and thumbnail as instances of their own, all of one SeriesInstanceUID,
usually as files side by side in one folder. Opening any of them:

1. lists the folder (one ListObjectsV2; a folder of more than MAX_FILES objects is not
   searched: the instance alone is served, so opening never costs more than MAX_FILES
   header reads);
2. reads each other object's first block, in parallel, and keeps the DICOM ones of the
   same series (other series, other files: ignored); those it uses cost one more small read
   (the last frame's item header);
3. lays them end to end as one object (sources.joined) and shows libvips a TIFF over it
   (formats.dicom.as_tiff): the VOLUME instances as the levels of one pyramid, largest
   first, each reduced one marked as such; single-frame LABEL, OVERVIEW and THUMBNAIL
   instances as untiled images named "label", "macro" and "thumbnail" (OpenSlide's names).
   formats.levels then reads levels and associated images as it reads any slide TIFF.

The series' version is the set of its objects' ETags (JoinedReader): reads are pinned to
each, so an object replaced or deleted after the open fails the next read of it that is
not cached (503 source_changed) and the series is found again by the next request.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import Forbidden, ImageNotFound
from ..formats import dicom
from ..formats.vendors import is_dicom
from ..observability import logger
from ..sources import budget
from ..sources.base import ObjectVersion
from ..sources.joined import JoinedReader
from ..sources.reader import ObjectReader, VersionReader

MAX_FILES = 64  # objects in the folder searched for the rest of a series
READ_THREADS = 8
ASSOCIATED = {"LABEL": "label", "OVERVIEW": "macro", "THUMBNAIL": "thumbnail"}
Part = tuple[ObjectReader, ObjectVersion, dicom.Instance]


def open_series(reader: ObjectReader, version: ObjectVersion) -> tuple[JoinedReader, dicom.Patches]:
    """The series of the instance `reader` reads, as one object and the patches that show it
    to libvips as a TIFF. Raises DicomError when the instance itself is not served."""
    opened = dicom.parse(VersionReader(reader, version), version.size)
    parts = [(reader, version, opened)] + _others(reader, opened)
    levels = _levels(parts)
    associated: list[tuple[str, Part]] = []
    for part in parts:
        name = ASSOCIATED.get(part[2].kind)
        if name and len(part[2].frames) == 1 and name not in dict(associated):
            associated.append((name, part))
    chosen = levels + [part for _, part in associated]
    joined = JoinedReader(reader.key, [(r, v) for r, v, _ in chosen])
    directories = [dicom.Directory(part[2], joined.starts[k], reduced=k > 0) for k, part in enumerate(levels)]
    directories += [
        dicom.Directory(part[2], joined.starts[len(levels) + k], True, name, striped=True)
        for k, (name, part) in enumerate(associated)
    ]
    return joined, dicom.as_tiff(directories, joined.version().size)


def _levels(parts: list[Part]) -> list[Part]:
    """The VOLUME instances, largest first, each a reduction of the largest (the same
    picture: sides within a pixel of the base's over one factor); one per size. The
    instance opened alone when the series has none (a label opened by itself)."""
    volumes = sorted((p for p in parts if p[2].kind == "VOLUME"), key=lambda p: -p[2].width)
    if not volumes:
        return [parts[0]]
    base = volumes[0][2]
    levels = [volumes[0]]
    for part in volumes[1:]:
        image, last = part[2], levels[-1][2]
        d = base.width / image.width
        if image.width < last.width and abs(base.height / d - image.height) <= 1:
            levels.append(part)
    return levels


def _others(reader: ObjectReader, opened: dicom.Instance) -> list[Part]:
    """The other instances of `opened`'s series in its folder, as far as they are served."""
    if not opened.series or opened.kind not in ("VOLUME", *ASSOCIATED):
        return []  # no SeriesInstanceUID, or not a part of a slide it names: served alone
    folder = reader.key[: reader.key.rfind("/") + 1]
    names = []
    try:
        for entry in reader.store.list(folder):
            if entry.version is not None and folder + entry.name != reader.key:
                names.append(entry.name)
                if len(names) > MAX_FILES:
                    logger.info("dicom series not searched", extra={"folder": folder, "objects": f">{MAX_FILES}"})
                    return []
    except (Forbidden, NotImplementedError):  # not allowed to list: the instance alone
        return []
    spent = budget.current()  # pool threads do not see the request's context

    def candidate(name: str) -> Part | None:
        other = ObjectReader(reader.store, folder + name, reader.cache, reader.block_size, reader.version_ttl)
        with budget.using(spent):
            return _member(other, opened)

    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="gigatile-series") as pool:
        found = list(pool.map(candidate, names))
    return [part for part in found if part is not None]


def _member(reader: ObjectReader, opened: dicom.Instance) -> Part | None:
    """`reader`'s object as an instance of `opened`'s series, or None: another series,
    not DICOM, or not served (its reason is the opened instance's 415 only when opened)."""
    try:
        version = reader.version()  # one GET: the first block, where the data set is
        pinned = VersionReader(reader, version)
        if not is_dicom(pinned.read(0, 132)):
            return None
        series, kind = dicom.identify(pinned, version.size)
        if series != opened.series or kind not in ("VOLUME", *ASSOCIATED):
            return None
        return reader, version, dicom.parse(pinned, version.size)
    except dicom.DicomError:
        return None
    except (ImageNotFound, Forbidden):  # gone since the listing, or not ours to read
        return None
    # Any other failure (S3 unavailable, the read budget) fails the request: a partial
    # series is never kept.
