"""Reader for the retired classic API's ``full_studies`` JSON records.

The input is a tar.gz with one ``Study`` object per ``NCT*.json`` member
(PascalCase modules and ``...List`` wrappers). Members are streamed, so the
archive is never unpacked to disk nor held whole in memory.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trialmap.errors import SourceFormatError
from trialmap.sources.common import Columns, arrow_to_tables, join, number, phase_enum, status_enum, to_enum
from trialmap.tables import Tables

FORMAT = "ctgov-classic-full-studies-tar"
# API v2 renamed the classic "Anticipated" enrollment to ESTIMATED.
ENROLLMENT_TYPE = {"Anticipated": "ESTIMATED"}


def iter_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(member name, Study object)`` for every JSON member of the tarball."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - isfile() members always have data
                    continue
                try:
                    record = json.loads(fh.read())
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    msg = f"{path.name}:{member.name} is not valid JSON ({exc})"
                    raise SourceFormatError(msg) from exc
                yield member.name, record.get("FullStudy", {}).get("Study", record)
    except (tarfile.TarError, EOFError, OSError) as exc:
        msg = f"{path} is not a readable tar.gz of classic API records ({exc})"
        raise SourceFormatError(msg) from exc


def _wrapped(module: dict[str, Any], list_key: str, item_key: str) -> list[Any]:
    """The items of a classic ``...List`` wrapper, e.g. ``LocationList.Location``."""
    return module.get(list_key, {}).get(item_key, []) or []


def parse_record(study: dict[str, Any], cols: dict[str, dict[str, list[Any]]], rec: int = 0) -> str:
    """Append one Study's values to the column lists of a :class:`~trialmap.sources.common.Columns`
    (raw strings, cleaned later); return its NCT id."""
    try:
        p = study["ProtocolSection"]
        nct = p["IdentificationModule"]["NCTId"]
    except (KeyError, TypeError) as exc:
        msg = f"a classic record has no ProtocolSection.IdentificationModule.NCTId ({exc!r})"
        raise SourceFormatError(msg) from exc
    d = study.get("DerivedSection", {})
    ident = p["IdentificationModule"]
    status = p.get("StatusModule", {})
    design = p.get("DesignModule", {})
    sponsor = p.get("SponsorCollaboratorsModule", {}).get("LeadSponsor", {})
    enroll = design.get("EnrollmentInfo", {})
    phases = [phase_enum(x) for x in _wrapped(design, "PhaseList", "Phase")]
    st = cols["studies"]
    for name, value in (
        ("nct_id", nct),
        ("title", ident.get("BriefTitle")),
        ("official_title", ident.get("OfficialTitle")),
        ("overall_status", status_enum(status.get("OverallStatus"))),
        ("phases", join(phases)),
        ("study_type", to_enum(design.get("StudyType"))),
        ("enrollment", number(enroll.get("EnrollmentCount"))),
        ("enrollment_type", to_enum(enroll.get("EnrollmentType"), ENROLLMENT_TYPE)),
        ("start_date", status.get("StartDateStruct", {}).get("StartDate")),
        ("first_posted", status.get("StudyFirstPostDateStruct", {}).get("StudyFirstPostDate")),
        ("last_update", status.get("LastUpdatePostDateStruct", {}).get("LastUpdatePostDate")),
        ("lead_sponsor", sponsor.get("LeadSponsorName")),
        ("lead_sponsor_class", sponsor.get("LeadSponsorClass")),
        ("registry_data_date", d.get("MiscInfoModule", {}).get("VersionHolder")),
        ("removed_countries",
         join(_wrapped(d.get("MiscInfoModule", {}), "RemovedCountryList", "RemovedCountry"))),
        ("_rec", rec),
    ):
        st[name].append(value)
    s = cols["sites"]
    for i, loc in enumerate(_wrapped(p.get("ContactsLocationsModule", {}), "LocationList", "Location")):
        for name, value in (
            ("nct_id", nct), ("site_no", i), ("facility", loc.get("LocationFacility")),
            ("site_status", status_enum(loc.get("LocationStatus"))), ("city", loc.get("LocationCity")),
            ("state", loc.get("LocationState")), ("zip", loc.get("LocationZip")),
            ("country", loc.get("LocationCountry")), ("lat", None), ("lon", None), ("geo_source", None),
            ("geo_precision", None), ("_rec", rec),
        ):
            s[name].append(value)
    c = cols["conditions"]

    def condition(source: str, term: Any, mesh_id: Any = None) -> None:
        c["nct_id"].append(nct)
        c["source"].append(source)
        c["term"].append(term)
        c["mesh_id"].append(mesh_id)
        c["_rec"].append(rec)

    cond = p.get("ConditionsModule", {})
    for term in _wrapped(cond, "ConditionList", "Condition"):
        condition("condition", term)
    for term in _wrapped(cond, "KeywordList", "Keyword"):
        condition("keyword", term)
    browse = d.get("ConditionBrowseModule", {})
    for m in _wrapped(browse, "ConditionMeshList", "ConditionMesh"):
        condition("mesh", m.get("ConditionMeshTerm"), m.get("ConditionMeshId"))
    for m in _wrapped(browse, "ConditionAncestorList", "ConditionAncestor"):
        condition("mesh_ancestor", m.get("ConditionAncestorTerm"), m.get("ConditionAncestorId"))
    iv = cols["interventions"]
    for item in _wrapped(p.get("ArmsInterventionsModule", {}), "InterventionList", "Intervention"):
        for name, value in (
            ("nct_id", nct), ("type", to_enum(item.get("InterventionType"))),
            ("name", item.get("InterventionName")), ("description", item.get("InterventionDescription")),
            ("other_names", join(_wrapped(item, "InterventionOtherNameList", "InterventionOtherName"))),
            ("_rec", rec),
        ):
            iv[name].append(value)
    return nct


def read(path: Path) -> Tables:
    """Read a classic ``full_studies`` tarball into canonical tables.

    Raises
    ------
    SourceFormatError
        If the file is not a tar.gz of classic Study JSON objects, or a record
        has no NCT id. A study id seen twice is an error too: the archive has
        one file per study.
    """
    cols = Columns()
    seen: set[str] = set()
    for rec, (name, study) in enumerate(iter_records(Path(path))):
        nct = parse_record(study, cols.cols, rec)
        if nct in seen:
            msg = f"{Path(path).name}: {nct} appears twice (second time in {name})"
            raise SourceFormatError(msg)
        seen.add(nct)
        if rec % 1000 == 999:
            cols.flush()
    return arrow_to_tables(cols.arrow())
