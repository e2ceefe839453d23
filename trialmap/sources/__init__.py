"""One reader per raw format, each returning the same canonical :class:`~trialmap.tables.Tables`."""

from __future__ import annotations

from collections.abc import Callable

from trialmap.errors import SourceFormatError
from trialmap.snapshot import Snapshot
from trialmap.sources import classic, v2
from trialmap.tables import Tables


def _files(snapshot: Snapshot) -> list:
    return [snapshot.file(e["name"]) for e in snapshot.manifest["files"]]


READERS: dict[str, Callable[[Snapshot], Tables]] = {
    classic.FORMAT: lambda s: classic.read(*_files(s)),
    v2.FORMAT_PAGES: lambda s: v2.read(_files(s)),
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
