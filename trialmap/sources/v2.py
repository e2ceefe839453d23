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
from trialmap.sources.common import Columns, arrow_to_tables, join, number
from trialmap.tables import Tables

log = logging.getLogger(__name__)

FORMAT_PAGES = "ctgov-v2-api-pages"
FORMAT_EXPORT = "ctgov-v2-json-export"
FORMAT_INCREMENTAL = "ctgov-v2-api-pages-incremental"


def iter_studies(path: Path) -> Iterator[dict[str, Any]]:
    """Study objects of one v2 file: an API page or a bare-array export."""
    try:
        data = json.loads(Path(path).read_bytes())
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

    Files are read one at a time: each page's JSON is parsed, its values are
    appended as columns and turned into Arrow columns before the next page is
    read, so memory holds the tables and one page of JSON, never the whole
    snapshot's JSON (a 500,000-study snapshot is over a gigabyte of it).

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
    cols = Columns()
    rec = 0
    for path in paths:
        for study in iter_studies(path):
            if not isinstance(study, dict) or _nct(study) is None:
                msg = f"{path.name}: a study has no protocolSection.identificationModule.nctId"
                raise SourceFormatError(msg)
            _collect(study, cols.cols, rec)
            rec += 1
        cols.flush()
    arrow = cols.arrow()
    arrow = _newest_versions(arrow, keep)
    return arrow_to_tables(arrow)


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
