"""Counting rules, handling switches and region totals, on real trials checked against the raw JSON."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from trialmap import countries
from trialmap.aggregate import (
    CountingRule,
    counted_sites,
    country_counts,
    no_location_row,
    region_counts,
    removed_country_rows,
)
from trialmap.countries import region_members, to_iso3

# NCT01541579 (darvadstrocel / Cx601 for Crohn's perianal fistula, ADMIRE-CD) is in
# the study set with sites in 8 countries: Spain 15, France 8, Italy 7, Germany 6,
# Israel 5, Belgium 4, Netherlands 4, Austria 3 (read in the raw record).
ADMIRE = "NCT01541579"


def _raw_sites(raw_records, nct):
    locs = raw_records[nct]["ProtocolSection"].get("ContactsLocationsModule", {})
    return locs.get("LocationList", {}).get("Location", [])


def test_the_three_rules_on_one_real_multinational_trial(result, raw_records):
    assert result.inclusion_log.set_index("nct_id").at[ADMIRE, "included"]
    raw = Counter(to_iso3(pd.Series([s["LocationCountry"] for s in _raw_sites(raw_records, ADMIRE)])))
    assert len(raw) == 8 and raw["ESP"] == 15
    sites = result.tables.sites
    cc = country_counts(sites, [ADMIRE]).set_index("iso3")
    assert set(cc.index) == set(raw)
    assert (cc["n_trials"] == 1).all()  # trials: once in each country
    assert cc["n_sites"].to_dict() == dict(raw)  # sites: every site row
    assert cc["trial_share"].to_numpy() == pytest.approx([1 / 8] * 8)  # fractional: 1/k each
    assert cc["trial_share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("rule", ["trials", "sites", "fractional"])
def test_rule_totals_over_the_study_set(result, rule):
    sites = result.tables.sites
    ids = result.included
    cc = country_counts(sites, ids, rule=CountingRule(rule))
    inc = sites[sites["nct_id"].isin(set(ids))]
    # Fractional shares add up to the number of trials; sites to the site rows.
    assert cc["trial_share"].sum() == pytest.approx(len(ids))
    assert cc["n_sites"].sum() == len(inc)
    assert cc["n_trials"].sum() == inc.drop_duplicates(["nct_id", "iso3"]).shape[0]
    col = CountingRule(rule).column
    assert cc[col].is_monotonic_decreasing
    # Study set v3: China leads by trials (74 to 73), the US by sites; by sites Spain
    # outranks China: Spanish trials list many sites each.
    first, second = {"trials": ("CHN", "USA"), "fractional": ("CHN", "USA"), "sites": ("USA", "ESP")}[rule]
    assert (cc.at[0, "iso3"], cc.at[1, "iso3"]) == (first, second)


def test_withdrawn_sites_switch_on_a_real_trial(tables, raw_records):
    # NCT02609776 lists 10 sites as "Withdrawn" (China 5, US 3, Canada 1, Japan 1),
    # and recruiting sites in each of those countries too.
    nct = "NCT02609776"
    locs = _raw_sites(raw_records, nct)
    withdrawn = [s for s in locs if s.get("LocationStatus") == "Withdrawn"]
    assert len(withdrawn) == 10
    sites = tables.sites.assign(iso3=to_iso3(tables.sites["country"]))
    keep = country_counts(sites, [nct]).set_index("iso3")
    drop = country_counts(sites, [nct], rule=CountingRule(withdrawn_sites=False)).set_index("iso3")
    assert keep["n_sites"].sum() - drop["n_sites"].sum() == 10
    assert keep.at["CHN", "n_sites"] - drop.at["CHN", "n_sites"] == 5
    assert set(keep.index) == set(drop.index)  # every country kept a live site


def test_withdrawn_sites_can_remove_a_country(tmp_path):
    # The v2 website export: NCT05809934 has sites withdrawn; countries whose every site
    # is withdrawn must drop out of the trials count when withdrawn sites are not counted.
    from trialmap.sources import v2

    from .conftest import ROOT

    t = v2.read(ROOT / "tests" / "data" / "ctgov" / "ctg-studies-50.json")
    sites = t.sites.assign(iso3=to_iso3(t.sites["country"]))
    ids = t.studies["nct_id"]
    live = sites[sites["site_status"].fillna("") != "WITHDRAWN"]
    keep = country_counts(sites, ids)
    drop = country_counts(sites, ids, rule=CountingRule(withdrawn_sites=False))
    expected = live.dropna(subset=["iso3"]).drop_duplicates(["nct_id", "iso3"]).groupby("iso3").size()
    assert drop.set_index("iso3")["n_trials"].sort_index().to_dict() == expected.sort_index().to_dict()
    assert keep["n_sites"].sum() - drop["n_sites"].sum() == (sites["site_status"] == "WITHDRAWN").sum() == 22


def test_removed_countries_switch_on_a_real_trial(result, raw_records):
    # NCT04389450 (PLX-PAD in COVID-19 ARDS) lists 13 US sites and Israel as a removed country.
    nct = "NCT04389450"
    misc = raw_records[nct]["DerivedSection"]["MiscInfoModule"]
    assert misc["RemovedCountryList"]["RemovedCountry"] == ["Israel"]
    removed = removed_country_rows(result.tables.studies, to_iso3)
    assert removed.loc[removed["nct_id"] == nct, "iso3"].tolist() == ["ISR"]
    sites = result.tables.sites
    off = country_counts(sites, [nct], removed=removed).set_index("iso3")
    on = country_counts(sites, [nct], rule=CountingRule(removed_countries=True), removed=removed)
    on = on.set_index("iso3")
    assert list(off.index) == ["USA"] and off.at["USA", "n_sites"] == 13
    assert on.at["ISR", "n_trials"] == 1 and on.at["ISR", "n_sites"] == 0  # no site is listed there
    assert on["trial_share"].to_dict() == {"USA": 0.5, "ISR": 0.5}


def test_no_location_bucket_holds_the_in_scope_trials_without_a_site(result):
    log = result.inclusion_log
    in_scope = log.loc[log["step"].isin(["included", "with_site", "with_mapped_country"]), "nct_id"]
    bucket = no_location_row(result.tables.sites, in_scope)
    flow = result.flow.set_index("step")
    assert bucket.at[0, "country"] == "(no location)" and pd.isna(bucket.at[0, "iso3"])
    assert bucket.at[0, "n_trials"] == flow.at["with_site", "n_excluded"] + flow.at[
        "with_mapped_country", "n_excluded"] == 25
    assert result.no_location.equals(bucket)


def test_region_totals_and_memberships(result):
    rc = result.region_counts.set_index("region")
    assert [r for r, _ in countries.REPORTED_REGIONS] == list(rc.index)
    paper, m49 = region_members("Europe (paper)"), region_members("Europe")
    assert paper - m49 == {"CYP", "TUR"} and "RUS" in paper
    assert rc.at["Europe (paper)", "n_trials"] >= rc.at["Europe", "n_trials"] > rc.at["EU27", "n_trials"]
    # Continents partition the world: their fractional shares add up to the trials with a site.
    continents = [r for r, s in countries.REPORTED_REGIONS if s == "UN M49 continent"]
    assert rc.loc[continents, "trial_share"].sum() == pytest.approx(len(result.included), abs=1e-6)
    sites = result.tables.sites
    for region in ("Europe (paper)", "EU27", "EUR", "WPR"):
        members = region_members(region)
        inc = sites[sites["nct_id"].isin(set(result.included)) & sites["iso3"].isin(members)]
        assert rc.at[region, "n_trials"] == inc["nct_id"].nunique()
        assert rc.at[region, "n_sites"] == len(inc)


def test_counted_sites_and_unknown_rule():
    with pytest.raises(ValueError, match="unknown counting rule 'countries'"):
        CountingRule("countries")
    # Synthetic: an empty sites table (no real record has none).
    empty = pd.DataFrame({c: pd.Series([], dtype="string")
                          for c in ("nct_id", "iso3", "country", "site_status")})
    assert counted_sites(empty, ["NCT0"]).empty
    assert country_counts(empty, ["NCT0"]).empty
    assert region_counts(empty, ["NCT0"], {"Europe": {"FRA"}}).at[0, "n_trials"] == 0


def test_refresh_with_a_rule_as_of_and_switches_says_so_everywhere(tmp_path, capsys):
    import json
    import shutil

    from trialmap.refresh import main

    from .conftest import BUNDLED_ID, RAW

    shutil.copytree(RAW / BUNDLED_ID, tmp_path / "raw" / BUNDLED_ID)
    argv = ["--data-dir", str(tmp_path), "--counting-rule", "fractional", "--as-of", "2018-06-30",
            "--switch", "osteoarthritis=on", "--drop-withdrawn-sites", "--figures", "figure1,flow"]
    assert main(argv) == 0
    # Non-default switches get a hash suffix, so this run replaces no other run's outputs.
    (out,) = (tmp_path / "processed").glob(f"{BUNDLED_ID}_as-of-2018-06-30_fractional_custom-*")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["as_of"] == "2018-06-30" and "not as they were then" in prov["as_of_note"]
    assert prov["counting"]["rule"] == "fractional" and prov["counting"]["withdrawn_sites"] is False
    assert prov["counting_rule"].startswith("fractional = a trial with sites in k countries adds 1/k")
    assert prov["definition"]["switches"]["osteoarthritis"] is True
    assert set(prov["regions"]["Europe (paper)"]["members"]) >= {"CYP", "TUR", "RUS", "FRA"}
    flow = dict(prov["flow"])
    assert list(flow)[:3] == ["records_read", "unique_records", "posted_by_as_of"]
    cc = pd.read_csv(out / "country_counts.csv", keep_default_na=False, na_values=[""])
    studies = pd.read_csv(out / "studies.csv", parse_dates=["first_posted"])
    assert (studies["first_posted"] <= "2018-06-30").all()
    assert cc.loc[cc["iso3"].notna(), "trial_share"].sum() == pytest.approx(len(studies))
    assert cc.iloc[-1]["country"] == "(no location)"
    from PIL import Image

    for name in ("figure1", "flow"):
        assert (out / "figures" / f"{name}.pdf").stat().st_size > 5_000
        with Image.open(out / "figures" / f"{name}.png") as im:
            source = im.info["Description"]  # the short source line printed on the figure
        assert "as of 2018-06-30" in source and "=" not in source
        # the full record (rule, switches, as-of) is in the caption, off the image
        caption = json.loads((out / "figures" / f"{name}.json").read_text())["figure"]["caption"]
        assert "Counting: fractional" in caption and "As of 2018-06-30" in caption
        assert "osteoarthritis on" in caption and "withdrawn sites not counted" in caption
    cats = pd.read_csv(out / "category_counts.csv").set_index("category")
    assert cats.at["all", "n_trials"] == len(studies) and "osteoarthritis" in cats.index
    stdout = capsys.readouterr().out
    assert "counting   fractional" in stdout and "as of      2018-06-30" in stdout
