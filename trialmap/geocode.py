"""Place every site on the map.

The ladder, best first: the registry's own coordinates (``geoPoint`` in API v2
records) -> the country's representative point. Sites keep what they have;
only missing coordinates are filled, and ``geo_source`` / ``geo_precision`` say
which rung each site came from. Facility names are never sent anywhere.
"""

from __future__ import annotations

import pandas as pd


def place_sites(sites: pd.DataFrame, country_points: pd.DataFrame) -> pd.DataFrame:
    """Fill ``lat``, ``lon``, ``geo_source`` and ``geo_precision`` of the sites table.

    Parameters
    ----------
    sites
        Canonical sites with ``iso3`` filled; rows that already have
        ``lat``/``lon`` keep them (``geo_source`` "registry" unless set).
    country_points
        ``iso3``, ``lat``, ``lon``: one representative point per country
        (see :func:`trialmap.boundaries.country_points`).

    Returns
    -------
    DataFrame
        A new sites table; sites whose country is unknown stay without
        coordinates (``geo_source`` <NA>) so they can be reported.
    """
    out = sites.copy()
    has = out["lat"].notna() & out["lon"].notna()
    out.loc[has, "geo_source"] = out.loc[has, "geo_source"].fillna("registry")
    out.loc[has, "geo_precision"] = out.loc[has, "geo_precision"].fillna("site")

    pts = country_points.drop_duplicates("iso3").set_index("iso3")
    need = ~has & out["iso3"].isin(pts.index)
    iso = out.loc[need, "iso3"]
    out.loc[need, "lat"] = pts["lat"].reindex(iso).to_numpy()
    out.loc[need, "lon"] = pts["lon"].reindex(iso).to_numpy()
    out.loc[need, "geo_source"] = "country"
    out.loc[need, "geo_precision"] = "country"
    return out


def geo_audit(sites: pd.DataFrame) -> pd.DataFrame:
    """Sites by ``geo_source`` and ``geo_precision`` ("none" where no coordinates)."""
    keys = sites[["geo_source", "geo_precision"]].astype("string").fillna("none")
    return keys.value_counts().rename("n_sites").reset_index()
