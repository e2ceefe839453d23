"""Registry-scale snapshots made of re-identified copies of real records (clearly synthetic).

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
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from trialmap.paths import sha256_file

GENERATOR_VERSION = 1
FORMAT_PAGES = "ctgov-v2-api-pages"
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
    args = p.parse_args(argv)
    for n in args.sizes:
        t0 = time.perf_counter()
        snap = generate(n, args.out, seed=args.seed, page_size=args.page_size)
        size = sum(e["bytes"] for e in snap.manifest["files"])
        how = snap.manifest["synthetic_how"]
        print(f"{snap.path}: {n:,} studies, {how['sites']:,} sites "  # noqa: T201
              f"({how['mean_sites_per_study']} per study), {snap.manifest['page_count']} pages, "
              f"{size / 1e6:,.0f} MB, {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
