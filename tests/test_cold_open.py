"""The walk of a page pyramid's directories at open (formats.tiff.open_reads): what it asks
to fetch, round by round, checked against tifffile's reading of the same file."""

from __future__ import annotations

import pytest
import tifffile

from gigatile.formats import tiff
from infra.local_stack import make_pyramid


class Fetched:
    """A file's bytes, of which only the ranges fetched so far can be read."""

    def __init__(self, data: bytes, ranges: list[tuple[int, int]]):
        self.data = data
        self.ranges = ranges

    def read(self, offset: int, length: int, exact: bool = False) -> bytes:
        end = min(offset + length, len(self.data))
        if not any(start <= offset and end <= start + n for start, n in self.ranges):
            raise tiff.NotRead(offset)
        return self.data[offset:end]


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory):
    # Q 85: JPEG tiles in YCbCr with subsampled chroma, as the bench pyramid's.
    return make_pyramid(tmp_path_factory.mktemp("walk") / "pages.tif", 2000, 3000, subifd=False, quality=85, grain=6)


def test_open_reads_fetches_each_directory_once_in_chain_order(pyramid, monkeypatch):
    # A window that holds one directory, not the next: every directory is a round of its own.
    monkeypatch.setattr(tiff, "DIRECTORY_WINDOW", 2048)
    data = pyramid.read_bytes()
    with tifffile.TiffFile(pyramid) as oracle:
        offsets = [page.offset for page in oracle.pages]
        first_tile = (oracle.pages[0].dataoffsets[0], min(oracle.pages[0].databytecounts[0], tiff.FIRST_CHUNK_PROBE))
        assert oracle.pages[0].photometric == tifffile.PHOTOMETRIC.YCBCR
    assert len(offsets) > 3
    fetched = Fetched(data, [(0, 16)])
    rounds = []
    while (wanted := tiff.open_reads(fetched, len(data))).directories:
        # The first tile is known once the first directory is read, and the same every round.
        assert wanted.first_tile == (first_tile if rounds else None)
        rounds.append(wanted.directories)
        fetched.ranges += wanted.directories
        assert len(rounds) <= len(offsets) + 1
    window = tiff.DIRECTORY_WINDOW
    # Each directory once, in chain order, one round each (no tail to guess from).
    assert rounds == [[(offset, window)] for offset in offsets]
    # Everything at hand: nothing more to walk; the first tile is still what libvips reads.
    assert tiff.open_reads(fetched, len(data)) == tiff.OpenReads([], first_tile)


def test_open_reads_of_a_file_whose_directories_are_at_hand_wants_no_directory(pyramid):
    data = pyramid.read_bytes()
    whole = Fetched(data, [(0, len(data))])
    with tifffile.TiffFile(pyramid) as oracle:
        first_tile = (oracle.pages[0].dataoffsets[0], min(oracle.pages[0].databytecounts[0], tiff.FIRST_CHUNK_PROBE))
    assert tiff.open_reads(whole, len(data)) == tiff.OpenReads([], first_tile)


def test_a_directory_beyond_the_next_is_guessed_from_the_level_after_it_in_the_tail(pyramid, monkeypatch):
    monkeypatch.setattr(tiff, "DIRECTORY_WINDOW", 2048)
    window = tiff.DIRECTORY_WINDOW
    data = pyramid.read_bytes()
    with tifffile.TiffFile(pyramid) as oracle:
        offsets = [page.offset for page in oracle.pages]
        first_tile = (oracle.pages[0].dataoffsets[0], min(oracle.pages[0].databytecounts[0], tiff.FIRST_CHUNK_PROBE))
        level_3 = oracle.pages[3].dataoffsets[0]
    # At hand: the header, the first directory and a tail that holds the directories from
    # page 3's on, not page 1's or page 2's.
    tail = (offsets[2] + window, len(data) - offsets[2] - window)
    assert offsets[1] < offsets[2] < tail[0] < offsets[3]
    fetched = Fetched(data, [(0, 16), (offsets[0], window), tail])
    wanted = tiff.open_reads(fetched, len(data), tail)
    # Page 1's directory (from page 0's) and, guessed, the window that ends where page 3's
    # level begins: page 2's directory, which libvips wrote right before it.
    assert wanted == tiff.OpenReads([(offsets[1], window), (level_3 - window, window)], first_tile)
    assert level_3 - window <= offsets[2] < level_3
    fetched.ranges += wanted.directories
    assert tiff.open_reads(fetched, len(data), tail) == tiff.OpenReads([], first_tile)
    # Without the tail, the walk finds page 2's directory a round later.
    fetched = Fetched(data, [(0, 16), (offsets[0], window), tail])
    assert tiff.open_reads(fetched, len(data)) == tiff.OpenReads([(offsets[1], window)], first_tile)


def test_a_tail_no_longer_in_the_cache_gives_no_guess_rather_than_an_error(pyramid, monkeypatch):
    """The tail may leave the block cache between its fetch and the walk (a small cache,
    other requests): the walk then asks for the next directory only."""
    monkeypatch.setattr(tiff, "DIRECTORY_WINDOW", 2048)
    window = tiff.DIRECTORY_WINDOW
    data = pyramid.read_bytes()
    with tifffile.TiffFile(pyramid) as oracle:
        offsets = [page.offset for page in oracle.pages]
    tail = (offsets[2] + window, len(data) - offsets[2] - window)
    half_a_tail = (tail[0] + tail[1] // 2, tail[1] - tail[1] // 2)
    fetched = Fetched(data, [(0, 16), (offsets[0], window), half_a_tail])
    assert tiff.open_reads(fetched, len(data), tail).directories == [(offsets[1], window)]


@pytest.mark.parametrize("count", [1, 10**7])
def test_the_first_tile_fetched_with_the_walk_is_what_libtiff_reads_of_it(pyramid, count):
    """Page 0's first tile offset and byte count are the file's word: the walk fetches at
    most the bytes libtiff's subsampling probe reads, and nothing outside the file."""
    data = bytearray(pyramid.read_bytes())
    whole = Fetched(bytes(data), [(0, len(data))])
    parsed = tiff.TiffFile(whole, len(data))
    first = parsed.pages[0]
    at, value = parsed.first_value_patch(first, tiff.TILE_BYTE_COUNTS, count)
    data[at : at + len(value)] = value
    with tifffile.TiffFile(pyramid) as oracle:
        offset = oracle.pages[0].dataoffsets[0]
    wanted = tiff.open_reads(Fetched(bytes(data), [(0, len(data))]), len(data))
    assert wanted.first_tile == (offset, min(count, tiff.FIRST_CHUNK_PROBE))
    at, value = parsed.first_value_patch(first, tiff.TILE_OFFSETS, len(data) + 5)
    data[at : at + len(value)] = value
    assert tiff.open_reads(Fetched(bytes(data), [(0, len(data))]), len(data)).first_tile is None
