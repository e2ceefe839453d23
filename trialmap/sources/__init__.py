"""One reader per raw format, each returning the same canonical :class:`~trialmap.tables.Tables`.

Formats (a snapshot manifest's ``format``):

- ``ctgov-classic-full-studies-tar``: classic API ``full_studies`` records in a tar.gz
- ``ctgov-v2-api-pages``: pages of ``GET /api/v2/studies``
- ``ctgov-v2-json-export``: the current website's "Download JSON" (a bare array)
- ``ctgov-v2-bulk-json-zip``: the API's bulk download ``/studies/download?format=json.zip``
- ``ctgov-website-csv-classic``: the classic website's "SearchResults.csv"
- ``ctgov-website-csv-v2``: the current website's CSV download
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trialmap.errors import SourceFormatError
from trialmap.snapshot import FORMAT_INCREMENTAL, FORMAT_PAGES, Snapshot
from trialmap.sources import bulk_zip, classic, v2, website_csv
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


def _website_csv(snapshot: Snapshot) -> Tables:
    files = _files(snapshot)
    if len(files) != 1:
        msg = f"snapshot {snapshot.id}: a website CSV snapshot holds one file, not {len(files)}"
        raise SourceFormatError(msg)
    return website_csv.read(files[0], snapshot.manifest.get("registry_data_date"))


READERS: dict[str, Callable[[Snapshot], Tables]] = {
    classic.FORMAT: lambda s: classic.read(*_files(s)),
    FORMAT_PAGES: _v2_pages,
    FORMAT_INCREMENTAL: _v2_pages,
    v2.FORMAT_EXPORT: lambda s: v2.read(_files(s)),
    bulk_zip.FORMAT: lambda s: bulk_zip.read(*_files(s)),
    website_csv.FORMAT_CLASSIC: _website_csv,
    website_csv.FORMAT_V2: _website_csv,
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


_SHORT = {
    website_csv.FORMAT_CLASSIC: "website-csv-classic",
    website_csv.FORMAT_V2: "website-csv",
    v2.FORMAT_EXPORT: "website-json",
    FORMAT_PAGES: "api-v2-page",
    bulk_zip.FORMAT: "api-v2-bulk-json-zip",
}


def detect_download_format(path: Path) -> tuple[str, int]:
    """The format of a file downloaded by hand, and how many studies it holds.

    CSVs are told apart by their header row (see
    :func:`trialmap.sources.website_csv.detect_format`); JSON is the website's
    "Download JSON" export (a list of v2 study objects) or a saved API v2 page.

    Raises
    ------
    SourceFormatError
        If the file is neither.
    """
    import csv
    import io
    import json

    path = Path(path)
    if bulk_zip.is_json_zip(path):  # the API's bulk download: counted from the zip's directory
        return bulk_zip.FORMAT, bulk_zip.count_studies(path)[0]
    raw = path.read_bytes()
    if raw.lstrip(b"\xef\xbb\xbf \r\n\t")[:1] in (b"[", b"{"):
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            msg = f"{path.name} looks like JSON but is not valid JSON ({exc}); download it again"
            raise SourceFormatError(msg) from exc
        if isinstance(data, list) and data and all(isinstance(s, dict) and "protocolSection" in s
                                                   for s in data):
            return v2.FORMAT_EXPORT, len(data)
        if isinstance(data, dict) and isinstance(data.get("studies"), list):
            return FORMAT_PAGES, len(data["studies"])
        msg = f"{path.name} is JSON but not a ClinicalTrials.gov export (a list of v2 study objects)"
        raise SourceFormatError(msg)
    from trialmap.csvfile import read_rows

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{path.name} is neither JSON nor UTF-8 CSV ({exc})"
        raise SourceFormatError(msg) from exc
    try:
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    except csv.Error:
        header = []
    if website_csv.detect_format(header) is None:
        msg = (
            f"{path.name} is not a ClinicalTrials.gov download: expected the website's CSV "
            "(classic 'SearchResults.csv' or the current one) or its JSON export"
        )
        raise SourceFormatError(msg)
    # Strict: a row with more fields than the header, or a field over the limit, is one line.
    header, rows, _ = read_rows(path, "website CSV", SourceFormatError, text=text)
    return website_csv.detect_format(header), len(rows)


def import_download(
    path: Path | str,
    raw_dir: Path | str,
    snapshot_id: str | None = None,
    downloaded: str | None = None,
) -> Snapshot:
    """Make a snapshot from a file downloaded by hand from the ClinicalTrials.gov website.

    The file is kept byte for byte; the manifest says it was a manual
    download, when (``downloaded``, default: the file's modification date),
    in which format (detected from its header) and how many studies it holds.

    Parameters
    ----------
    path
        The CSV or JSON file as downloaded.
    raw_dir
        The raw store (``data/raw``).
    snapshot_id
        Default: ``<kind>-<downloaded>-<first 8 hex of sha256>``.
    downloaded
        "YYYY-MM-DD": when it was downloaded, which is the registry data date
        the website served.

    Raises
    ------
    SourceFormatError
        If the file is not a recognised download or holds no study.
    ValueError
        If ``downloaded`` is not a YYYY-MM-DD date or lies in the future.
    SnapshotExistsError
        If the snapshot id is taken.
    SnapshotError
        If the snapshot cannot be written (e.g. the disk is full); nothing is left behind.
    """
    from datetime import UTC, date, datetime, timedelta

    from trialmap.snapshot import sha256_file, write_snapshot

    path = Path(path)
    if not path.is_file():
        msg = f"{path} does not exist or is not a file"
        raise SourceFormatError(msg)
    fmt, n = detect_download_format(path)
    if n == 0:
        msg = (
            f"{path.name} holds no study (a header only, or an empty list): a snapshot of 0 studies "
            "would map nothing; download the search results again"
        )
        raise SourceFormatError(msg)
    if downloaded is None:
        downloaded = datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
        when = "file modification date (no --downloaded given)"
    else:
        try:
            downloaded = datetime.strptime(downloaded, "%Y-%m-%d").date().isoformat()
        except ValueError:
            msg = f"downloaded={downloaded!r} is not a date in YYYY-MM-DD form, e.g. 2026-04-03"
            raise ValueError(msg) from None
        when = "given by the user"
    # A day of slack: the user's calendar may be ahead of UTC.
    latest = max(date.today(), datetime.now(UTC).date()) + timedelta(days=1)
    if date.fromisoformat(downloaded) > latest:
        msg = (
            f"the download date {downloaded} is in the future (today is {date.today().isoformat()}); "
            "give the day the file was downloaded with --downloaded YYYY-MM-DD"
        )
        raise ValueError(msg)
    digest = sha256_file(path)
    snapshot_id = snapshot_id or f"{_SHORT[fmt]}-{downloaded}-{digest[:8]}"
    name = path.name if path.name != "manifest.json" else "download.json"
    manifest = {
        "format": fmt,
        "title": f"ClinicalTrials.gov website download {path.name}, {downloaded}",
        "source": {
            "registry": "ClinicalTrials.gov",
            "obtained": "manual download from the ClinicalTrials.gov website",
            "original_filename": path.name,
        },
        "manual_download": True,
        "downloaded": downloaded,
        "downloaded_from": when,
        "registry_data_date": downloaded,
        "registry_data_date_note": "the date of the download: the website serves the current data",
        "record_count": n,
        "created_utc": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "synthetic": False,
        "attribution": (
            "Data: ClinicalTrials.gov (U.S. National Library of Medicine), downloaded "
            f"{downloaded}. U.S. government public data."
        ),
    }
    return write_snapshot(Path(raw_dir), snapshot_id, [(name, path)], manifest)
