"""One reader per raw format, each returning the same canonical :class:`~trialmap.tables.Tables`."""

from __future__ import annotations

from trialmap.errors import SourceFormatError
from trialmap.snapshot import Snapshot
from trialmap.sources import classic
from trialmap.tables import Tables

READERS = {classic.FORMAT: classic.read}


def read_snapshot(snapshot: Snapshot) -> Tables:
    """Read a verified snapshot with the reader its manifest's ``format`` names."""
    reader = READERS.get(snapshot.format)
    if reader is None:
        msg = (
            f"snapshot {snapshot.id} has format {snapshot.format!r}; "
            f"this trialmap reads {', '.join(sorted(READERS))}: upgrade trialmap"
        )
        raise SourceFormatError(msg)
    (data_file,) = (e["name"] for e in snapshot.manifest["files"])
    return reader(snapshot.file(data_file))
