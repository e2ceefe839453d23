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
from trialmap.sources.common import join, new_rows, to_tables
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


def parse_study(study: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> str:
    """Append one v2 study's rows to the row lists; return its NCT id."""
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
    rows["studies"].append(
        {
            "nct_id": nct,
            "title": ident.get("briefTitle"),
            "official_title": ident.get("officialTitle"),
            "overall_status": status.get("overallStatus"),
            "phases": join(design.get("phases")),
            "study_type": design.get("studyType"),
            "enrollment": enroll.get("count"),
            "enrollment_type": enroll.get("type"),
            "start_date": _date(status.get("startDateStruct")),
            "first_posted": _date(status.get("studyFirstPostDateStruct")),
            "last_update": _date(status.get("lastUpdatePostDateStruct")),
            "lead_sponsor": sponsor.get("name"),
            "lead_sponsor_class": sponsor.get("class"),
            "registry_data_date": misc.get("versionHolder"),
            "removed_countries": join(misc.get("removedCountries")),
        }
    )
    for i, loc in enumerate(p.get("contactsLocationsModule", {}).get("locations", []) or []):
        geo = loc.get("geoPoint") or {}
        has_geo = geo.get("lat") is not None and geo.get("lon") is not None
        rows["sites"].append(
            {
                "nct_id": nct,
                "site_no": i,
                "facility": loc.get("facility"),
                "site_status": loc.get("status"),
                "city": loc.get("city"),
                "state": loc.get("state"),
                "zip": loc.get("zip"),
                "country": loc.get("country"),
                "lat": geo.get("lat") if has_geo else None,
                "lon": geo.get("lon") if has_geo else None,
                "geo_source": "registry" if has_geo else None,
                "geo_precision": "site" if has_geo else None,
            }
        )
    cond = p.get("conditionsModule", {})
    for term in cond.get("conditions", []) or []:
        rows["conditions"].append({"nct_id": nct, "source": "condition", "term": term})
    for term in cond.get("keywords", []) or []:
        rows["conditions"].append({"nct_id": nct, "source": "keyword", "term": term})
    browse = d.get("conditionBrowseModule", {})
    for source, key in (("mesh", "meshes"), ("mesh_ancestor", "ancestors")):
        for m in browse.get(key, []) or []:
            rows["conditions"].append(
                {"nct_id": nct, "source": source, "term": m.get("term"), "mesh_id": m.get("id")}
            )
    for iv in p.get("armsInterventionsModule", {}).get("interventions", []) or []:
        rows["interventions"].append(
            {
                "nct_id": nct,
                "type": iv.get("type"),
                "name": iv.get("name"),
                "description": iv.get("description"),
                "other_names": join(iv.get("otherNames")),
            }
        )
    return nct


def _version(study: dict[str, Any]) -> tuple[str, str]:
    """Sort key of a study version: registry data date, then last update posted."""
    misc = study.get("derivedSection", {}).get("miscInfoModule", {})
    status = study.get("protocolSection", {}).get("statusModule", {})
    return (str(misc.get("versionHolder") or ""), str(_date(status.get("lastUpdatePostDateStruct")) or ""))


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

    A study present in several files (an incremental refresh's changed
    studies, or two exports that overlap) is read once, in its newest
    version: the latest registry data date, then the latest update posted,
    then the later file. Replaced versions are logged.

    ``keep`` (an incremental snapshot's current id list) restricts the result
    to those studies; every one of them must be present.
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    latest: dict[str, dict[str, Any]] = {}
    replaced = 0
    for path in paths:
        for study in iter_studies(path):
            nct = study.get("protocolSection", {}).get("identificationModule", {}).get("nctId")
            if nct is None:
                msg = f"{path.name}: a study has no protocolSection.identificationModule.nctId"
                raise SourceFormatError(msg)
            if nct in latest:
                replaced += 1
                if _version(study) < _version(latest[nct]):
                    continue
            latest[nct] = study
    if keep is not None:
        absent = sorted(keep - set(latest))
        if absent:
            msg = (
                f"{len(absent)} studies named by the id list are in no page (e.g. {absent[0]}); "
                "the snapshot is incomplete: fetch again without --incremental"
            )
            raise SourceFormatError(msg)
        latest = {k: v for k, v in latest.items() if k in keep}
    if replaced:
        log.info("%d study record(s) appeared more than once; the newest version of each was kept", replaced)
    rows = new_rows()
    for study in latest.values():
        parse_study(study, rows)
    return to_tables(rows)
