"""Exceptions raised by trialmap.

Every expected failure is a :class:`TrialmapError`; the CLI turns one into a
single line on stderr and a non-zero exit. Messages say what happened, what was
expected, what was found, and what to do.

Tree::

    TrialmapError
    ├── SnapshotError
    │   ├── SnapshotNotFoundError     no such snapshot id or folder
    │   ├── SnapshotIntegrityError    a file's sha256 or size differs from the manifest
    │   └── SnapshotExistsError       refusing to overwrite an immutable snapshot
    ├── SourceFormatError             a raw file is not in the format its manifest claims
    ├── BoundariesError               vendored boundaries missing / cannot be rebuilt
    ├── UnknownRegionError            a region name with no membership table
    ├── DefinitionError               a study-set definition file is malformed (names the line)
    └── OutputError                   processed outputs could not be written
"""

from __future__ import annotations


class TrialmapError(Exception):
    """Root of every error trialmap raises on purpose."""


class SnapshotError(TrialmapError):
    """Something is wrong with a raw snapshot."""


class SnapshotNotFoundError(SnapshotError):
    """The requested snapshot does not exist."""


class SnapshotIntegrityError(SnapshotError):
    """A snapshot's files do not match the hashes in its manifest."""


class SnapshotExistsError(SnapshotError):
    """A snapshot with this id already exists; raw data is never overwritten."""


class SourceFormatError(TrialmapError):
    """A raw file cannot be read as the format its manifest declares."""


class BoundariesError(TrialmapError):
    """Country boundaries are missing or cannot be rebuilt."""


class UnknownRegionError(TrialmapError, KeyError):
    """A region name that has no membership table."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class OutputError(TrialmapError):
    """Processed outputs could not be written."""


class DefinitionError(TrialmapError):
    """A study-set definition file is malformed."""
