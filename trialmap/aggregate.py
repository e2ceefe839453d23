"""Counts per country and per region.

Trials per country are distinct trials with at least one site there, so a
multinational trial counts once in each of its countries; sites per country
count trial x site rows. A region total counts distinct trials with a site in
any member country: it is not the sum of its countries' counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

COUNTRY_COUNT_COLUMNS = ["iso3", "country", "n_trials", "n_sites"]


def country_counts(
    sites: pd.DataFrame, nct_ids: Iterable[str], names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Trials and sites per country for the given trials.

    Parameters
    ----------
    sites
        The canonical ``sites`` table with ``iso3`` filled.
    nct_ids
        The trials to count (the study set).
    names
        iso3 -> display name; defaults to the most common registry spelling.

    Returns
    -------
    DataFrame
        ``iso3``, ``country``, ``n_trials``, ``n_sites``, sorted by
        ``n_trials`` then ``n_sites`` (descending) then ``iso3``. Sites with
        no iso3 are not counted here; the run summary reports them.
    """
    ids = set(nct_ids)
    s = sites[sites["nct_id"].isin(ids) & sites["iso3"].notna()]
    out = (
        s.groupby("iso3", observed=True)
        .agg(n_trials=("nct_id", "nunique"), n_sites=("nct_id", "size"))
        .reset_index()
    )
    if names is None:
        names = s.groupby("iso3")["country"].agg(lambda x: x.mode().iloc[0]).to_dict()
    out["country"] = out["iso3"].map(names).fillna(out["iso3"])
    out = out.astype({"iso3": "string", "country": "string", "n_trials": "int64", "n_sites": "int64"})
    out = out.sort_values(["n_trials", "n_sites", "iso3"], ascending=[False, False, True])
    return out[COUNTRY_COUNT_COLUMNS].reset_index(drop=True)


def region_counts(
    sites: pd.DataFrame, nct_ids: Iterable[str], regions: Mapping[str, Iterable[str]]
) -> pd.DataFrame:
    """Distinct trials and sites per region.

    Parameters
    ----------
    regions
        Region name -> member iso3 codes.

    Returns
    -------
    DataFrame
        ``region``, ``n_trials``, ``n_sites``, ``n_countries`` (members with
        at least one site), in the order ``regions`` gives.
    """
    ids = set(nct_ids)
    s = sites[sites["nct_id"].isin(ids) & sites["iso3"].notna()]
    rows = []
    for name, members in regions.items():
        r = s[s["iso3"].isin(set(members))]
        rows.append((name, r["nct_id"].nunique(), len(r), r["iso3"].nunique()))
    return pd.DataFrame(rows, columns=["region", "n_trials", "n_sites", "n_countries"]).astype(
        {"region": "string"}
    )
