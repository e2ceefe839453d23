"""Counts per country and region, recomputed independently from the raw JSON."""

from __future__ import annotations

from collections import defaultdict

import pytest

from trialmap.aggregate import country_counts, region_counts
from trialmap.countries import region_members


def _raw_counts(raw_records, ids):
    """Trials and sites per registry country name, straight from the records."""
    trials, sites = defaultdict(set), defaultdict(int)
    for nct in ids:
        locs = raw_records[nct]["ProtocolSection"].get("ContactsLocationsModule", {})
        for loc in locs.get("LocationList", {}).get("Location", []):
            trials[loc.get("LocationCountry")].add(nct)
            sites[loc.get("LocationCountry")] += 1
    return {k: len(v) for k, v in trials.items()}, sites


@pytest.mark.parametrize(
    ("iso3", "registry_name"),
    [("USA", "United States"), ("CHN", "China"), ("ESP", "Spain"), ("KOR", "Korea, Republic of")],
)
def test_country_counts_match_the_raw_records(result, raw_records, iso3, registry_name):
    trials, sites = _raw_counts(raw_records, result.included)
    row = result.country_counts.set_index("iso3").loc[iso3]
    assert row["n_trials"] == trials[registry_name] > 0
    assert row["n_sites"] == sites[registry_name]


def test_counts_cover_every_included_trial_and_site(result):
    cc = result.country_counts
    sites = result.tables.sites
    included_sites = sites[sites["nct_id"].isin(set(result.included))]
    assert cc["n_sites"].sum() == included_sites["iso3"].notna().sum() == len(included_sites)
    # A trial counts once in each of its countries, so the sum is at least the trial count.
    assert cc["n_trials"].sum() >= len(result.included)
    assert cc["n_trials"].is_monotonic_decreasing


def test_a_multinational_trial_counts_once_in_each_country(result):
    sites = result.tables.sites
    inc = sites[sites["nct_id"].isin(set(result.included))]
    per_trial = inc.groupby("nct_id")["iso3"].nunique()
    multi = per_trial[per_trial > 1]
    assert len(multi) > 5  # the bundled set has real multinational trials
    nct = multi.index[0]
    countries = set(inc.loc[inc["nct_id"] == nct, "iso3"])
    only_that = country_counts(sites, [nct])
    assert set(only_that["iso3"]) == countries
    assert (only_that["n_trials"] == 1).all()


def test_region_total_counts_distinct_trials_not_the_sum(result):
    europe = region_members("Europe")
    cc = result.country_counts
    rc = result.region_counts.set_index("region")
    summed = cc.loc[cc["iso3"].isin(europe), "n_trials"].sum()
    sites = result.tables.sites
    inc = sites[sites["nct_id"].isin(set(result.included)) & sites["iso3"].isin(europe)]
    assert rc.at["Europe", "n_trials"] == inc["nct_id"].nunique()
    assert rc.at["Europe", "n_trials"] < summed  # multinational European trials
    again = region_counts(sites, result.included, {"Europe": europe})
    assert again.at[0, "n_trials"] == rc.at["Europe", "n_trials"]
