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
from trialmap.sources.common import (
    Columns,
    arrow_field,
    arrow_to_tables,
    join,
    number,
    phase_enum,
    status_enum,
    to_enum,
)
from trialmap.tables import Tables, arrow_map

FORMAT = "ctgov-classic-full-studies-tar"
# API v2 renamed the classic "Anticipated" enrollment to ESTIMATED.
ENROLLMENT_TYPE = {"Anticipated": "ESTIMATED"}


def _json_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(member name, bytes)`` of every JSON member of the tarball, in archive order."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - isfile() members always have data
                    continue
                yield member.name, fh.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        msg = f"{path} is not a readable tar.gz of classic API records ({exc})"
        raise SourceFormatError(msg) from exc


def iter_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(member name, Study object)`` for every JSON member of the tarball."""
    for name, blob in _json_members(path):
        try:
            record = json.loads(blob)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            msg = f"{path.name}:{name} is not valid JSON ({exc})"
            raise SourceFormatError(msg) from exc
        yield name, record.get("FullStudy", {}).get("Study", record)


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

    The members' JSON is decoded by pyarrow's JSON reader into Arrow arrays of the
    fields the tables need (:func:`classic_schema`), re-encoded as API v2 arrays (enum
    and number spellings mapped once per distinct value) and flattened by the v2
    reader's :func:`trialmap.sources.v2.flatten`. An archive the typed decoder refuses
    is read record by record (:func:`parse_record`); both give the same tables.

    Raises
    ------
    SourceFormatError
        If the file is not a tar.gz of classic Study JSON objects, or a record
        has no NCT id. A study id seen twice is an error too: the archive has
        one file per study.
    """
    from trialmap.sources import v2

    path = Path(path)
    names, blobs = _members(path)
    arrow = None
    table = v2.decode_json(b"\n".join(blobs), classic_schema()) if blobs else None
    if table is not None and table.num_rows == len(blobs):
        studies = table.to_struct_array().combine_chunks()
        if studies.null_count == 0 and arrow_field(studies, "ProtocolSection").null_count == 0:
            arrow = v2.flatten(_as_v2(studies), 0, path.name)
    if arrow is None:
        return read_generic(path)
    nct = arrow["studies"].column("nct_id").to_pylist()
    if len(set(nct)) != len(nct):
        seen: set[str] = set()
        for name, n in zip(names, nct, strict=True):
            if n in seen:
                msg = f"{path.name}: {n} appears twice (second time in {name})"
                raise SourceFormatError(msg)
            seen.add(n)
    return arrow_to_tables(arrow)


def _members(path: Path) -> tuple[list[str], list[bytes]]:
    """Names and bytes of the archive's JSON members, in archive order."""
    members = list(_json_members(path))
    return [n for n, _ in members], [b for _, b in members]


def read_generic(path: Path) -> Tables:
    """The record-by-record reader (stdlib JSON)."""
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


def classic_schema() -> Any:
    """The Arrow type of a classic Study as the reader decodes it: only the fields it needs."""
    import pyarrow as pa

    s = pa.string()

    def wrapped(list_key: str, item_key: str, item: Any = s) -> tuple[str, Any]:
        return list_key, pa.struct([(item_key, pa.list_(item))])

    def date(key: str) -> tuple[str, Any]:
        return f"{key}Struct", pa.struct([(key, s)])

    protocol = pa.struct([
        ("IdentificationModule", pa.struct([("NCTId", s), ("BriefTitle", s), ("OfficialTitle", s)])),
        ("StatusModule", pa.struct([("OverallStatus", s), date("StartDate"), date("StudyFirstPostDate"),
                                    date("LastUpdatePostDate")])),
        ("DesignModule", pa.struct([("StudyType", s), wrapped("PhaseList", "Phase"),
                                    ("EnrollmentInfo", pa.struct([("EnrollmentCount", s),
                                                                  ("EnrollmentType", s)]))])),
        ("SponsorCollaboratorsModule", pa.struct([("LeadSponsor", pa.struct([("LeadSponsorName", s),
                                                                             ("LeadSponsorClass", s)]))])),
        ("ConditionsModule", pa.struct([wrapped("ConditionList", "Condition"),
                                        wrapped("KeywordList", "Keyword")])),
        ("ArmsInterventionsModule", pa.struct([wrapped("InterventionList", "Intervention", pa.struct([
            ("InterventionType", s), ("InterventionName", s), ("InterventionDescription", s),
            wrapped("InterventionOtherNameList", "InterventionOtherName")]))])),
        ("ContactsLocationsModule", pa.struct([wrapped("LocationList", "Location", pa.struct([
            ("LocationFacility", s), ("LocationStatus", s), ("LocationCity", s), ("LocationState", s),
            ("LocationZip", s), ("LocationCountry", s)]))])),
    ])
    mesh = pa.struct([("ConditionMeshId", s), ("ConditionMeshTerm", s)])
    ancestor = pa.struct([("ConditionAncestorId", s), ("ConditionAncestorTerm", s)])
    derived = pa.struct([
        ("MiscInfoModule", pa.struct([("VersionHolder", s),
                                      wrapped("RemovedCountryList", "RemovedCountry")])),
        ("ConditionBrowseModule", pa.struct([
            wrapped("ConditionMeshList", "ConditionMesh", mesh),
            wrapped("ConditionAncestorList", "ConditionAncestor", ancestor)])),
    ])
    return pa.schema([("ProtocolSection", protocol), ("DerivedSection", derived)])


def _as_v2(studies: Any) -> Any:
    """Classic Study arrays re-encoded as the v2 reader's arrays (the values :func:`parse_record`
    writes: v2 enum spellings, counts as numbers), so that one flattening serves both."""
    import pyarrow as pa

    def f(arr: Any, *path: str) -> Any:
        return arrow_field(arr, *path)

    def struct(**fields: Any) -> Any:
        n = len(next(iter(fields.values())))
        if not fields:  # pragma: no cover
            return pa.nulls(n)
        return pa.StructArray.from_arrays(list(fields.values()), names=list(fields))

    def mapped(arr: Any, fn: Any, type_: Any = None) -> Any:
        return arrow_map(arr, fn, type_ or pa.string())

    def relist(lists: Any, items: Any) -> Any:
        """A list array with the same rows as ``lists`` and new (already mapped) items."""
        return pa.ListArray.from_arrays(lists.offsets, items, mask=lists.is_null())

    def items_of(module: Any, list_key: str, item_key: str) -> tuple[Any, Any]:
        lists = f(module, list_key, item_key)
        return lists, lists.values

    p = f(studies, "ProtocolSection")
    d = f(studies, "DerivedSection")
    ident = f(p, "IdentificationModule")
    status = f(p, "StatusModule")
    design = f(p, "DesignModule")
    enroll = f(design, "EnrollmentInfo")
    sponsor = f(p, "SponsorCollaboratorsModule", "LeadSponsor")
    phases, phase_items = items_of(design, "PhaseList", "Phase")
    locs, loc = items_of(f(p, "ContactsLocationsModule"), "LocationList", "Location")
    ivs, iv = items_of(f(p, "ArmsInterventionsModule"), "InterventionList", "Intervention")
    other, other_items = items_of(iv, "InterventionOtherNameList", "InterventionOtherName")
    cond = f(p, "ConditionsModule")
    misc = f(d, "MiscInfoModule")
    browse = f(d, "ConditionBrowseModule")
    meshes, mesh = items_of(browse, "ConditionMeshList", "ConditionMesh")
    ancestors, ancestor = items_of(browse, "ConditionAncestorList", "ConditionAncestor")
    n_loc = len(loc)
    protocol = struct(
        identificationModule=struct(nctId=f(ident, "NCTId"), briefTitle=f(ident, "BriefTitle"),
                                    officialTitle=f(ident, "OfficialTitle")),
        statusModule=struct(
            overallStatus=mapped(f(status, "OverallStatus"), status_enum),
            startDateStruct=struct(date=f(status, "StartDateStruct", "StartDate")),
            studyFirstPostDateStruct=struct(date=f(status, "StudyFirstPostDateStruct", "StudyFirstPostDate")),
            lastUpdatePostDateStruct=struct(date=f(status, "LastUpdatePostDateStruct", "LastUpdatePostDate")),
        ),
        designModule=struct(
            studyType=mapped(f(design, "StudyType"), to_enum),
            phases=relist(phases, mapped(phase_items, phase_enum)),
            enrollmentInfo=struct(
                count=mapped(f(enroll, "EnrollmentCount"), number, pa.float64()),
                type=mapped(f(enroll, "EnrollmentType"), lambda v: to_enum(v, ENROLLMENT_TYPE)),
            ),
        ),
        sponsorCollaboratorsModule=struct(leadSponsor=struct(
            name=f(sponsor, "LeadSponsorName"), **{"class": f(sponsor, "LeadSponsorClass")})),
        conditionsModule=struct(conditions=f(cond, "ConditionList", "Condition"),
                                keywords=f(cond, "KeywordList", "Keyword")),
        armsInterventionsModule=struct(interventions=relist(ivs, struct(
            type=mapped(f(iv, "InterventionType"), to_enum), name=f(iv, "InterventionName"),
            description=f(iv, "InterventionDescription"), otherNames=relist(other, other_items)))),
        contactsLocationsModule=struct(locations=relist(locs, struct(
            facility=f(loc, "LocationFacility"), status=mapped(f(loc, "LocationStatus"), status_enum),
            city=f(loc, "LocationCity"), state=f(loc, "LocationState"), zip=f(loc, "LocationZip"),
            country=f(loc, "LocationCountry"),
            geoPoint=struct(lat=pa.nulls(n_loc, pa.float64()), lon=pa.nulls(n_loc, pa.float64())),
        ))),
    )
    derived = struct(
        miscInfoModule=struct(versionHolder=f(misc, "VersionHolder"),
                              removedCountries=f(misc, "RemovedCountryList", "RemovedCountry")),
        conditionBrowseModule=struct(
            meshes=relist(meshes, struct(id=f(mesh, "ConditionMeshId"), term=f(mesh, "ConditionMeshTerm"))),
            ancestors=relist(ancestors, struct(id=f(ancestor, "ConditionAncestorId"),
                                               term=f(ancestor, "ConditionAncestorTerm"))),
        ),
    )
    return struct(protocolSection=protocol, derivedSection=derived)
