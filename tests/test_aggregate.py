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


# -- derivations the figures draw (moved from the figure layer) ------------------------------


def test_counts_as_of_equal_an_as_of_run(result, bundled_snapshot, definition):
    from trialmap import aggregate, pipeline

    replay = pipeline.run(bundled_snapshot, definition, as_of="2018-06-14")
    names = result.country_counts.set_index("iso3")["country"].to_dict()
    ids, counts = aggregate.counts_as_of(result.tables.studies, result.tables.sites, result.included,
                                         "2018-06-14", names)
    assert sorted(ids) == sorted(replay.included)
    got = counts.set_index("iso3")["n_trials"].to_dict()
    assert got == replay.country_counts.set_index("iso3")["n_trials"].to_dict()


def test_country_change_says_what_kind_of_change(result):
    import pandas as pd

    from trialmap import aggregate

    before = pd.DataFrame({"iso3": ["USA", "CHN", "FRA"], "country": ["US", "China", "France"],
                           "n_trials": [5, 3, 2]})
    after = pd.DataFrame({"iso3": ["USA", "CHN", "ESP"], "country": ["US", "China", "Spain"],
                          "n_trials": [7, 3, 1]})
    ch = aggregate.country_change(before, after).set_index("iso3")
    assert ch["status"].to_dict() == {"USA": "gained", "ESP": "first", "CHN": "unchanged", "FRA": "lost"}
    assert ch.loc["FRA", "change"] == -2


def test_per_capita_uses_natural_earth_population_and_leaves_out_small_ones(result):
    from trialmap import aggregate
    from trialmap.population import POP_YEAR, load_population

    pop = load_population()
    assert pop["iso3"].is_unique and (pop["pop_est"] > 0).all()
    assert int(pop.set_index("iso3").at["CHN", "pop_year"]) == POP_YEAR == 2019
    pc = aggregate.per_capita(result.country_counts, pop).set_index("iso3")
    usa = pc.loc["USA"]
    n_usa = result.country_counts.set_index("iso3").at["USA", "n_trials"]
    assert usa["rate"] == pytest.approx(n_usa / usa["pop_est"] * 1e7)
    assert bool(pc.at["ATG", "small_population"]) and pc["rate"].isna()["ATG"]  # 97,000 people
    assert pc["rate"].dropna().is_monotonic_decreasing


def test_categories_by_country_counts_distinct_trials(result):
    from trialmap import aggregate

    t = aggregate.categories_by_country(result.categories, result.tables.sites, top=3)
    assert list(dict.fromkeys(t["iso3"])) == result.country_counts["iso3"].head(3).tolist()  # CHN, USA, ESP
    cats = result.categories
    sites = result.tables.sites
    gvhd = set(cats.loc[cats["category"] == "gvhd", "nct_id"])
    usa = set(sites.loc[sites["iso3"] == "USA", "nct_id"])
    row = t[(t["category"] == "gvhd") & (t["iso3"] == "USA")]
    assert int(row["n_trials"].iloc[0]) == len(gvhd & usa)
