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
    ├── GazetteerError                gazetteer index missing / unreadable / cannot be rebuilt
    ├── OverridesError                a user's coordinate overrides file is malformed
    ├── UnknownRegionError            a region name with no membership table
    ├── OutputError                   processed outputs could not be written
    ├── ArgumentError                 a library argument / CLI option has a value trialmap cannot use
    ├── DefinitionError               a study-set definition file is malformed (names the line)
    ├── QueryError                    an API query file is malformed or names an unknown parameter
    └── FetchError                    fetching from the ClinicalTrials.gov API failed (no snapshot written)
        ├── ApiUnavailableError       cannot connect, timed out (per read or the per-request deadline),
        │                             or 429/5xx after every retry
        ├── ApiRefusedError           HTTP 403 twice (the second time over TLS 1.2): the API refuses
        │                             this client (bot protection); use a website download instead
        ├── ApiResponseError          the answer breaks the protocol: 4xx, bad JSON, paging/count mismatch
        │   └── ResponseTooLargeError one response body exceeded the byte limit (max_bytes)
        └── TooManyStudiesError       the query matches more studies than the size guard allows

``ValueError`` is also raised, by library functions, for an argument out of its
range (e.g. ``fetch_full(page_size=0)``); the message names the argument.
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


class GazetteerError(TrialmapError):
    """The offline gazetteer index is missing, unreadable or cannot be rebuilt."""


class OverridesError(TrialmapError):
    """A user-supplied coordinate overrides file is malformed."""


class UnknownRegionError(TrialmapError, KeyError):
    """A region name that has no membership table."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class OutputError(TrialmapError):
    """Processed outputs could not be written."""


class DefinitionError(TrialmapError):
    """A study-set definition file is malformed."""


class QueryError(TrialmapError):
    """An API query file is malformed or names a parameter the API does not define."""


class FetchError(TrialmapError):
    """Fetching from the ClinicalTrials.gov API failed; no snapshot was written."""


class ApiUnavailableError(FetchError):
    """The API could not be reached or kept failing (connection, timeout, 403/429/5xx)."""


class ApiRefusedError(FetchError):
    """The API answered HTTP 403 again after one retry over TLS 1.2: it refuses this client.

    The service in front of ClinicalTrials.gov has refused Python HTTP clients with a
    persistent 403 (bot protection keyed on the TLS fingerprint or the User-Agent);
    retrying longer does not help. The CLI falls back to the newest local snapshot
    (unless ``--require-fresh``); the message says how to get the data instead.
    """


class ApiResponseError(FetchError):
    """The API answered, but not as its protocol says (4xx, invalid JSON, paging or count mismatch)."""


class ResponseTooLargeError(ApiResponseError):
    """One response body was larger than the client's byte limit (``Client(max_bytes=...)``)."""


class TooManyStudiesError(FetchError):
    """The query matches more studies than the size guard allows."""


class ArgumentError(TrialmapError):
    """An argument (``rule=``, ``as_of=``...) or its CLI option has a value trialmap cannot use."""
