"""Tests for trialmap.countries against the real ClinicalTrials.gov files.

Country names are collected here by parsing each real file independently of the
importers, so the alias table is checked against every spelling the registry
actually used.
"""

from __future__ import annotations

import csv
import functools
import json
import tarfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from trialmap import countries
from trialmap.countries import (
    country_table,
    normalize_name,
    region_members,
    to_iso3,
    unknown_countries,
)
from trialmap.errors import TrialmapError, UnknownRegionError

ROOT = Path(__file__).resolve().parents[1]
CTGOV = ROOT / "tests" / "data" / "ctgov"
# The classic-API tarball is bundled once, as the raw snapshot (not under tests/).
CLASSIC_TARBALL = ROOT / "data" / "raw" / "ctgov-classic-2022-01-21" / "full_studies.tar.gz"
CLASSIC_CSV = CTGOV / "website-search-results-mesenchymal.csv"
V2_JSON = (CTGOV / "ctg-studies-50.json", CTGOV / "ctg-studies-10.json")
V2_CSV = CTGOV / "ctg-studies-172.csv"
DATA = ROOT / "trialmap" / "data"

# The one real site that carries no country at all: a facility name with no
# city and no country (last of NCT00143234's 118 sites in the v2 CSV export).
SITES_WITHOUT_COUNTRY = {V2_CSV.name: [("NCT00143234", "Pfizer Investigational Site")]}


# --------------------------------------------------------------------------- readers


@functools.cache
def classic_tarball_names() -> tuple[Counter, Counter]:
    """LocationCountry and RemovedCountry values of the classic-API tarball."""
    locations: Counter = Counter()
    removed: Counter = Counter()
    with tarfile.open(CLASSIC_TARBALL, "r:gz") as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".json")):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            study = json.load(handle)
            protocol = study.get("ProtocolSection", {})
            sites = (
                protocol.get("ContactsLocationsModule", {})
                .get("LocationList", {})
                .get("Location", [])
            )
            for site in sites:
                if site.get("LocationCountry"):
                    locations[site["LocationCountry"]] += 1
            misc = study.get("DerivedSection", {}).get("MiscInfoModule", {})
            for name in misc.get("RemovedCountryList", {}).get("RemovedCountry", []):
                removed[name] += 1
    return locations, removed


@functools.cache
def v2_json_names(path: Path) -> tuple[Counter, Counter]:
    """locations[].country and removedCountries[] of a website JSON export."""
    locations: Counter = Counter()
    removed: Counter = Counter()
    for study in json.loads(path.read_text(encoding="utf-8")):
        module = study.get("protocolSection", {}).get("contactsLocationsModule", {})
        for site in module.get("locations", []):
            if site.get("country"):
                locations[site["country"]] += 1
        misc = study.get("derivedSection", {}).get("miscInfoModule", {})
        for name in misc.get("removedCountries", []):
            removed[name] += 1
    return locations, removed


def alias_keys() -> set[str]:
    with (DATA / "country_aliases.csv").open(encoding="utf-8", newline="") as handle:
        return {normalize_name(row["name"]) for row in csv.DictReader(handle)}


def site_country(site: str, keys: set[str]) -> str | None:
    """The longest trailing ", "-separated part of a site that is a known country name."""
    parts = site.split(", ")
    found = None
    for start in range(len(parts) - 1, -1, -1):
        candidate = ", ".join(parts[start:])
        if normalize_name(candidate) in keys:
            found = candidate
    return found


@functools.cache
def csv_site_countries(path: Path) -> tuple[Counter, list[tuple[str, str]], list[tuple[str, str]]]:
    """Countries of the `Locations` column: (found, sites without country, unresolved sites)."""
    keys = alias_keys()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    found: Counter = Counter()
    no_country: list[tuple[str, str]] = []
    unresolved: list[tuple[str, str]] = []
    for nct, locations in zip(frame["NCT Number"], frame["Locations"], strict=True):
        for site in locations.split("|"):
            if not site.strip():
                continue
            country = site_country(site, keys)
            if country is not None:
                found[country] += 1
            elif ", " not in site:
                no_country.append((nct, site))
            else:
                unresolved.append((nct, site))
    return found, no_country, unresolved


# --------------------------------------------------------------- the real files


def test_project_copies_of_real_files_exist():
    for path in (CLASSIC_TARBALL, CLASSIC_CSV, *V2_JSON, V2_CSV):
        assert path.is_file(), f"missing real data file {path}"


def assert_all_known(names: Counter, where: str) -> None:
    series = pd.Series(list(names.elements()), dtype="string")
    unknown = unknown_countries(series)
    assert unknown.empty, f"{where}: unmapped names\n{unknown.to_string()}"
    assert to_iso3(series).notna().all()


def test_classic_tarball_location_countries_all_map():
    locations, _ = classic_tarball_names()
    assert len(locations) == 72
    assert_all_known(locations, CLASSIC_TARBALL.name)


def test_classic_tarball_removed_countries_all_map():
    _, removed = classic_tarball_names()
    assert len(removed) == 27
    assert_all_known(removed, f"{CLASSIC_TARBALL.name} RemovedCountry")


@pytest.mark.parametrize("path", V2_JSON, ids=lambda p: p.name)
def test_v2_json_countries_all_map(path):
    locations, removed = v2_json_names(path)
    assert locations
    assert_all_known(locations, path.name)
    assert_all_known(removed, f"{path.name} removedCountries")


def test_v2_json_distinct_country_counts():
    # The shared README documents 54 and 21 countries.
    assert len(v2_json_names(V2_JSON[0])[0]) == 54
    assert len(v2_json_names(V2_JSON[1])[0]) == 21
    assert v2_json_names(V2_JSON[0])[1] == Counter({"Swaziland": 1})


@pytest.mark.parametrize("path", [CLASSIC_CSV, V2_CSV], ids=lambda p: p.name)
def test_csv_every_site_has_a_known_country(path):
    found, no_country, unresolved = csv_site_countries(path)
    assert not unresolved, "sites whose country is not a known name:\n" + "\n".join(
        f"{nct}: {site}" for nct, site in unresolved
    )
    assert no_country == SITES_WITHOUT_COUNTRY.get(path.name, [])
    assert to_iso3(pd.Series(list(found))).notna().all()


def test_csv_country_spellings_are_the_registry_ones():
    classic, _, _ = csv_site_countries(CLASSIC_CSV)
    modern, _, _ = csv_site_countries(V2_CSV)
    assert {"Korea, Republic of", "Iran, Islamic Republic of", "Russian Federation"} <= set(classic)
    assert {"South Korea", "Russia", "Turkey (Türkiye)", "Czechia"} <= set(modern)
    # Typographic apostrophe, as the current website writes it.
    assert "Côte d\u2019Ivoire" in modern
    assert len(classic) == 65
    assert len(modern) == 83


def test_real_names_map_to_the_same_codes_across_eras():
    classic = to_iso3(pd.Series(["Korea, Republic of", "Russian Federation", "Turkey"]))
    modern = to_iso3(pd.Series(["South Korea", "Russia", "Turkey (Türkiye)"]))
    assert classic.tolist() == modern.tolist() == ["KOR", "RUS", "TUR"]


# ---------------------------------------------------------------- spot checks

SPOT_CHECKS = {
    "Korea, Republic of": "KOR",
    "Korea, Democratic People's Republic of": "PRK",
    "Iran, Islamic Republic of": "IRN",
    "Russian Federation": "RUS",
    "Russia": "RUS",
    "Turkey": "TUR",
    "Turkey (Türkiye)": "TUR",
    "Türkiye": "TUR",
    "Czechia": "CZE",
    "Czech Republic": "CZE",
    "Taiwan": "TWN",
    "Hong Kong": "HKG",
    "France": "FRA",
    "Norway": "NOR",
    "Viet Nam": "VNM",
    "Vietnam": "VNM",
    "Macedonia, The Former Yugoslav Republic of": "MKD",
    "North Macedonia": "MKD",
    "Kosovo": "XKX",
    "Former Serbia and Montenegro": "SCG",
    "Congo, The Democratic Republic of the": "COD",
    "Democratic Republic of the Congo": "COD",
    "Congo": "COG",
    "Côte D'Ivoire": "CIV",
    "Côte d\u2019Ivoire": "CIV",
    "Swaziland": "SWZ",
    "Réunion": "REU",
    "Antigua and Barbuda": "ATG",
    "Cayman Islands": "CYM",
    "United States": "USA",
    "United Kingdom": "GBR",
    "Georgia": "GEO",
    "Niger": "NER",
    "Nigeria": "NGA",
    "Dominica": "DMA",
    "Dominican Republic": "DOM",
    "Guinea": "GIN",
    "Papua New Guinea": "PNG",
    "Lao People's Democratic Republic": "LAO",
    "Libyan Arab Jamahiriya": "LBY",
    "Holy See (Vatican City State)": "VAT",
    "Virgin Islands (U.S.)": "VIR",
    "Moldova, Republic of": "MDA",
    "Tanzania": "TZA",
    "Palestinian Territory, occupied": "PSE",
}


@pytest.mark.parametrize(("name", "iso3"), SPOT_CHECKS.items())
def test_spot_checks(name, iso3):
    assert to_iso3(pd.Series([name])).tolist() == [iso3]


def test_normalization_is_case_space_and_unicode_insensitive():
    names = pd.Series(
        [
            "KOREA, REPUBLIC OF",
            "  korea,   republic   of ",
            "Korea,\u00a0Republic of",
            "Korea\tRepublic",
        ]
    )
    assert to_iso3(names).tolist()[:3] == ["KOR", "KOR", "KOR"]
    assert pd.isna(to_iso3(names).iloc[3])  # no comma: not the same name, never fuzzy
    assert normalize_name("  Côte  D\u2019IVOIRE ") == normalize_name("Côte d'Ivoire")


def test_to_iso3_keeps_index_name_and_uses_string_dtype():
    names = pd.Series(["France", None, "", "Atlantis", pd.NA], index=[10, 11, 12, 13, 14], name="c")
    result = to_iso3(names)
    assert str(result.dtype) == "string"
    assert result.name == "c"
    assert result.index.tolist() == [10, 11, 12, 13, 14]
    assert result.iloc[0] == "FRA"
    assert result.iloc[1:].isna().all()


def test_to_iso3_never_guesses():
    near_misses = pd.Series(
        ["Atlantis", "Frnace", "Korea", "Untied States", "Republic of", "Europe"]
    )
    assert to_iso3(near_misses).isna().all()


def test_unknown_countries_reports_names_and_counts():
    names = pd.Series(
        ["Atlantis", "France", "Atlantis", None, "", "  ", "Narnia", "Atlantis", "Russia", "Narnia"]
    )
    unknown = unknown_countries(names)
    assert list(unknown.columns) == ["country", "n_sites"]
    assert unknown.to_dict("records") == [
        {"country": "Atlantis", "n_sites": 3},
        {"country": "Narnia", "n_sites": 2},
    ]
    assert to_iso3(pd.Series(["Atlantis"])).isna().all()


def test_unknown_countries_empty_when_all_known():
    unknown = unknown_countries(pd.Series(["France", "Norway", None]))
    assert unknown.empty
    assert list(unknown.columns) == ["country", "n_sites"]


# --------------------------------------------------------------- the tables


def test_alias_table_is_consistent():
    aliases = pd.read_csv(DATA / "country_aliases.csv", dtype=str, keep_default_na=False)
    assert list(aliases.columns) == ["name", "iso3"]
    assert (aliases["name"].str.strip() == aliases["name"]).all()
    assert (aliases["name"] != "").all()
    assert not aliases["name"].duplicated().any()
    codes = set(country_table()["iso3"])
    missing = sorted(set(aliases["iso3"]) - codes)
    assert not missing, f"alias codes missing from countries.csv: {missing}"
    # No two spellings that normalise alike may disagree.
    keys = aliases.assign(key=aliases["name"].map(normalize_name))
    per_key = keys.groupby("key")["iso3"].nunique()
    assert (per_key == 1).all(), per_key[per_key > 1]
    # Every country has at least its display name as an alias.
    table = country_table()
    assert to_iso3(table["name"]).tolist() == table["iso3"].tolist()
    assert len(aliases) >= 500


def test_country_table_shape():
    table = country_table()
    assert list(table.columns) == ["iso3", "name", "continent", "subregion", "eu27", "who_region"]
    assert table["iso3"].is_unique
    assert table["iso3"].str.fullmatch(r"[A-Z]{3}").all()
    assert table["eu27"].dtype == bool
    # 249 ISO 3166-1 codes, Kosovo (XKX) and three former codes (ANT, SCG, YUG).
    assert len(table) == 253
    assert set(table["continent"].dropna()) == set(countries.CONTINENTS)
    assert set(table["who_region"].dropna()) == set(countries.WHO_REGIONS)
    assert table.loc[table["continent"].isna(), "iso3"].tolist() == ["ATA"]


def test_country_table_is_a_copy():
    table = country_table()
    table.loc[:, "name"] = "x"
    assert country_table()["name"].iloc[0] != "x"


def test_who_region_blank_for_non_members():
    who = country_table().set_index("iso3")["who_region"]
    for iso3 in ["TWN", "HKG", "MAC", "XKX", "PSE", "LIE", "VAT", "GRL", "REU"]:
        assert pd.isna(who[iso3]), iso3
    assert who["PRI"] == "AMR"  # associate member
    assert who["TKL"] == "WPR"  # associate member
    # 194 Member States plus the 2 Associate Members.
    assert who.notna().sum() == 196


# --------------------------------------------------------------- regions


def test_europe_is_the_un_m49_continent():
    europe = region_members("Europe")
    assert {"FRA", "DEU", "GBR", "NOR", "CHE", "RUS", "UKR", "ISL"} <= europe
    # UN M49: Türkiye and Cyprus are Western Asia; Russia is Eastern Europe.
    assert "TUR" not in europe
    assert "CYP" not in europe
    assert {"TUR", "CYP", "GEO", "ARM", "AZE"} <= region_members("Western Asia")
    assert "RUS" in region_members("Eastern Europe")


def test_eu27_has_exactly_27_members():
    eu = region_members("EU27")
    assert len(eu) == 27
    assert {"FRA", "DEU", "CYP", "HRV"} <= eu
    assert not {"GBR", "NOR", "CHE", "TUR"} & eu
    assert eu <= region_members("Europe") | {"CYP"}


@pytest.mark.parametrize(
    ("region", "size"),
    [("AFR", 47), ("AMR", 36), ("SEAR", 10), ("EUR", 53), ("EMR", 21), ("WPR", 29)],
)
def test_who_regions(region, size):
    assert len(region_members(region)) == size


def test_who_region_spot_checks():
    assert {"TUR", "ISR", "RUS", "KAZ"} <= region_members("EUR")
    assert {"IND", "THA", "PRK"} <= region_members("SEAR")
    assert {"EGY", "IRN", "PAK", "SOM"} <= region_members("EMR")
    assert {"CHN", "JPN", "KOR", "AUS", "IDN"} <= region_members("WPR")


def test_region_names_ignore_case():
    assert region_members("europe") == region_members("Europe")
    assert region_members("eu27") == region_members("EU27")


def test_region_members_raises_for_unknown_region():
    with pytest.raises(UnknownRegionError, match="Atlantis"):
        region_members("Atlantis")
    with pytest.raises(TrialmapError):
        region_members("EU28")
    with pytest.raises(KeyError):
        region_members("")
