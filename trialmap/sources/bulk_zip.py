"""Reader for the API's bulk download, ``GET /api/v2/studies/download?format=json.zip``.

The download (which replaced AllPublicXML) is one zip file with one JSON study per
member, each in the schema of ``GET /api/v2/studies/{nctId}``: about 600,000 studies,
2.7 GB zipped and 10 GB of JSON (2026). It is kept byte for byte as a snapshot of its
own format (:data:`FORMAT`) and read without extracting it:

* The members are listed from the zip's central directory; every member whose name
  ends in ``.json`` is expected to be a study. Any other member (a folder entry, a
  README) is a *non-study member*: listed in the report, not read.
* Members are read straight from the file in batches (their local header, their
  deflated bytes, one ``zlib`` call, the CRC-32 and size checked against the
  directory), and each batch's JSON is decoded by pyarrow's JSON reader into Arrow
  arrays of only the fields the tables need (the v2 reader's
  :func:`~trialmap.sources.v2.study_schema`); the rest of each record is skipped.
  Two batches are in flight at once, in threads (zlib and pyarrow release the GIL).
* A member whose bytes do not match the directory (CRC, size, unknown compression) or
  whose text is not JSON is *damaged*; a ``.json`` member that is JSON but not a study
  object with ``protocolSection.identificationModule.nctId`` is a *non-study member*.
  Nothing about either is guessed: damaged members make the read fail with every one
  of them named (download the file again); non-study members are logged and listed in
  :attr:`Report.non_study`.
"""

from __future__ import annotations

import json
import logging
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trialmap.errors import SourceFormatError
from trialmap.sources import v2
from trialmap.sources.common import Columns, arrow_to_tables, concat_arrow
from trialmap.tables import Tables

log = logging.getLogger(__name__)

FORMAT = "ctgov-v2-bulk-json-zip"
BATCH_BYTES = 16 << 20  # uncompressed JSON per batch
_LOCAL = struct.Struct("<4s5H3L2H")
_LOCAL_SIG = b"PK\x03\x04"


@dataclass
class Report:
    """What a read found besides studies."""

    studies: int = 0
    json_bytes: int = 0
    non_study: list[tuple[str, str]] = field(default_factory=list)  # (member, why)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (member, why)


def is_json_zip(path: Path) -> bool:
    """Whether ``path`` starts like a zip file (local header or empty archive)."""
    with open(path, "rb") as fh:
        return fh.read(4) in (_LOCAL_SIG, b"PK\x05\x06")


def members(path: Path) -> tuple[list[zipfile.ZipInfo], list[tuple[str, str]]]:
    """The study members (``*.json``) of the zip in file order, and the other members with why.

    Raises
    ------
    SourceFormatError
        If the file is not a readable zip (no central directory: truncated or not a zip).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        msg = f"{Path(path).name} is not a readable zip file ({exc}); download it again"
        raise SourceFormatError(msg) from exc
    study, other = [], []
    for info in infos:
        if info.is_dir():
            other.append((info.filename, "folder entry"))
        elif not info.filename.lower().endswith(".json"):
            other.append((info.filename, "not a .json member"))
        else:
            study.append(info)
    study.sort(key=lambda i: i.header_offset)
    return study, other


def _member_bytes(fh: Any, info: zipfile.ZipInfo) -> bytes:
    """One member's uncompressed bytes, checked against the central directory; ValueError if damaged."""
    fh.seek(info.header_offset)
    head = fh.read(_LOCAL.size)
    if len(head) != _LOCAL.size or head[:4] != _LOCAL_SIG:
        msg = "no local header where the directory points"
        raise ValueError(msg)
    name_len, extra_len = _LOCAL.unpack(head)[-2:]
    fh.seek(name_len + extra_len, 1)
    raw = fh.read(info.compress_size)
    if len(raw) != info.compress_size:
        msg = f"truncated: {len(raw)} of {info.compress_size} bytes"
        raise ValueError(msg)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        try:
            data = zlib.decompress(raw, -15)
        except zlib.error as exc:
            msg = f"deflate data damaged ({exc})"
            raise ValueError(msg) from None
    elif info.compress_type == zipfile.ZIP_STORED:
        data = raw
    else:
        msg = f"compression method {info.compress_type} (this reader knows stored and deflate)"
        raise ValueError(msg)
    if len(data) != info.file_size:
        msg = f"{len(data)} bytes where the directory says {info.file_size}"
        raise ValueError(msg)
    if zlib.crc32(data) != info.CRC:
        msg = "CRC-32 does not match the directory"
        raise ValueError(msg)
    return data


def _batches(infos: list[zipfile.ZipInfo], limit: int = BATCH_BYTES) -> Iterator[list[zipfile.ZipInfo]]:
    batch, size = [], 0
    for info in infos:
        batch.append(info)
        size += info.file_size
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _read_batch(path: Path, batch_no: int, infos: list[zipfile.ZipInfo]) -> tuple[dict[str, Any], Report]:
    """One batch of members -> raw Arrow tables (records numbered batch_no << 32 + k) and its report."""
    report = Report()
    names, blobs = [], []
    with open(path, "rb", buffering=0) as fh:
        for info in infos:
            try:
                blobs.append(_member_bytes(fh, info))
                names.append(info.filename)
            except ValueError as exc:
                report.damaged.append((info.filename, str(exc)))
    report.json_bytes = sum(map(len, blobs))
    rec0 = batch_no << v2.REC_BITS
    tables = None
    if blobs:  # the members' JSON, one after the other
        table = v2.decode_json(b"\n".join(blobs), v2.study_record_schema())
        if table is not None and table.num_rows == len(blobs):
            studies = table.to_struct_array().combine_chunks()
            ids = v2.arrow_field(studies, "protocolSection", "identificationModule", "nctId")
            if ids.null_count == 0:
                tables = v2.flatten(studies, rec0, path.name)
    if tables is None:  # something in the batch is not a typed study: member by member
        tables = _read_members(names, blobs, rec0, report)
    report.studies = tables["studies"].num_rows
    return tables, report


def _read_members(names: list[str], blobs: list[bytes], rec0: int, report: Report) -> dict[str, Any]:
    """The generic path for a batch: each member decoded on its own, so that the one at fault is named."""
    parts = []
    for k, (name, data) in enumerate(zip(names, blobs, strict=True)):
        table = v2.decode_json(data, v2.study_record_schema())
        if table is not None and table.num_rows == 1:
            studies = table.to_struct_array().combine_chunks()
            ids = v2.arrow_field(studies, "protocolSection", "identificationModule", "nctId")
            if ids.null_count == 0:
                parts.append(v2.flatten(studies, rec0 + k, name))
                continue
        try:
            study = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            report.damaged.append((name, f"not valid JSON ({exc})"))
            continue
        if not isinstance(study, dict) or v2._nct(study) is None:
            kind = type(study).__name__ if not isinstance(study, dict) else "object"
            report.non_study.append((name, f"JSON {kind} without protocolSection.identificationModule.nctId"))
            continue
        cols = Columns()
        v2._collect(study, cols.cols, rec0 + k)
        parts.append(cols.arrow())
    return concat_arrow(parts)


def read(path: Path | str, report: Report | None = None) -> Tables:
    """Read a bulk ``json.zip`` download into canonical tables.

    Parameters
    ----------
    path
        The zip file as downloaded.
    report
        Filled with the counts, the non-study members and (if the read fails) the damaged
        members.

    Raises
    ------
    SourceFormatError
        If the file is not a zip, or any member is damaged (all of them are named).
    """
    path = Path(path)
    report = report if report is not None else Report()
    infos, other = members(path)
    report.non_study.extend(other)
    batches = list(enumerate(_batches(infos)))
    if len(batches) > 1 and v2.workers() > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(v2.workers()) as pool:
            results = list(pool.map(lambda job: _read_batch(path, *job), batches))
    else:
        results = [_read_batch(path, *job) for job in batches]
    for _, r in results:
        report.studies += r.studies
        report.json_bytes += r.json_bytes
        report.non_study.extend(r.non_study)
        report.damaged.extend(r.damaged)
    if report.damaged:
        shown = "; ".join(f"{n}: {why}" for n, why in report.damaged[:5])
        more = f" (and {len(report.damaged) - 5} more)" if len(report.damaged) > 5 else ""
        msg = (f"{path.name}: {len(report.damaged)} damaged member(s): {shown}{more}; "
               "the download is incomplete or corrupted: download it again")
        raise SourceFormatError(msg)
    if report.non_study:
        shown = ", ".join(f"{n} ({why})" for n, why in report.non_study[:5])
        log.warning("%s: %d member(s) that are not studies were not read: %s%s", path.name,
                    len(report.non_study), shown, " ..." if len(report.non_study) > 5 else "")
    arrow = v2._newest_versions(concat_arrow([t for t, _ in results]), None)
    del results  # so that arrow_to_tables frees each batch's chunks once they are combined
    return arrow_to_tables(arrow)


def count_studies(path: Path) -> tuple[int, int]:
    """(study members, other members) from the central directory alone (for ``trialmap import``)."""
    infos, other = members(Path(path))
    return len(infos), len(other)
