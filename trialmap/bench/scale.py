"""Registry-scale snapshots made of re-identified copies of real records (clearly synthetic).

``python -m trialmap.bench scale 600k --json-zip`` writes the API's bulk download format
instead (``ctgov-v2-bulk-json-zip``: one member per study, full records; see
:func:`generate_zip` and :func:`full_seed_pool`).

``python -m trialmap.bench scale 10k 100k 500k [--out DIR]`` writes, for each size, a
snapshot in the format the fetcher writes (``ctgov-v2-api-pages``: one
``page-NNNN.json`` per page of up to 1000 studies, ``{"studies": [...],
"nextPageToken": ..., "totalCount": ...}``, written by
:func:`trialmap.snapshot.write_snapshot`) and marked ``"synthetic": true``, with how it
was made, in its manifest. The default folder is a cache under the system temporary
folder (``$TMPDIR/trialmap-scale``), never ``data/raw``.

How the records are made (nothing is invented):

* The seed pool is every real record trialmap ships: the 50 API v2 records of
  ``tests/data/ctgov/ctg-studies-50.json`` (website JSON export, 2,083 sites, 2023-06/07)
  restricted to the fields the fetcher asks for (``trialmap/data/ctgov_query.toml``), and
  the 1,783 classic-API records of the bundled snapshot
  (``data/raw/ctgov-classic-2022-01-21``, 4,253 sites) re-encoded in the API v2 data
  model by :func:`classic_to_v2`. Together: 1,833 records, 6,336 sites, 3.46 sites per
  study. The 50 v2 records alone have 41.7 sites per study (they are large
  multinational trials), far above the registry's (about half a million studies,
  several million sites); the classic records (2.4 per study, 185 with none) bring the
  pool to a registry-like mix of mostly single-site trials and a long tail.
* Copies are drawn in rounds: each round is a fresh seeded permutation of the whole
  pool, so every real record is used ``n / 1833`` times (+-1) and the mean sites per
  study of every size equals the pool's (the manifest records the exact figure).
* Each copy gets a new NCT id, ``NCT9`` + 7 digits (``NCT90000000`` ...): the registry
  assigns ids in order and is at ``NCT07xxxxxx``, so these cannot collide with real
  ids. Everything else, sites included, is the real record's value. The id is
  the only edit.

:func:`classic_to_v2` is a re-encoding, not a transformation of content: the same
values in the v2 names and spellings (``"September 9, 2015"`` -> ``"2015-09-09"``,
``"March 2019"`` -> ``"2019-03"``, ``"Phase 1"`` -> ``"PHASE1"``, ``"Recruiting"`` ->
``"RECRUITING"``, ``"Anticipated"`` -> ``"ESTIMATED"``, enrollment ``"30"`` -> ``30``),
with the same enum mappings the classic reader applies; a value no format fits is kept
as written. ``tests/test_scale.py`` checks that the v2 reader gives the classic
reader's tables for every re-encoded record.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import struct
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from trialmap.paths import sha256_file
from trialmap.snapshot import FORMAT_PAGES

GENERATOR_VERSION = 1
PAGE_SIZE = 1000
ID_PREFIX = "NCT9"  # + 7 digits: beyond any id the registry has assigned (NCT07xxxxxx in 2026)
_PLACEHOLDER = "NCT-SYNTHETIC-ID"
SIZES = {"10k": 10_000, "50k": 50_000, "100k": 100_000, "500k": 500_000}

ROOT = Path(__file__).resolve().parents[2]
V2_SEED = ROOT / "tests" / "data" / "ctgov" / "ctg-studies-50.json"
CLASSIC_SEED = ROOT / "data" / "raw" / "ctgov-classic-2022-01-21"


def default_dir() -> Path:
    """Where generated snapshots go unless told otherwise: ``$TMPDIR/trialmap-scale``."""
    return Path(tempfile.gettempdir()) / "trialmap-scale"


def parse_size(text: str) -> int:
    """``"10k"`` -> 10000, ``"2500"`` -> 2500."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = 1_000 if t.endswith("k") else 1
    try:
        n = int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        msg = f"{text!r} is not a number of studies (e.g. 2500, 10k, 500k)"
        raise argparse.ArgumentTypeError(msg) from None
    if n < 1:
        msg = f"{text!r}: at least one study"
        raise argparse.ArgumentTypeError(msg)
    return n


# ---------------------------------------------------------------- classic -> v2 re-encoding


def _v2_date(value: str | None) -> str | None:
    """Classic display date -> v2 ISO form at the same precision; unparseable kept as written."""
    if not value:
        return value
    for fmt, out in (("%B %d, %Y", "%Y-%m-%d"), ("%B %Y", "%Y-%m")):
        try:
            return datetime.strptime(value, fmt).strftime(out)
        except ValueError:
            continue
    return value


def _date_struct(struct: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    from trialmap.sources.common import to_enum

    if not struct or struct.get(key) is None:
        return None
    out: dict[str, Any] = {"date": _v2_date(struct[key])}
    kind = struct.get(f"{key}Type")
    if kind:
        out["type"] = to_enum(kind, {"Anticipated": "ESTIMATED", "Estimate": "ESTIMATED"})
    return out


def _items(module: dict[str, Any], list_key: str, item_key: str) -> list[Any]:
    return (module or {}).get(list_key, {}).get(item_key, []) or []


def _prune(value: Any) -> Any:
    """Drop None values and empty containers, as the API leaves absent fields out."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def classic_to_v2(study: dict[str, Any]) -> dict[str, Any]:
    """One classic ``full_studies`` Study object re-encoded in the API v2 model.

    Only the fields the fetcher asks for (and the readers read) are carried; every
    value is the classic record's, in v2 spelling (see the module docstring).
    """
    from trialmap.sources.classic import ENROLLMENT_TYPE
    from trialmap.sources.common import phase_enum, status_enum, to_enum

    p = study["ProtocolSection"]
    d = study.get("DerivedSection", {})
    ident = p["IdentificationModule"]
    status = p.get("StatusModule", {})
    design = p.get("DesignModule", {})
    enroll = design.get("EnrollmentInfo", {})
    sponsor = p.get("SponsorCollaboratorsModule", {}).get("LeadSponsor", {})
    misc = d.get("MiscInfoModule", {})
    cond = p.get("ConditionsModule", {})
    browse = d.get("ConditionBrowseModule", {})
    # "Phase 1/Phase 2" -> ["PHASE1", "PHASE2"], as v2 lists them
    phases = [x for ph in _items(design, "PhaseList", "Phase")
              for x in (phase_enum(ph) or "").split("|") if x]
    count = enroll.get("EnrollmentCount")
    v2 = {
        "protocolSection": {
            "identificationModule": {
                "nctId": ident["NCTId"], "briefTitle": ident.get("BriefTitle"),
                "officialTitle": ident.get("OfficialTitle"),
            },
            "statusModule": {
                "overallStatus": status_enum(status.get("OverallStatus")),
                "startDateStruct": _date_struct(status.get("StartDateStruct"), "StartDate"),
                "studyFirstPostDateStruct": _date_struct(
                    status.get("StudyFirstPostDateStruct"), "StudyFirstPostDate"),
                "lastUpdatePostDateStruct": _date_struct(
                    status.get("LastUpdatePostDateStruct"), "LastUpdatePostDate"),
            },
            "sponsorCollaboratorsModule": {
                "leadSponsor": {"name": sponsor.get("LeadSponsorName"),
                                "class": sponsor.get("LeadSponsorClass")},
            },
            "conditionsModule": {
                "conditions": _items(cond, "ConditionList", "Condition"),
                "keywords": _items(cond, "KeywordList", "Keyword"),
            },
            "designModule": {
                "studyType": to_enum(design.get("StudyType")),
                "phases": phases,
                "enrollmentInfo": {
                    "count": int(count) if isinstance(count, str) and count.isdigit() else count,
                    "type": to_enum(enroll.get("EnrollmentType"), ENROLLMENT_TYPE),
                },
            },
            "armsInterventionsModule": {
                "interventions": [
                    {
                        "type": to_enum(iv.get("InterventionType")),
                        "name": iv.get("InterventionName"),
                        "description": iv.get("InterventionDescription"),
                        "otherNames": _items(iv, "InterventionOtherNameList", "InterventionOtherName"),
                    }
                    for iv in _items(p.get("ArmsInterventionsModule", {}), "InterventionList", "Intervention")
                ],
            },
            "contactsLocationsModule": {
                "locations": [
                    {
                        "facility": loc.get("LocationFacility"),
                        "status": status_enum(loc.get("LocationStatus")),
                        "city": loc.get("LocationCity"),
                        "state": loc.get("LocationState"),
                        "zip": loc.get("LocationZip"),
                        "country": loc.get("LocationCountry"),
                    }
                    for loc in _items(p.get("ContactsLocationsModule", {}), "LocationList", "Location")
                ],
            },
        },
        "derivedSection": {
            "miscInfoModule": {
                "versionHolder": _v2_date(misc.get("VersionHolder")),
                "removedCountries": _items(misc, "RemovedCountryList", "RemovedCountry"),
            },
            "conditionBrowseModule": {
                "meshes": [{"id": m.get("ConditionMeshId"), "term": m.get("ConditionMeshTerm")}
                           for m in _items(browse, "ConditionMeshList", "ConditionMesh")],
                "ancestors": [{"id": m.get("ConditionAncestorId"), "term": m.get("ConditionAncestorTerm")}
                              for m in _items(browse, "ConditionAncestorList", "ConditionAncestor")],
            },
        },
    }
    return _prune(v2)


# ---------------------------------------------------------------- seed pool






@functools.cache
def seed_pool() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The real seed records (v2 model, fields-limited) and a description of them."""
    from trialmap.query import load_query, project
    from trialmap.snapshot import verify_snapshot
    from trialmap.sources.classic import iter_records

    fields = list(load_query().fields)
    v2 = [project(s, fields) for s in json.loads(V2_SEED.read_bytes())]
    snap = verify_snapshot(CLASSIC_SEED)
    tarball = snap.file(snap.manifest["files"][0]["name"])
    classic = [project(classic_to_v2(s), fields) for _, s in iter_records(tarball)]
    pool = v2 + classic

    def n_sites(recs: list[dict[str, Any]]) -> int:
        return sum(len(r["protocolSection"].get("contactsLocationsModule", {}).get("locations", []))
                   for r in recs)

    info = {
        "v2_records": {"file": str(V2_SEED.relative_to(ROOT)), "sha256": sha256_file(V2_SEED),
                       "studies": len(v2), "sites": n_sites(v2),
                       "how": "API v2 records restricted to the fields of trialmap/data/ctgov_query.toml"},
        "classic_records": {"snapshot": snap.id, "file": str(tarball.relative_to(ROOT)),
                            "sha256": snap.manifest["files"][0]["sha256"], "studies": len(classic),
                            "sites": n_sites(classic),
                            "how": "classic API records re-encoded in the API v2 model "
                                   "(trialmap.bench.scale.classic_to_v2: same values, v2 spellings)"},
        "studies": len(pool),
        "sites": n_sites(pool),
    }
    info["mean_sites_per_study"] = round(info["sites"] / len(pool), 3)
    return pool, info


# ---------------------------------------------------------------- generation


def _order(n: int, pool_size: int, seed: int) -> Iterator[int]:
    """Pool indices in rounds of fresh seeded permutations: each record used n/pool_size (+-1) times."""
    rng = random.Random(seed)
    done = 0
    while done < n:
        perm = list(range(pool_size))
        rng.shuffle(perm)
        yield from perm[: n - done]
        done += min(pool_size, n - done)


def synthetic_id(i: int) -> str:
    return f"{ID_PREFIX}{i:07d}"


def snapshot_id(n: int, seed: int = 0, page_size: int = PAGE_SIZE) -> str:
    size = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    return f"synthetic-scale-{size}-seed{seed}-p{page_size}-v{GENERATOR_VERSION}"


def generate(n: int, out_dir: str | Path | None = None, *, seed: int = 0, page_size: int = PAGE_SIZE,
             reuse: bool = True):  # -> Snapshot
    """Write (or reuse) a synthetic snapshot of ``n`` re-identified real records.

    Parameters
    ----------
    n
        Number of studies.
    out_dir
        The raw store to write into (default :func:`default_dir`; never ``data/raw``
        unless you pass it).
    seed
        Seed of the draw order.
    page_size
        Studies per page file (the API's maximum, 1000, by default).
    reuse
        Return an existing snapshot of the same id (same n, seed, page size and
        generator version) after verifying it, instead of failing.

    Returns
    -------
    trialmap.snapshot.Snapshot
    """
    from trialmap.snapshot import verify_snapshot, write_snapshot

    if n > 10_000_000:
        msg = f"{n} studies: the synthetic id range NCT9xxxxxxx holds 10 million"
        raise ValueError(msg)
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    sid = snapshot_id(n, seed, page_size)
    if reuse and (out_dir / sid / "manifest.json").is_file():
        return verify_snapshot(out_dir / sid)
    pool, info = seed_pool()
    # Each seed serialised once, with a placeholder id: a copy is one string replacement.
    templates = []
    for rec in pool:
        rec = json.loads(json.dumps(rec))
        rec["protocolSection"]["identificationModule"]["nctId"] = _PLACEHOLDER
        text = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        if text.count(_PLACEHOLDER) != 1:  # pragma: no cover - the placeholder is not in real data
            msg = "placeholder id collides with record text"
            raise RuntimeError(msg)
        templates.append(text)
    sites = [len(r["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])) for r in pool]
    order = list(_order(n, len(pool), seed))
    n_pages = (n + page_size - 1) // page_size
    pages = [f"page-{k:04d}.json" for k in range(1, n_pages + 1)]

    def files() -> Iterator[tuple[str, bytes]]:
        for k in range(n_pages):
            chunk = order[k * page_size:(k + 1) * page_size]
            studies = ",".join(
                templates[j].replace(_PLACEHOLDER, synthetic_id(k * page_size + m))
                for m, j in enumerate(chunk)
            )
            tail = f',"nextPageToken":"synthetic-page-{k + 2:04d}"' if k + 1 < n_pages else ""
            total = f',"totalCount":{n}' if k == 0 else ""  # countTotal: first page only, like the API
            yield pages[k], f'{{"studies":[{studies}]{tail}{total}}}'.encode()

    n_sites = sum(sites[j] for j in order)
    versions = sorted({str(r.get("derivedSection", {}).get("miscInfoModule", {}).get("versionHolder"))
                       for r in pool})
    manifest = {
        "format": FORMAT_PAGES,
        "title": f"SYNTHETIC: {n:,} re-identified copies of real ClinicalTrials.gov records (benchmark)",
        "synthetic": True,
        "synthetic_how": {
            "generator": f"trialmap.bench.scale v{GENERATOR_VERSION}",
            "method": "copies of real records drawn in rounds of seeded permutations of the seed pool "
                      "(each used n/pool (+-1) times); NCT ids replaced by NCT9 + 7 digits in page order; "
                      "every other value, sites included, is the real record's",
            "seed": seed,
            "seed_pool": info,
            "mean_sites_per_study": round(n_sites / n, 3),
            "sites": n_sites,
            "id_range": [synthetic_id(0), synthetic_id(n - 1)],
        },
        "source": {"registry": "ClinicalTrials.gov", "obtained": "synthetic (trialmap.bench.scale)"},
        "registry_data_date": versions[-1],
        "registry_data_date_note": "newest registry version date among the seed records; "
                                   f"the copies carry their seeds' own dates "
                                   f"({versions[0]} .. {versions[-1]})",
        "pages": pages,
        "page_count": n_pages,
        "record_count": n,
        "total_count": n,
        "manual_download": False,
        "attribution": "Synthetic benchmark data built from ClinicalTrials.gov (U.S. National Library of "
                       "Medicine) records; not registry data: NCT ids are invented.",
    }
    return write_snapshot(out_dir, sid, files(), manifest)


# ---------------------------------------------------------------- the bulk download (json.zip)


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _generic_v2(value: Any) -> Any:
    """A classic value with v2-style names: camelCase keys, ``XList: {X: [...]}`` -> ``xs: [...]``."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if (k.endswith("List") and isinstance(v, dict) and len(v) == 1
                    and isinstance(next(iter(v.values())), list)):
                (item, items), = v.items()
                out[_camel(item) + "s"] = [_generic_v2(x) for x in items]
            else:
                out[_camel(k)] = _generic_v2(v)
        return out
    if isinstance(value, list):
        return [_generic_v2(v) for v in value]
    return value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``: ``over`` wins; dicts merged key by key, lists replaced whole."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _drop_paths(study: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """``study`` without the (top-level part of the) field paths the reader reads."""
    out = json.loads(json.dumps(study))
    for path in paths:
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                break
        else:
            node.pop(leaf, None)
    return out


def _id_last(study: dict[str, Any]) -> dict[str, Any]:
    """The same record with ``protocolSection.identificationModule.nctId`` as its last text
    (key order means nothing in JSON; it lets the generator compress each record's text once)."""
    p = dict(study["protocolSection"])
    ident = dict(p.pop("identificationModule"))
    nct = ident.pop("nctId")
    p["identificationModule"] = {**ident, "nctId": nct}
    rest = {k: v for k, v in study.items() if k != "protocolSection"}
    return {**rest, "protocolSection": p}


@functools.cache
def full_seed_pool() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The seed records in full, in :func:`seed_pool`'s order: what a bulk download member holds.

    The 50 API v2 records as the website exported them (every field). The classic
    records: the fields the reader reads exactly as :func:`seed_pool` has them
    (:func:`classic_to_v2`), and every other field of the classic record carried along
    with v2-style names (:func:`_generic_v2`) so that each record has its real size; a
    classic field that would land on a path the reader reads is left out. Restricted to
    the fetcher's fields, each full record equals its :func:`seed_pool` record (checked).
    """
    from trialmap.query import load_query, project
    from trialmap.snapshot import verify_snapshot
    from trialmap.sources.classic import iter_records

    fields = list(load_query().fields)
    pool, info = seed_pool()
    v2 = json.loads(V2_SEED.read_bytes())
    snap = verify_snapshot(CLASSIC_SEED)
    tarball = snap.file(snap.manifest["files"][0]["name"])
    classic = []
    for _, s in iter_records(tarball):
        needed = classic_to_v2(s)
        classic.append(_merge(_drop_paths(_generic_v2(s), fields), needed))
    full = [_id_last(r) for r in v2 + classic]
    for rec, limited in zip(full, pool, strict=True):
        if project(rec, fields) != limited:  # pragma: no cover - checked by the tests
            nct = rec["protocolSection"]["identificationModule"]["nctId"]
            msg = f"full record of {nct} reads differently"
            raise RuntimeError(msg)
    sizes = [len(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode()) for r in full]
    return full, {**info, "mean_json_bytes": round(sum(sizes) / len(sizes)),
                  "how_full": "v2 records as exported (every field); classic records: the read fields "
                              "as classic_to_v2 writes them plus every other classic field with "
                              "v2-style names (_generic_v2), nctId moved to the end of each record"}


_ZIP_LOCAL = struct.Struct("<4s5H3L2H")
_ZIP_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_DOS_TIME, _DOS_DATE = 0, (2026 - 1980) << 9 | 8 << 5 | 1  # 2026-08-01 00:00, fixed: deterministic


def write_json_zip(path: Path, members: Iterator[tuple[str, bytes, int, int]], *,
                   force_zip64: bool = False) -> dict[str, int]:
    """Write a zip of already-deflated members ``(name, deflated, crc32, size)``; zip64 when needed.

    A plain writer (local headers, central directory, zip64 end records past 65,535
    members or 4 GiB) so that the generator can deflate each record's text once and
    only the id per copy; :mod:`zipfile` reads it back (tested).
    """
    central, offset, count, raw = [], 0, 0, 0
    with open(path, "wb") as fh:
        for name, data, crc, size in members:
            bname = name.encode()
            fh.write(_ZIP_LOCAL.pack(b"PK\x03\x04", 20, 0, 8, _DOS_TIME, _DOS_DATE, crc, len(data), size,
                                     len(bname), 0))
            fh.write(bname)
            fh.write(data)
            big = offset >= 0xFFFFFFFF or force_zip64
            extra = struct.pack("<HHQ", 1, 8, offset) if big else b""
            central.append(_ZIP_CENTRAL.pack(
                b"PK\x01\x02", 45 if big else 20, 3, 45 if big else 20, 0, 0, 8, _DOS_TIME, _DOS_DATE, crc,
                len(data), size, len(bname), len(extra), 0, 0, 0, 0o644 << 16,
                0xFFFFFFFF if big else offset) + bname + extra)
            offset += _ZIP_LOCAL.size + len(bname) + len(data)
            count += 1
            raw += size
        cd_start = offset
        for entry in central:
            fh.write(entry)
        cd_size = sum(map(len, central))
        if count >= 0xFFFF or cd_start >= 0xFFFFFFFF or force_zip64:
            eocd64 = cd_start + cd_size
            fh.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size,
                                 cd_start))
            fh.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd64, 1))
            fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
        else:
            fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_start, 0))
    return {"members": count, "json_bytes": raw, "zip_bytes": path.stat().st_size}


def zip_snapshot_id(n: int, seed: int = 0) -> str:
    size = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    return f"synthetic-bulk-{size}-seed{seed}-v{GENERATOR_VERSION}"


def generate_zip(n: int, out_dir: str | Path | None = None, *, seed: int = 0, reuse: bool = True,
                 level: int = 6):  # -> Snapshot
    """Write (or reuse) a synthetic bulk download (``json.zip``) of ``n`` re-identified full records.

    The same draw as :func:`generate` with the same ``seed``: copy ``i`` is the same real
    record with the same id ``NCT9...`` in both, so a zip and pages of one ``n`` and
    ``seed`` hold the same studies. One member ``NCT9xxxxxxx.json`` per study, deflated
    (``level``), compact JSON, in id order.
    """
    import zlib

    from trialmap.snapshot import verify_snapshot, write_snapshot
    from trialmap.sources.bulk_zip import FORMAT

    if n > 10_000_000:
        msg = f"{n} studies: the synthetic id range NCT9xxxxxxx holds 10 million"
        raise ValueError(msg)
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    sid = zip_snapshot_id(n, seed)
    if reuse and (out_dir / sid / "manifest.json").is_file():
        return verify_snapshot(out_dir / sid)
    full, info = full_seed_pool()
    templates = []  # (compressor after the text before the id, its output so far, crc so far, suffix)
    for rec in full:
        rec = json.loads(json.dumps(rec))
        rec["protocolSection"]["identificationModule"]["nctId"] = _PLACEHOLDER
        text = json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode()
        head, tail = text.split(_PLACEHOLDER.encode())
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        templates.append((comp, comp.compress(head), zlib.crc32(head), len(head), tail))
    order = list(_order(n, len(full), seed))

    def members() -> Iterator[tuple[str, bytes, int, int]]:
        for i, j in enumerate(order):
            comp, out, crc, size, tail = templates[j]
            rest = synthetic_id(i).encode() + tail
            c = comp.copy()
            yield (f"{synthetic_id(i)}.json", out + c.compress(rest) + c.flush(), zlib.crc32(rest, crc),
                   size + len(rest))

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".tmp-zip-") as tmp:
        zpath = Path(tmp) / "ctg-studies.json.zip"
        stats = write_json_zip(zpath, members())
        pool_sites = [len(r["protocolSection"].get("contactsLocationsModule", {}).get("locations", []))
                      for r in full]
        n_sites = sum(pool_sites[j] for j in order)
        manifest = {
            "format": FORMAT,
            "title": f"SYNTHETIC: bulk download of {n:,} re-identified copies of real ClinicalTrials.gov "
                     "records (benchmark)",
            "synthetic": True,
            "synthetic_how": {
                "generator": f"trialmap.bench.scale v{GENERATOR_VERSION} (generate_zip)",
                "method": "the draw of generate() with the same seed (same record under the same id); "
                          "full records (see full_seed_pool); one deflated member per study",
                "seed": seed, "seed_pool": info, "sites": n_sites,
                "mean_sites_per_study": round(n_sites / n, 3),
                "id_range": [synthetic_id(0), synthetic_id(n - 1)],
                "json_bytes": stats["json_bytes"], "deflate_level": level,
            },
            "source": {"registry": "ClinicalTrials.gov", "obtained": "synthetic (trialmap.bench.scale)"},
            "registry_data_date": max(str(r.get("derivedSection", {}).get("miscInfoModule", {})
                                          .get("versionHolder")) for r in full),
            "record_count": n,
            "manual_download": False,
            "attribution": "Synthetic benchmark data built from ClinicalTrials.gov (U.S. National Library of "
                           "Medicine) records; not registry data: NCT ids are invented.",
        }
        return write_snapshot(out_dir, sid, [(zpath.name, zpath)], manifest)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trialmap.bench scale SIZE... [--out DIR] [--seed N]``."""
    p = argparse.ArgumentParser(
        prog="python -m trialmap.bench scale",
        description="Write synthetic snapshots of re-identified copies of the real seed records "
                    "(see trialmap/bench/scale.py).",
    )
    p.add_argument("sizes", nargs="*", type=parse_size, default=[10_000, 100_000, 500_000],
                   help="numbers of studies, e.g. 10k 100k 500k (default)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"raw store to write into (default: {default_dir()}; not data/raw)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--page-size", type=int, default=PAGE_SIZE)
    p.add_argument("--json-zip", action="store_true",
                   help="write the bulk download format (json.zip of full records) instead of pages")
    args = p.parse_args(argv)
    for n in args.sizes:
        t0 = time.perf_counter()
        if args.json_zip:
            snap = generate_zip(n, args.out, seed=args.seed)
            how = snap.manifest["synthetic_how"]
            print(f"{snap.path}: {n:,} studies, {how['json_bytes'] / 1e6:,.0f} MB of JSON, "  # noqa: T201
                  f"{snap.manifest['files'][0]['bytes'] / 1e6:,.0f} MB zipped, "
                  f"{time.perf_counter() - t0:.1f} s")
            continue
        snap = generate(n, args.out, seed=args.seed, page_size=args.page_size)
        size = sum(e["bytes"] for e in snap.manifest["files"])
        how = snap.manifest["synthetic_how"]
        print(f"{snap.path}: {n:,} studies, {how['sites']:,} sites "  # noqa: T201
              f"({how['mean_sites_per_study']} per study), {snap.manifest['page_count']} pages, "
              f"{size / 1e6:,.0f} MB, {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
