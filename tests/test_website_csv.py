"""Website CSV downloads: the readers against the JSON records of the same trials, and `trialmap import`."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from trialmap.countries import to_iso3
from trialmap.errors import SnapshotExistsError, SourceFormatError
from trialmap.snapshot import open_snapshot, sha256_file
from trialmap.sources import detect_download_format, import_download, read_snapshot, website_csv

from .conftest import ROOT

DATA = ROOT / "tests" / "data" / "ctgov"
CLASSIC_CSV = DATA / "website-search-results-mesenchymal.csv"
V2_CSV = DATA / "ctg-studies-172.csv"


@pytest.fixture(scope="module")
def classic_csv():
    return website_csv.read(CLASSIC_CSV)


@pytest.fixture(scope="module")
def v2_csv():
    return website_csv.read(V2_CSV)


def test_classic_csv_country_of_every_site_agrees_with_the_json_records(classic_csv, tables):
    assert len(classic_csv.studies) == 1438 and classic_csv.studies["nct_id"].is_unique
    both = set(classic_csv.studies["nct_id"]) & set(tables.studies["nct_id"])
    assert len(both) == 1438  # every CSV study is in the bundled archive
    key = ["nct_id", "site_no"]
    a = classic_csv.sites[classic_csv.sites["nct_id"].isin(both)].set_index(key)
    b = tables.sites[tables.sites["nct_id"].isin(both)].set_index(key)
    assert len(a) == len(b) == 3489
    joined = a.join(b, how="outer", suffixes=("", "_json"))
    assert (joined["country"] == joined["country_json"]).all()
    # The hard cases: commas inside country names.
    assert (a["country"] == "Korea, Republic of").sum() > 100
    assert (a["country"] == "Iran, Islamic Republic of").sum() > 20
    # City and state are split by position: right for most sites, not all (README).
    assert (joined["city"] == joined["city_json"]).mean() > 0.9


def test_classic_csv_fields_agree_with_the_json_records(classic_csv, tables):
    ids = classic_csv.studies["nct_id"]
    a = classic_csv.studies.set_index("nct_id")
    b = tables.studies.set_index("nct_id").loc[ids]
    for col in ("title", "overall_status", "study_type", "first_posted", "start_date", "enrollment"):
        same = (a[col] == b[col]) | (a[col].isna() & b[col].isna())
        assert same.mean() > 0.99, (col, a.loc[~same, col].head(3).tolist())
    assert (a["phases"].fillna("") == b["phases"].fillna("")).all()


def test_v2_csv_every_site_has_its_country_except_the_one_without(v2_csv, caplog):
    assert len(v2_csv.studies) == 172 and len(v2_csv.sites) == 7038
    raw = pd.read_csv(V2_CSV, dtype=str, keep_default_na=False)
    texts = raw.set_index("NCT Number")["Locations"].str.split("|").explode()
    texts = texts[texts.str.strip() != ""]
    s = v2_csv.sites
    assert len(texts) == len(s)
    no_country = website_csv.sites_without_country(v2_csv)
    # NCT00143234's 118th site is just "Pfizer Investigational Site": no country at all.
    assert no_country.to_dict("records") == [
        {"nct_id": "NCT00143234", "site_no": 117, "facility": "Pfizer Investigational Site"}
    ]
    placed = s[s["country"].notna()]
    assert to_iso3(placed["country"]).notna().all()
    # Independent check: each site text ends with ", <country>" exactly.
    texts = texts.reset_index(drop=True)
    ends = [t.endswith(", " + c) for t, c in zip(texts[s["country"].notna().to_numpy()], placed["country"],
                                                 strict=True)]
    assert all(ends)
    assert {"South Korea", "Russia", "Turkey (Türkiye)", "Czechia", "India"} <= set(placed["country"])
    with caplog.at_level(logging.WARNING):
        website_csv.read(V2_CSV)
    assert "NCT00143234 'Pfizer Investigational Site'" in caplog.text


def test_v2_csv_fields(v2_csv):
    st = v2_csv.studies.set_index("nct_id")
    assert st.at["NCT03555344", "first_posted"] == pd.Timestamp("2018-06-13")
    assert st.at["NCT03555344", "overall_status"] == "COMPLETED"
    assert set(st["study_type"].dropna()) == {"INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"}
    assert set(st["first_posted_precision"].dropna()) == {"day"}
    assert set(st["start_date_precision"].dropna()) <= {"day", "month"}
    assert "month" in set(st["start_date_precision"])  # "2019-03"-style dates
    iv = v2_csv.interventions
    one = iv.loc[iv["nct_id"] == "NCT03555344", ["type", "name"]].to_numpy().tolist()
    assert one == [["OTHER", "Mantra Chikitsa"]]
    site = v2_csv.sites.iloc[0]
    assert (site["facility"], site["city"], site["state"], site["zip"], site["country"]) == (
        "NMP Medical Research Institute", "Jaipur", "Rajasthan", "302019", "India")


def test_split_location_longest_known_suffix():
    # Real site texts from the two CSVs.
    s = website_csv.split_location("Samsung Medical Center, Seoul, Korea, Republic of")
    assert (s["facility"], s["city"]) == ("Samsung Medical Center", "Seoul")
    assert s["country"] == "Korea, Republic of"
    s = website_csv.split_location("Mayo Clinic Florida, Jacksonville, Florida, United States")
    assert (s["city"], s["state"], s["country"]) == ("Jacksonville", "Florida", "United States")
    s = website_csv.split_location("Pfizer Investigational Site, Istanbul, Fatih, 34080, Turkey (Türkiye)")
    assert (s["zip"], s["country"]) == ("34080", "Turkey (Türkiye)")
    assert website_csv.split_location("Pfizer Investigational Site")["country"] is None


def test_import_keeps_the_file_byte_for_byte_with_a_manual_download_manifest(tmp_path):
    snap = import_download(CLASSIC_CSV, tmp_path / "raw", downloaded="2022-01-21")
    m = snap.manifest
    assert snap.id == "website-csv-classic-2022-01-21-0dc9af49"
    assert m["format"] == "ctgov-website-csv-classic" and m["manual_download"] is True
    assert m["downloaded"] == m["registry_data_date"] == "2022-01-21" and m["record_count"] == 1438
    stored = snap.path / CLASSIC_CSV.name
    assert stored.read_bytes() == CLASSIC_CSV.read_bytes()
    assert m["files"][0]["sha256"] == sha256_file(CLASSIC_CSV)
    again = open_snapshot(snap.id, tmp_path / "raw")
    t = read_snapshot(again)
    assert len(t.studies) == 1438 and (t.studies["registry_data_date"] == pd.Timestamp("2022-01-21")).all()
    with pytest.raises(SnapshotExistsError):
        import_download(CLASSIC_CSV, tmp_path / "raw", downloaded="2022-01-21")


def test_import_detects_every_download_format(tmp_path):
    assert detect_download_format(V2_CSV) == ("ctgov-website-csv-v2", 172)
    assert detect_download_format(CLASSIC_CSV) == ("ctgov-website-csv-classic", 1438)
    assert detect_download_format(DATA / "ctg-studies-50.json") == ("ctgov-v2-json-export", 50)
    snap = import_download(DATA / "ctg-studies-10.json", tmp_path / "raw", snapshot_id="j10")
    assert snap.manifest["format"] == "ctgov-v2-json-export"
    assert "modification date" in snap.manifest["downloaded_from"]
    assert len(read_snapshot(snap).studies) == 10
    # Synthetic faults: a CSV of something else, a JSON that is not an export.
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"not a ClinicalTrials\.gov download"):
        import_download(other, tmp_path / "raw")
    js = tmp_path / "x.json"
    js.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"not a ClinicalTrials\.gov export"):
        detect_download_format(js)
    assert not (tmp_path / "raw" / "other").exists()


def test_import_command(tmp_path, capsys):
    from trialmap.__main__ import main

    assert main(["--data-dir", str(tmp_path), "import", str(V2_CSV), "--downloaded", "2026-04-03"]) == 0
    out = capsys.readouterr().out
    assert "website-csv-2026-04-03-4c4e5beb: 172 studies, format ctgov-website-csv-v2" in out
    assert main(["--data-dir", str(tmp_path), "import", str(V2_CSV), "--downloaded", "03/04/2026"]) == 2
    assert main(["--data-dir", str(tmp_path), "import", str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("trialmap: error:") == 2 and "Traceback" not in err
