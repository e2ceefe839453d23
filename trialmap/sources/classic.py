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
from trialmap.sources.common import join, new_rows, phase_enum, status_enum, to_enum, to_tables
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


def parse_record(study: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> None:
    """Append one Study's rows to the four row lists (raw strings, cleaned later)."""
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
    rows["studies"].append(
        {
            "nct_id": nct,
            "title": ident.get("BriefTitle"),
            "official_title": ident.get("OfficialTitle"),
            "overall_status": status_enum(status.get("OverallStatus")),
            "phases": join(phases),
            "study_type": to_enum(design.get("StudyType")),
            "enrollment": enroll.get("EnrollmentCount"),
            "enrollment_type": to_enum(enroll.get("EnrollmentType"), ENROLLMENT_TYPE),
            "start_date": status.get("StartDateStruct", {}).get("StartDate"),
            "first_posted": status.get("StudyFirstPostDateStruct", {}).get("StudyFirstPostDate"),
            "last_update": status.get("LastUpdatePostDateStruct", {}).get("LastUpdatePostDate"),
            "lead_sponsor": sponsor.get("LeadSponsorName"),
            "lead_sponsor_class": sponsor.get("LeadSponsorClass"),
            "registry_data_date": d.get("MiscInfoModule", {}).get("VersionHolder"),
            "removed_countries": join(
                _wrapped(d.get("MiscInfoModule", {}), "RemovedCountryList", "RemovedCountry")
            ),
        }
    )
    locations = _wrapped(p.get("ContactsLocationsModule", {}), "LocationList", "Location")
    for i, loc in enumerate(locations):
        rows["sites"].append(
            {
                "nct_id": nct,
                "site_no": i,
                "facility": loc.get("LocationFacility"),
                "site_status": status_enum(loc.get("LocationStatus")),
                "city": loc.get("LocationCity"),
                "state": loc.get("LocationState"),
                "zip": loc.get("LocationZip"),
                "country": loc.get("LocationCountry"),
            }
        )
    cond = p.get("ConditionsModule", {})
    for term in _wrapped(cond, "ConditionList", "Condition"):
        rows["conditions"].append({"nct_id": nct, "source": "condition", "term": term})
    for term in _wrapped(cond, "KeywordList", "Keyword"):
        rows["conditions"].append({"nct_id": nct, "source": "keyword", "term": term})
    browse = d.get("ConditionBrowseModule", {})
    for m in _wrapped(browse, "ConditionMeshList", "ConditionMesh"):
        rows["conditions"].append(
            {
                "nct_id": nct,
                "source": "mesh",
                "term": m.get("ConditionMeshTerm"),
                "mesh_id": m.get("ConditionMeshId"),
            }
        )
    for m in _wrapped(browse, "ConditionAncestorList", "ConditionAncestor"):
        rows["conditions"].append(
            {
                "nct_id": nct,
                "source": "mesh_ancestor",
                "term": m.get("ConditionAncestorTerm"),
                "mesh_id": m.get("ConditionAncestorId"),
            }
        )
    arms = p.get("ArmsInterventionsModule", {})
    for iv in _wrapped(arms, "InterventionList", "Intervention"):
        rows["interventions"].append(
            {
                "nct_id": nct,
                "type": to_enum(iv.get("InterventionType")),
                "name": iv.get("InterventionName"),
                "description": iv.get("InterventionDescription"),
                "other_names": join(
                    _wrapped(iv, "InterventionOtherNameList", "InterventionOtherName")
                ),
            }
        )


def read(path: Path) -> Tables:
    """Read a classic ``full_studies`` tarball into canonical tables.

    Raises
    ------
    SourceFormatError
        If the file is not a tar.gz of classic Study JSON objects, or a record
        has no NCT id. A study id seen twice is an error too: the archive has
        one file per study.
    """
    rows = new_rows()
    seen: set[str] = set()
    for name, study in iter_records(Path(path)):
        n_before = len(rows["studies"])
        parse_record(study, rows)
        nct = rows["studies"][n_before]["nct_id"]
        if nct in seen:
            msg = f"{Path(path).name}: {nct} appears twice (second time in {name})"
            raise SourceFormatError(msg)
        seen.add(nct)
    return to_tables(rows)
