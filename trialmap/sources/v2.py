"""Reader for the API v2 data model (camelCase ``protocolSection`` / ``derivedSection``).

Two containers hold the same study objects: pages of ``GET /api/v2/studies``
(``{"studies": [...], "nextPageToken": ..., "totalCount": ...}``) and the
website's "Download JSON" export (a bare array). Both are accepted, one file or
many; sites keep the registry's ``geoPoint`` with ``geo_source`` "registry".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from trialmap.errors import SourceFormatError
from trialmap.sources.common import (
    Columns,
    arrow_field,
    arrow_join,
    arrow_list_items,
    arrow_repeat,
    arrow_tables,
    arrow_to_tables,
    concat_arrow,
    join,
    number,
)
from trialmap.tables import Tables

log = logging.getLogger(__name__)

FORMAT_EXPORT = "ctgov-v2-json-export"


def iter_studies(path: Path, raw: bytes | None = None) -> Iterator[dict[str, Any]]:
    """Study objects of one v2 file: an API page or a bare-array export (``raw``: its bytes, if read)."""
    try:
        data = json.loads(Path(path).read_bytes() if raw is None else raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{Path(path).name} is not valid JSON ({exc}); re-fetch or re-download it"
        raise SourceFormatError(msg) from exc
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        yield from data["studies"]
    elif isinstance(data, list):
        yield from data
    else:
        msg = (
            f"{Path(path).name} is neither an API v2 page ({{'studies': [...]}}) nor a JSON "
            "export (a list of studies)"
        )
        raise SourceFormatError(msg)


def _date(struct: dict[str, Any] | None) -> str | None:
    return (struct or {}).get("date")


def _collect(study: dict[str, Any], cols: dict[str, dict[str, list[Any]]], rec: int) -> str:
    """Append one v2 study's values to the column lists (row ``rec``); return its NCT id."""
    try:
        p = study["protocolSection"]
        nct = p["identificationModule"]["nctId"]
    except (KeyError, TypeError) as exc:
        msg = f"a v2 study has no protocolSection.identificationModule.nctId ({exc!r})"
        raise SourceFormatError(msg) from exc
    d = study.get("derivedSection", {})
    ident = p["identificationModule"]
    status = p.get("statusModule", {})
    design = p.get("designModule", {})
    enroll = design.get("enrollmentInfo", {})
    sponsor = p.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {})
    misc = d.get("miscInfoModule", {})
    st = cols["studies"]
    for name, value in (
        ("nct_id", nct),
        ("title", ident.get("briefTitle")),
        ("official_title", ident.get("officialTitle")),
        ("overall_status", status.get("overallStatus")),
        ("phases", join(design.get("phases"))),
        ("study_type", design.get("studyType")),
        ("enrollment", number(enroll.get("count"))),
        ("enrollment_type", enroll.get("type")),
        ("start_date", _date(status.get("startDateStruct"))),
        ("first_posted", _date(status.get("studyFirstPostDateStruct"))),
        ("last_update", _date(status.get("lastUpdatePostDateStruct"))),
        ("lead_sponsor", sponsor.get("name")),
        ("lead_sponsor_class", sponsor.get("class")),
        ("registry_data_date", misc.get("versionHolder")),
        ("removed_countries", join(misc.get("removedCountries"))),
        ("_rec", rec),
    ):
        st[name].append(value)
    locations = p.get("contactsLocationsModule", {}).get("locations", []) or []
    if locations:
        s = cols["sites"]
        for i, loc in enumerate(locations):
            geo = loc.get("geoPoint") or {}
            lat, lon = geo.get("lat"), geo.get("lon")
            has_geo = lat is not None and lon is not None
            s["nct_id"].append(nct)
            s["site_no"].append(i)
            s["facility"].append(loc.get("facility"))
            s["site_status"].append(loc.get("status"))
            s["city"].append(loc.get("city"))
            s["state"].append(loc.get("state"))
            s["zip"].append(loc.get("zip"))
            s["country"].append(loc.get("country"))
            s["lat"].append(lat if has_geo else None)
            s["lon"].append(lon if has_geo else None)
            s["geo_source"].append("registry" if has_geo else None)
            s["geo_precision"].append("site" if has_geo else None)
            s["_rec"].append(rec)
    c = cols["conditions"]
    cond = p.get("conditionsModule", {})
    browse = d.get("conditionBrowseModule", {})
    for source, terms in (("condition", cond.get("conditions")), ("keyword", cond.get("keywords"))):
        for term in terms or []:
            c["nct_id"].append(nct)
            c["source"].append(source)
            c["term"].append(term)
            c["mesh_id"].append(None)
            c["_rec"].append(rec)
    for source, key in (("mesh", "meshes"), ("mesh_ancestor", "ancestors")):
        for m in browse.get(key, []) or []:
            c["nct_id"].append(nct)
            c["source"].append(source)
            c["term"].append(m.get("term"))
            c["mesh_id"].append(m.get("id"))
            c["_rec"].append(rec)
    iv = cols["interventions"]
    for item in p.get("armsInterventionsModule", {}).get("interventions", []) or []:
        iv["nct_id"].append(nct)
        iv["type"].append(item.get("type"))
        iv["name"].append(item.get("name"))
        iv["description"].append(item.get("description"))
        iv["other_names"].append(join(item.get("otherNames")))
        iv["_rec"].append(rec)
    return nct


def read_ids(paths: Iterable[Path]) -> set[str]:
    """The NCT ids named in v2 files (e.g. an incremental snapshot's ``fields=nctId`` pages)."""
    out = set()
    for path in paths:
        for study in iter_studies(Path(path)):
            nct = study.get("protocolSection", {}).get("identificationModule", {}).get("nctId")
            if nct is None:
                msg = f"{Path(path).name}: a study has no protocolSection.identificationModule.nctId"
                raise SourceFormatError(msg)
            out.add(nct)
    return out


def read(paths: Path | Iterable[Path], keep: set[str] | None = None) -> Tables:
    """Read v2 files (API pages in order, or JSON exports) into canonical tables.

    Files are read one at a time (two at once, in threads, when there are several):
    each file's JSON is decoded by pyarrow's JSON reader straight into Arrow arrays of
    the fields the tables need (:data:`STUDY_SCHEMA`; every other field is skipped) and
    flattened into the tables' raw columns by Arrow kernels, so memory holds the tables
    and a page or two of JSON, never the whole snapshot's JSON (a 500,000-study
    snapshot is over a gigabyte of it). A file the typed decoder refuses (a value of
    another JSON type than the registry writes, a repeated key, an array where an
    object belongs) is read by the generic row-by-row reader instead, with the old
    tolerances (a number where text belongs is kept as its text); both give the same
    tables.

    A study present in several files (an incremental refresh's changed
    studies, or two exports that overlap) is read once, in its newest
    version: the latest registry data date, then the latest update posted,
    then the later file; it keeps the place of its first appearance. Replaced
    versions are logged. Duplicates are resolved at the end, from the
    per-record version keys, by dropping the rows of replaced records.

    ``keep`` (an incremental snapshot's current id list) restricts the result
    to those studies; every one of them must be present.
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    jobs = list(enumerate(paths))
    if len(jobs) > 1 and workers() > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers()) as pool:
            parts = list(pool.map(lambda job: read_file(job[1], job[0]), jobs))
    else:
        parts = [read_file(path, k) for k, path in jobs]
    arrow = _newest_versions(concat_arrow(parts), keep)
    del parts  # so that arrow_to_tables frees each page's chunks once they are combined
    return arrow_to_tables(arrow)


def workers() -> int:
    """Threads the readers use: the CPUs this process may run on, at most 2 (``TRIALMAP_THREADS``)."""
    import os

    env = os.environ.get("TRIALMAP_THREADS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(2, n))


# Records of one file are numbered file_no << REC_BITS | position, so that files read in
# parallel number their records without knowing how many came before (the order is the same).
REC_BITS = 32


def read_file(path: Path, file_no: int = 0) -> dict[str, Any]:
    """One v2 file (an API page or a bare-array export) as raw Arrow tables (see :func:`read`)."""
    path = Path(path)
    data = path.read_bytes()
    studies = decode_studies(data)
    tables = None if studies is None else flatten(studies, file_no << REC_BITS, path.name)
    if tables is None:
        return _read_generic(path, data, file_no)
    return tables


def _read_generic(path: Path, data: bytes, file_no: int) -> dict[str, Any]:
    """The row-by-row reader: stdlib JSON, one Python value at a time."""
    cols = Columns()
    rec = file_no << REC_BITS
    for study in iter_studies(path, data):
        if not isinstance(study, dict) or _nct(study) is None:
            msg = f"{path.name}: a study has no protocolSection.identificationModule.nctId"
            raise SourceFormatError(msg)
        _collect(study, cols.cols, rec)
        rec += 1
    return cols.arrow()


def _schema() -> Any:
    import pyarrow as pa

    s = pa.string()
    date = pa.struct([("date", s)])
    mesh = pa.list_(pa.struct([("id", s), ("term", s)]))
    protocol = pa.struct([
        ("identificationModule", pa.struct([("nctId", s), ("briefTitle", s), ("officialTitle", s)])),
        ("statusModule", pa.struct([("overallStatus", s), ("startDateStruct", date),
                                    ("studyFirstPostDateStruct", date), ("lastUpdatePostDateStruct", date)])),
        ("designModule", pa.struct([("studyType", s), ("phases", pa.list_(s)),
                                    ("enrollmentInfo", pa.struct([("count", pa.float64()), ("type", s)]))])),
        ("sponsorCollaboratorsModule", pa.struct([("leadSponsor", pa.struct([("name", s), ("class", s)]))])),
        ("conditionsModule", pa.struct([("conditions", pa.list_(s)), ("keywords", pa.list_(s))])),
        ("armsInterventionsModule", pa.struct([("interventions", pa.list_(pa.struct([
            ("type", s), ("name", s), ("description", s), ("otherNames", pa.list_(s))])))])),
        ("contactsLocationsModule", pa.struct([("locations", pa.list_(pa.struct([
            ("facility", s), ("status", s), ("city", s), ("state", s), ("zip", s), ("country", s),
            ("geoPoint", pa.struct([("lat", pa.float64()), ("lon", pa.float64())]))])))])),
    ])
    derived = pa.struct([
        ("miscInfoModule", pa.struct([("versionHolder", s), ("removedCountries", pa.list_(s))])),
        ("conditionBrowseModule", pa.struct([("meshes", mesh), ("ancestors", mesh)])),
    ])
    return pa.struct([("protocolSection", protocol), ("derivedSection", derived)])


def study_schema() -> Any:
    """The Arrow type of one v2 study as the readers decode it: only the fields the tables need."""
    global _STUDY
    if _STUDY is None:
        _STUDY = _schema()
    return _STUDY


_STUDY = None


def study_record_schema() -> Any:
    """:func:`study_schema` as the schema of a table with one study per row (a bulk download member)."""
    import pyarrow as pa

    return pa.schema(list(study_schema()))


def decode_json(data: bytes, schema: Any) -> Any:
    """pyarrow's JSON reader on ``data`` (JSON objects, one after the other) with an explicit
    schema whose other fields are skipped; ``None`` if it refuses the text (then the caller
    reads it the generic way, which reports what is wrong)."""
    import pyarrow as pa
    import pyarrow.json as pj

    opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore",
                           newlines_in_values=True)
    try:
        return pj.read_json(pa.py_buffer(data), parse_options=opts,
                            read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 64))
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError, OverflowError):
        return None


def decode_studies(data: bytes) -> Any:
    """The studies of an API page or a bare-array export as a struct array, or ``None`` when
    the typed decoder cannot read the file (read it with the generic reader then)."""
    import pyarrow as pa

    head = data[:64].lstrip(b"\xef\xbb\xbf \r\n\t")[:1]
    if head == b"[":  # a website export: a bare array of studies
        data = b'{"studies":' + data.lstrip(b"\xef\xbb\xbf") + b"}"
    elif head != b"{":
        return None
    page_schema = pa.schema([("studies", pa.list_(study_schema()))])
    table = decode_json(data, page_schema)
    if table is None or table.num_rows != 1 or table.column("studies").null_count:
        return None
    import pyarrow.compute as pc

    return pc.list_flatten(table.column("studies").chunk(0))


def flatten(studies: Any, rec0: int, where: str) -> dict[str, Any] | None:
    """Decoded v2 studies (a struct array of :func:`study_schema`) -> raw Arrow tables, the
    same values as :func:`_collect` appends row by row; records numbered from ``rec0``.
    ``None`` if a study is null (the generic reader reports it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(studies)
    if n and not pc.all(pc.is_valid(studies)).as_py():
        return None  # a null where a study belongs: the generic reader says so
    p = arrow_field(studies, "protocolSection")
    d = arrow_field(studies, "derivedSection")
    nct = arrow_field(p, "identificationModule", "nctId")
    if nct.null_count:
        msg = f"{where}: a study has no protocolSection.identificationModule.nctId"
        raise SourceFormatError(msg)
    rec = np.arange(rec0, rec0 + n, dtype=np.int64)
    status = arrow_field(p, "statusModule")
    design = arrow_field(p, "designModule")
    enroll = arrow_field(design, "enrollmentInfo")
    sponsor = arrow_field(p, "sponsorCollaboratorsModule", "leadSponsor")
    misc = arrow_field(d, "miscInfoModule")
    ident = arrow_field(p, "identificationModule")
    cols: dict[str, dict[str, Any]] = {}
    cols["studies"] = {
        "nct_id": nct, "title": arrow_field(ident, "briefTitle"),
        "official_title": arrow_field(ident, "officialTitle"),
        "overall_status": arrow_field(status, "overallStatus"),
        "phases": arrow_join(arrow_field(design, "phases")),
        "study_type": arrow_field(design, "studyType"),
        "enrollment": arrow_field(enroll, "count"), "enrollment_type": arrow_field(enroll, "type"),
        "start_date": arrow_field(status, "startDateStruct", "date"),
        "first_posted": arrow_field(status, "studyFirstPostDateStruct", "date"),
        "last_update": arrow_field(status, "lastUpdatePostDateStruct", "date"),
        "lead_sponsor": arrow_field(sponsor, "name"), "lead_sponsor_class": arrow_field(sponsor, "class"),
        "registry_data_date": arrow_field(misc, "versionHolder"),
        "removed_countries": arrow_join(arrow_field(misc, "removedCountries")), "_rec": rec,
    }
    locs, parent, position = arrow_list_items(arrow_field(p, "contactsLocationsModule", "locations"))
    geo = arrow_field(locs, "geoPoint")
    lat, lon = arrow_field(geo, "lat"), arrow_field(geo, "lon")
    has = pc.and_(pc.is_valid(lat), pc.is_valid(lon))
    none = pa.scalar(None, pa.large_string())
    cols["sites"] = {
        "nct_id": arrow_repeat(nct, parent), "site_no": position,
        "facility": arrow_field(locs, "facility"), "site_status": arrow_field(locs, "status"),
        "city": arrow_field(locs, "city"), "state": arrow_field(locs, "state"),
        "zip": arrow_field(locs, "zip"), "country": arrow_field(locs, "country"),
        "lat": pc.if_else(has, lat, None), "lon": pc.if_else(has, lon, None),
        "geo_source": pc.if_else(has, pa.scalar("registry", pa.large_string()), none),
        "geo_precision": pc.if_else(has, pa.scalar("site", pa.large_string()), none),
        "_rec": rec[parent],
    }
    cond = arrow_field(p, "conditionsModule")
    browse = arrow_field(d, "conditionBrowseModule")
    blocks = []
    for k, (source, lists, is_mesh) in enumerate((
        ("condition", arrow_field(cond, "conditions"), False),
        ("keyword", arrow_field(cond, "keywords"), False),
        ("mesh", arrow_field(browse, "meshes"), True),
        ("mesh_ancestor", arrow_field(browse, "ancestors"), True),
    )):
        items, parent_k, _ = arrow_list_items(lists)
        term = arrow_field(items, "term") if is_mesh else items
        mesh_id = arrow_field(items, "id") if is_mesh else pa.nulls(len(items), pa.string())
        blocks.append((parent_k, k, source, term, mesh_id))
    parent_c = np.concatenate([b[0] for b in blocks])
    key = parent_c * 4 + np.concatenate([np.full(len(b[0]), b[1], dtype=np.int64) for b in blocks])
    order = np.argsort(key, kind="stable")
    source = pa.DictionaryArray.from_arrays(
        pa.array((key[order] & 3).astype(np.int32)), pa.array([b[2] for b in blocks], pa.large_string()))
    order = pa.array(order, type=pa.int64())
    term = pa.concat_arrays([b[3].cast(pa.large_string()) for b in blocks])
    mesh_id = pa.concat_arrays([b[4].cast(pa.large_string()) for b in blocks])
    parent_c = parent_c[order.to_numpy()]
    cols["conditions"] = {
        "nct_id": arrow_repeat(nct, parent_c), "source": source.cast(pa.large_string()),
        "term": term.take(order),
        "mesh_id": mesh_id.take(order), "_rec": rec[parent_c],
    }
    items, parent_i, _ = arrow_list_items(arrow_field(p, "armsInterventionsModule", "interventions"))
    cols["interventions"] = {
        "nct_id": arrow_repeat(nct, parent_i), "type": arrow_field(items, "type"),
        "name": arrow_field(items, "name"), "description": arrow_field(items, "description"),
        "other_names": arrow_join(arrow_field(items, "otherNames")), "_rec": rec[parent_i],
    }
    return arrow_tables(cols)


def _nct(study: dict[str, Any]) -> str | None:
    p = study.get("protocolSection")
    ident = p.get("identificationModule") if isinstance(p, dict) else None
    return ident.get("nctId") if isinstance(ident, dict) else None


def _newest_versions(arrow: dict[str, Any], keep: set[str] | None) -> dict[str, Any]:
    """Keep one record per NCT id (its newest version, at its first place) and only ``keep``'s ids."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    studies = arrow["studies"]
    nct = studies.column("nct_id").to_pandas()
    if keep is not None:
        absent = sorted(keep - set(nct))
        if absent:
            msg = (
                f"{len(absent)} studies named by the id list are in no page (e.g. {absent[0]}); "
                "the snapshot is incomplete: fetch again without --incremental"
            )
            raise SourceFormatError(msg)
    dup = nct.duplicated()
    if not dup.any() and (keep is None or nct.isin(keep).all()):
        return arrow
    replaced = int(dup.sum())
    if replaced:
        log.info("%d study record(s) appeared more than once; the newest version of each was kept", replaced)
    rec = studies.column("_rec").to_numpy()
    key = pd.DataFrame({
        "nct": nct.to_numpy(dtype=object),
        "version": studies.column("registry_data_date").to_pandas().fillna("").to_numpy(dtype=object),
        "update": studies.column("last_update").to_pandas().fillna("").to_numpy(dtype=object),
        "rec": rec,
    })
    # the place of an id is its first record; its content is its newest record (ties: the later)
    first = key.groupby("nct", sort=False)["rec"].transform("min")
    winners = key.assign(first=first).sort_values(["nct", "version", "update", "rec"], kind="stable")
    winners = winners.drop_duplicates("nct", keep="last")
    if keep is not None:
        winners = winners[winners["nct"].isin(keep)]
    place = pd.Series(winners["first"].to_numpy(), index=winners["rec"].to_numpy())
    out = {}
    for name, table in arrow.items():
        r = pd.Series(table.column("_rec").to_numpy())
        pos = r.map(place)
        ok = pos.notna().to_numpy()
        idx = np.flatnonzero(ok)
        order = idx[np.argsort(pos.to_numpy()[ok], kind="stable")]
        out[name] = table.take(pa.array(order, type=pa.int64()))
    return out
