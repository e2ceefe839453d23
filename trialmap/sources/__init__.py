"""One reader per raw format, each returning the same canonical :class:`~trialmap.tables.Tables`."""

from __future__ import annotations

from collections.abc import Callable

from trialmap.errors import SourceFormatError
from trialmap.snapshot import Snapshot
from trialmap.sources import classic, v2
from trialmap.tables import Tables


def _files(snapshot: Snapshot) -> list:
    return [snapshot.file(e["name"]) for e in snapshot.manifest["files"]]


def _v2_pages(snapshot: Snapshot) -> Tables:
    """API pages: the manifest's ``pages`` in order; ``membership_pages`` (incremental) filter them."""
    m = snapshot.manifest
    pages = [snapshot.file(n) for n in m["pages"]] if "pages" in m else _files(snapshot)
    keep = None
    if "membership_pages" in m:
        keep = v2.read_ids(snapshot.file(n) for n in m["membership_pages"])
    return v2.read(pages, keep=keep)


READERS: dict[str, Callable[[Snapshot], Tables]] = {
    classic.FORMAT: lambda s: classic.read(*_files(s)),
    v2.FORMAT_PAGES: _v2_pages,
    v2.FORMAT_INCREMENTAL: _v2_pages,
    v2.FORMAT_EXPORT: lambda s: v2.read(_files(s)),
}


def read_snapshot(snapshot: Snapshot) -> Tables:
    """Read a verified snapshot with the reader its manifest's ``format`` names."""
    reader = READERS.get(snapshot.format)
    if reader is None:
        msg = (
            f"snapshot {snapshot.id} has format {snapshot.format!r}; "
            f"this trialmap reads {', '.join(sorted(READERS))}: upgrade trialmap"
        )
        raise SourceFormatError(msg)
    return reader(snapshot)
