"""Cross-check of the v2 reader (issue item 6).

The classic archive (bundled snapshot, January 2022) and the v2 exports (June
2023) share NO study, so "readers agree on the studies they share" cannot be
tested on real data: the first test states that, and the second checks the v2
reader field by field against the raw JSON of every one of the 50 real records,
parsed here independently of trialmap.
"""

from __future__ import annotations

import json
import tarfile

import pandas as pd

from trialmap.sources import v2

from .conftest import BUNDLED_TARBALL, ROOT

EXPORT = ROOT / "tests" / "data" / "ctgov" / "ctg-studies-50.json"


def test_the_classic_archive_and_the_v2_exports_share_no_study():
    with tarfile.open(BUNDLED_TARBALL, "r:gz") as tar:
        classic = {m.name.rsplit("/", 1)[-1][:-5] for m in tar if m.name.endswith(".json")}
    for name in ("ctg-studies-50.json", "ctg-studies-10.json"):
        raw = json.loads((ROOT / "tests" / "data" / "ctgov" / name).read_text())
        assert len(classic) == 1783 and classic.isdisjoint(
            s["protocolSection"]["identificationModule"]["nctId"] for s in raw
        )


def _s(v):
    return None if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA else v


def test_v2_reader_matches_the_raw_json_field_by_field():
    raw = json.loads(EXPORT.read_text())
    t = v2.read(EXPORT)
    studies = t.studies.set_index("nct_id")
    sites = t.sites.set_index(["nct_id", "site_no"])
    n_sites = n_cond = n_iv = 0
    for s in raw:
        p, d = s["protocolSection"], s.get("derivedSection", {})
        nct = p["identificationModule"]["nctId"]
        row = studies.loc[nct]
        assert row["title"] == p["identificationModule"]["briefTitle"]
        assert _s(row["official_title"]) == p["identificationModule"].get("officialTitle")
        assert row["overall_status"] == p["statusModule"]["overallStatus"]
        phases = p["designModule"].get("phases")
        assert _s(row["phases"]) == ("|".join(phases) if phases else None)
        assert row["study_type"] == p["designModule"]["studyType"]
        assert _s(row["enrollment"]) == p["designModule"].get("enrollmentInfo", {}).get("count")
        last = p["statusModule"]["lastUpdatePostDateStruct"]["date"]
        assert row["last_update"] == pd.Timestamp(last)
        assert row["lead_sponsor"] == p["sponsorCollaboratorsModule"]["leadSponsor"]["name"]
        assert str(row["registry_data_date"])[:10] == d["miscInfoModule"]["versionHolder"]
        for i, loc in enumerate(p.get("contactsLocationsModule", {}).get("locations", [])):
            site = sites.loc[(nct, i)]
            for col, key in (("facility", "facility"), ("city", "city"), ("state", "state"),
                             ("zip", "zip"), ("country", "country"), ("site_status", "status")):
                assert _s(site[col]) == loc.get(key), (nct, i, col)
            geo = loc.get("geoPoint")
            assert (_s(site["lat"]), _s(site["lon"])) == ((geo["lat"], geo["lon"]) if geo else (None, None))
            assert _s(site["geo_source"]) == ("registry" if geo else None)
            n_sites += 1
        cond = t.conditions[t.conditions["nct_id"] == nct]
        cm = p.get("conditionsModule", {})
        browse = d.get("conditionBrowseModule", {})
        expected = (
            [("condition", c) for c in cm.get("conditions", [])]
            + [("keyword", k) for k in cm.get("keywords", [])]
            + [("mesh", m["term"]) for m in browse.get("meshes", [])]
            + [("mesh_ancestor", m["term"]) for m in browse.get("ancestors", [])]
        )
        assert sorted(zip(cond["source"], cond["term"], strict=True)) == sorted(expected)
        n_cond += len(expected)
        iv = t.interventions[t.interventions["nct_id"] == nct]
        ivs = p.get("armsInterventionsModule", {}).get("interventions", [])
        assert sorted(zip(iv["type"], iv["name"], strict=True)) == sorted((x["type"], x["name"]) for x in ivs)
        n_iv += len(ivs)
    assert (n_sites, len(t.sites)) == (2083, 2083)
    assert n_cond == len(t.conditions) and n_iv == len(t.interventions)
