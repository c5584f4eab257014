"""The interface every store implements: fetch a byte range of one object version."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ObjectVersion:
    size: int
    etag: str  # without quotes
    last_modified: datetime | None


@dataclass(frozen=True)
class Entry:
    """One name in a folder listing: an object (with its version) or a sub-folder."""

    name: str  # relative to the listed folder; a sub-folder's without its trailing "/"
    version: ObjectVersion | None  # None for a sub-folder


class Store(ABC):
    """A place holding objects addressed by key; `name` makes cache keys unique across stores."""

    name: str
    # Whether a fetch waits for a network round trip (S3): only then is it worth fetching
    # ahead what an open will read (a local file answers a read in microseconds).
    remote = True

    @abstractmethod
    def key_for(self, image_id: str) -> str:
        """Map a validated image id to this store's key (prefix applied)."""

    def warm(self) -> None:
        """Create now what the first fetch would (a client, its connections); none by default."""
        return None

    @abstractmethod
    def fetch(self, key: str, start: int, end: int, etag: str | None) -> tuple[bytes, ObjectVersion]:
        """Bytes start..end inclusive (clipped to the object) and the version they belong to.

        With `etag`, the read is pinned to that version: raises SourceChanged if the
        object is now another one. Raises ImageNotFound, Forbidden, UpstreamError,
        UpstreamUnavailable; returns b"" with size 0 for an empty object.
        """

    def list(self, folder: str) -> Iterator[Entry]:
        """The objects and sub-folders directly in `folder` (a key prefix, "" or ending with
        "/"), in key order, read page by page as the caller iterates (stop early to read less).

        A folder that does not exist lists nothing. Raises Forbidden, UpstreamError,
        UpstreamUnavailable.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list a folder")
