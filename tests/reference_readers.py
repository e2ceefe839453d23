"""Frozen reference readers: the classic and API v2 readers as they were before issue 14.

The fast readers in :mod:`trialmap.sources` (typed msgspec decoding, a process pool, the
bulk json.zip) must give exactly these tables on every real record trialmap ships. This
module is a deliberately plain copy of the old semantics (stdlib ``json``, one Python dict
per row, pandas frames) so that a change to the shared helpers in ``trialmap.sources``
cannot move the reference along with it. It was checked equal, column for column, to the
readers of commit 5e8e22c on the bundled archive, both website JSON exports and the
archive re-encoded in the v2 model, before the new readers replaced them.

Only :meth:`trialmap.tables.Tables.from_frames` (the canonical schema) is shared.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd

from trialmap.tables import Tables

_DATE_FORMATS = (("%B %d, %Y", "day"), ("%B %Y", "month"), ("%Y-%m-%d", "day"), ("%Y-%m", "month"),
                 ("%Y", "year"))
_STATUS = {"Unknown status": "UNKNOWN", "Active, not recruiting": "ACTIVE_NOT_RECRUITING"}
_PHASE = {
    "Early Phase 1": "EARLY_PHASE1", "Phase 1": "PHASE1", "Phase 2": "PHASE2", "Phase 3": "PHASE3",
    "Phase 4": "PHASE4", "Not Applicable": "NA", "N/A": "NA", "Phase 1/Phase 2": "PHASE1|PHASE2",
    "Phase 2/Phase 3": "PHASE2|PHASE3", "Early Phase1": "EARLY_PHASE1",
}
_ENROLLMENT_TYPE = {"Anticipated": "ESTIMATED"}
_V2_ENUM = re.compile(r"^[A-Z0-9_]+$")


def _enum(value, table=None):
    if value is None or value == "":
        return None
    if table and value in table:
        return table[value]
    if _V2_ENUM.match(value):
        return value
    return re.sub(r"[^A-Z0-9]+", "_", value.upper()).strip("_")


def _join(values, sep="|"):
    vals = [v for v in (values or []) if v]
    return sep.join(vals) if vals else None


def _number(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _text(value):
    return None if value is None else value if isinstance(value, str) else str(value)


def _parse_dates(values: pd.Series):
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    precision = pd.Series(pd.NA, index=values.index, dtype="string")
    todo = text.notna()
    for fmt, prec in _DATE_FORMATS:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        ok = parsed.notna()
        hit = ok[ok].index
        dates.loc[hit] = parsed[ok].astype("datetime64[s]")
        precision.loc[hit] = prec
        todo.loc[hit] = False
    precision.loc[todo] = "unparsed"
    return dates, precision


COLUMNS = {
    "studies": ("nct_id", "title", "official_title", "overall_status", "phases", "study_type", "enrollment",
                "enrollment_type", "start_date", "first_posted", "last_update", "lead_sponsor",
                "lead_sponsor_class", "registry_data_date", "removed_countries"),
    "sites": ("nct_id", "site_no", "facility", "site_status", "city", "state", "zip", "country", "lat", "lon",
              "geo_source", "geo_precision"),
    "conditions": ("nct_id", "source", "term", "mesh_id"),
    "interventions": ("nct_id", "type", "name", "description", "other_names"),
}
_NUMBERS = {"enrollment", "site_no", "lat", "lon"}


def _tables(rows: dict[str, list[dict[str, Any]]]) -> Tables:
    frames = {}
    for name, cols in COLUMNS.items():
        data = {c: [r[c] if c in _NUMBERS else _text(r[c]) for r in rows[name]] for c in cols}
        frame = pd.DataFrame({c: pd.Series(v, dtype="object") for c, v in data.items()})
        for c in cols:
            if c == "site_no":
                frame[c] = frame[c].astype("Int64")
            elif c in _NUMBERS:
                frame[c] = pd.to_numeric(frame[c].astype("float64"))
            else:
                frame[c] = frame[c].astype(pd.StringDtype("pyarrow"))
        frames[name] = frame
    studies = frames["studies"]
    if not studies.empty:
        for col in ("start_date", "first_posted", "last_update"):
            studies[col], studies[f"{col}_precision"] = _parse_dates(studies[col])
        studies["registry_data_date"], _ = _parse_dates(studies["registry_data_date"])
    return Tables.from_frames(**frames)


def _rows():
    return {t: [] for t in COLUMNS}


def _v2_study(study, rows):
    p = study["protocolSection"]
    d = study.get("derivedSection", {})
    ident = p["identificationModule"]
    nct = ident["nctId"]
    status = p.get("statusModule", {})
    design = p.get("designModule", {})
    enroll = design.get("enrollmentInfo", {})
    sponsor = p.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {})
    misc = d.get("miscInfoModule", {})
    rows["studies"].append({
        "nct_id": nct, "title": ident.get("briefTitle"), "official_title": ident.get("officialTitle"),
        "overall_status": status.get("overallStatus"), "phases": _join(design.get("phases")),
        "study_type": design.get("studyType"), "enrollment": _number(enroll.get("count")),
        "enrollment_type": enroll.get("type"),
        "start_date": (status.get("startDateStruct") or {}).get("date"),
        "first_posted": (status.get("studyFirstPostDateStruct") or {}).get("date"),
        "last_update": (status.get("lastUpdatePostDateStruct") or {}).get("date"),
        "lead_sponsor": sponsor.get("name"), "lead_sponsor_class": sponsor.get("class"),
        "registry_data_date": misc.get("versionHolder"),
        "removed_countries": _join(misc.get("removedCountries")),
    })
    for i, loc in enumerate(p.get("contactsLocationsModule", {}).get("locations", []) or []):
        geo = loc.get("geoPoint") or {}
        lat, lon = geo.get("lat"), geo.get("lon")
        has = lat is not None and lon is not None
        rows["sites"].append({
            "nct_id": nct, "site_no": i, "facility": loc.get("facility"), "site_status": loc.get("status"),
            "city": loc.get("city"), "state": loc.get("state"), "zip": loc.get("zip"),
            "country": loc.get("country"), "lat": lat if has else None, "lon": lon if has else None,
            "geo_source": "registry" if has else None, "geo_precision": "site" if has else None,
        })
    cond = p.get("conditionsModule", {})
    browse = d.get("conditionBrowseModule", {})
    for source, terms in (("condition", cond.get("conditions")), ("keyword", cond.get("keywords"))):
        for term in terms or []:
            rows["conditions"].append({"nct_id": nct, "source": source, "term": term, "mesh_id": None})
    for source, key in (("mesh", "meshes"), ("mesh_ancestor", "ancestors")):
        for m in browse.get(key, []) or []:
            rows["conditions"].append({"nct_id": nct, "source": source, "term": m.get("term"),
                                       "mesh_id": m.get("id")})
    for item in p.get("armsInterventionsModule", {}).get("interventions", []) or []:
        rows["interventions"].append({
            "nct_id": nct, "type": item.get("type"), "name": item.get("name"),
            "description": item.get("description"), "other_names": _join(item.get("otherNames")),
        })


def v2_studies(studies) -> Tables:
    """Tables of v2 study objects, in order (no duplicate ids)."""
    rows = _rows()
    for s in studies:
        _v2_study(s, rows)
    return _tables(rows)


def v2_file(path: Path) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_bytes())
    return data["studies"] if isinstance(data, dict) else data


def _items(module, list_key, item_key):
    return module.get(list_key, {}).get(item_key, []) or []


def _classic_study(study, rows):
    p = study["ProtocolSection"]
    d = study.get("DerivedSection", {})
    ident = p["IdentificationModule"]
    nct = ident["NCTId"]
    status = p.get("StatusModule", {})
    design = p.get("DesignModule", {})
    sponsor = p.get("SponsorCollaboratorsModule", {}).get("LeadSponsor", {})
    enroll = design.get("EnrollmentInfo", {})
    misc = d.get("MiscInfoModule", {})
    rows["studies"].append({
        "nct_id": nct, "title": ident.get("BriefTitle"), "official_title": ident.get("OfficialTitle"),
        "overall_status": _enum(status.get("OverallStatus"), _STATUS),
        "phases": _join([_enum(x, _PHASE) for x in _items(design, "PhaseList", "Phase")]),
        "study_type": _enum(design.get("StudyType")), "enrollment": _number(enroll.get("EnrollmentCount")),
        "enrollment_type": _enum(enroll.get("EnrollmentType"), _ENROLLMENT_TYPE),
        "start_date": status.get("StartDateStruct", {}).get("StartDate"),
        "first_posted": status.get("StudyFirstPostDateStruct", {}).get("StudyFirstPostDate"),
        "last_update": status.get("LastUpdatePostDateStruct", {}).get("LastUpdatePostDate"),
        "lead_sponsor": sponsor.get("LeadSponsorName"), "lead_sponsor_class": sponsor.get("LeadSponsorClass"),
        "registry_data_date": misc.get("VersionHolder"),
        "removed_countries": _join(_items(misc, "RemovedCountryList", "RemovedCountry")),
    })
    for i, loc in enumerate(_items(p.get("ContactsLocationsModule", {}), "LocationList", "Location")):
        rows["sites"].append({
            "nct_id": nct, "site_no": i, "facility": loc.get("LocationFacility"),
            "site_status": _enum(loc.get("LocationStatus"), _STATUS), "city": loc.get("LocationCity"),
            "state": loc.get("LocationState"), "zip": loc.get("LocationZip"),
            "country": loc.get("LocationCountry"), "lat": None, "lon": None, "geo_source": None,
            "geo_precision": None,
        })
    cond = p.get("ConditionsModule", {})
    browse = d.get("ConditionBrowseModule", {})
    for source, items in (
        ("condition", [(t, None) for t in _items(cond, "ConditionList", "Condition")]),
        ("keyword", [(t, None) for t in _items(cond, "KeywordList", "Keyword")]),
        ("mesh", [(m.get("ConditionMeshTerm"), m.get("ConditionMeshId"))
                  for m in _items(browse, "ConditionMeshList", "ConditionMesh")]),
        ("mesh_ancestor", [(m.get("ConditionAncestorTerm"), m.get("ConditionAncestorId"))
                           for m in _items(browse, "ConditionAncestorList", "ConditionAncestor")]),
    ):
        for term, mesh_id in items:
            rows["conditions"].append({"nct_id": nct, "source": source, "term": term, "mesh_id": mesh_id})
    for item in _items(p.get("ArmsInterventionsModule", {}), "InterventionList", "Intervention"):
        rows["interventions"].append({
            "nct_id": nct, "type": _enum(item.get("InterventionType")), "name": item.get("InterventionName"),
            "description": item.get("InterventionDescription"),
            "other_names": _join(_items(item, "InterventionOtherNameList", "InterventionOtherName")),
        })


def classic_records(path: Path) -> list[dict[str, Any]]:
    out = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                record = json.loads(tar.extractfile(member).read())
                out.append(record.get("FullStudy", {}).get("Study", record))
    return out


def classic_tarball(path: Path) -> Tables:
    rows = _rows()
    for s in classic_records(path):
        _classic_study(s, rows)
    return _tables(rows)
