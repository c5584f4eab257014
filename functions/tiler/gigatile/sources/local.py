"""A local folder as a store: same interface and caching path as S3."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ..errors import Forbidden, ImageNotFound, SourceChanged
from .base import Entry, ObjectVersion, Store


def _version(st: os.stat_result) -> ObjectVersion:
    return ObjectVersion(
        size=st.st_size,
        # Size, mtime and inode change when the file is replaced or rewritten.
        etag=hashlib.sha1(f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}".encode()).hexdigest()[:20],
        last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


class LocalStore(Store):
    remote = False

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.name = f"file://{self.folder}"

    def key_for(self, image_id: str) -> str:
        return image_id

    def _path(self, key: str) -> Path:
        try:
            path = (self.folder / key).resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop, on older Pythons
            raise ImageNotFound(f"no such image: {key}") from None
        if not path.is_relative_to(self.folder):
            raise Forbidden("image id resolves outside the source folder")
        return path

    def fetch(self, key: str, start: int, end: int, etag: str | None) -> tuple[bytes, ObjectVersion]:
        path = self._path(key)
        try:
            with path.open("rb") as f:
                version = _version(os.fstat(f.fileno()))
                if etag is not None and etag != version.etag:
                    raise SourceChanged(f"{key} changed while being read")
                f.seek(start)
                return f.read(max(0, end - start + 1)), version
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ImageNotFound(f"no such image: {key}") from None
        except PermissionError:
            raise Forbidden(f"not allowed to read {key}") from None
        except OSError as exc:  # a name too long for the file system, a symlink loop…
            raise ImageNotFound(f"no such image: {key} ({exc.strerror})") from None

    def list(self, folder: str) -> Iterator[Entry]:
        """Files and sub-folders of `folder` ("" or ending "/"), sorted by name as S3 sorts
        keys (a folder as its name + "/"); names starting with "." are left out."""
        path = self._path(folder) if folder else self.folder
        try:
            found = [e for e in os.scandir(path) if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return
        except PermissionError:
            raise Forbidden(f"not allowed to list {folder}") from None
        entries = []
        for item in found:
            try:
                if item.is_dir():
                    entries.append(Entry(item.name, None))
                elif item.is_file():
                    entries.append(Entry(item.name, _version(item.stat())))
            except OSError:  # removed meanwhile, or a dangling symlink
                continue
        entries.sort(key=lambda e: (e.name + ("" if e.version else "/")).encode())
        yield from entries
