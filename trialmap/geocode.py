"""Place every site on the map, and say how precisely.

The ladder, best first; each site takes the first rung that has a point:

1. ``registry``: the registry's own coordinates (``geoPoint`` in API v2
   records), precision ``site``;
2. ``override``: a user's overrides table (city, state, country, lat, lon;
   see :func:`trialmap.gazetteer.read_overrides`), precision ``city``;
3. ``gazetteer``: the offline GeoNames gazetteer matched on (city, state,
   country) (see :meth:`trialmap.gazetteer.Gazetteer.match`), precision ``city``;
4. ``country``: the country's representative point, precision ``country``;
5. none: no coordinates (``geo_source`` and ``geo_precision`` <NA>): the
   country is missing or unknown. Such sites are reported, never dropped.

Rungs 2-3 work on the unique (city, state, iso3) keys, not on rows, so a
snapshot with thousands of sites costs a few hundred look-ups. Facility names
are never used and never sent anywhere. The gazetteer and the overrides are
passed in: this module does no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from trialmap.gazetteer import Gazetteer

KEY = ["city", "state", "iso3"]
SOURCES = ("registry", "override", "gazetteer", "country")
PRECISIONS = ("site", "city", "country")


def _norm(col: pd.Series) -> pd.Series:
    """Key text for exact comparison: stripped, case-folded, blank -> ''."""
    return col.astype("string").fillna("").str.strip().str.casefold()


def place_sites(
    sites: pd.DataFrame,
    country_points: pd.DataFrame,
    gazetteer: Gazetteer | None = None,
    overrides: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fill ``lat``, ``lon``, ``geo_source`` and ``geo_precision`` of the sites table.

    Parameters
    ----------
    sites
        Canonical sites with ``iso3`` filled; rows that already have
        ``lat``/``lon`` keep them (``geo_source`` "registry" unless set).
    country_points
        ``iso3``, ``lat``, ``lon``: one representative point per country
        (see :func:`trialmap.boundaries.country_points`).
    gazetteer
        A loaded :class:`trialmap.gazetteer.Gazetteer`; ``None`` skips the
        gazetteer rung (sites without coordinates go to their country point).
    overrides
        ``city``, ``state``, ``iso3``, ``lat``, ``lon`` (as from
        :func:`trialmap.gazetteer.read_overrides`). A row applies to the sites
        whose city, state and iso3 are equal to it after stripping and case
        folding; an empty state matches only an empty state.

    Returns
    -------
    DataFrame
        A new sites table, same rows and order.
    """
    out = sites.copy()
    has = out["lat"].notna() & out["lon"].notna()
    out.loc[has, "geo_source"] = out.loc[has, "geo_source"].fillna("registry")
    out.loc[has, "geo_precision"] = out.loc[has, "geo_precision"].fillna("site")
    out.loc[~has, ["geo_source", "geo_precision"]] = pd.NA
    need = ~has

    if need.any() and (overrides is not None or gazetteer is not None):
        keys = out.loc[need, KEY].drop_duplicates()
        lat = pd.Series(np.nan, index=keys.index)
        lon = pd.Series(np.nan, index=keys.index)
        source = pd.Series(pd.NA, index=keys.index, dtype="string")
        if overrides is not None and len(overrides):
            ov = overrides.assign(**{f"_{c}": _norm(overrides[c]) for c in KEY})
            ov = ov.drop_duplicates([f"_{c}" for c in KEY], keep="last")
            k = keys.assign(**{f"_{c}": _norm(keys[c]) for c in KEY}).reset_index()
            hit = k.merge(ov[[*(f"_{c}" for c in KEY), "lat", "lon"]], on=[f"_{c}" for c in KEY])
            hit = hit.set_index("index")
            lat[hit.index] = hit["lat"].astype(float)
            lon[hit.index] = hit["lon"].astype(float)
            source[hit.index] = "override"
        if gazetteer is not None:
            todo = keys[source.isna()]
            if len(todo):
                m = gazetteer.match(todo)
                found = m["lat"].notna()
                lat[m.index[found]] = m.loc[found, "lat"]
                lon[m.index[found]] = m.loc[found, "lon"]
                source[m.index[found]] = "gazetteer"
        placed = keys.assign(_lat=lat, _lon=lon, _src=source)
        rows = out.loc[need, KEY].merge(placed, on=KEY, how="left")
        ok = rows["_src"].notna().to_numpy()
        idx = out.index[need][ok]
        out.loc[idx, "lat"] = rows.loc[ok, "_lat"].to_numpy()
        out.loc[idx, "lon"] = rows.loc[ok, "_lon"].to_numpy()
        out.loc[idx, "geo_source"] = rows.loc[ok, "_src"].to_numpy()
        out.loc[idx, "geo_precision"] = "city"
        need = out["lat"].isna() | out["lon"].isna()

    pts = country_points.drop_duplicates("iso3").set_index("iso3")
    at_country = need & out["iso3"].isin(pts.index)
    iso = out.loc[at_country, "iso3"]
    out.loc[at_country, "lat"] = pts["lat"].reindex(iso).to_numpy()
    out.loc[at_country, "lon"] = pts["lon"].reindex(iso).to_numpy()
    out.loc[at_country, "geo_source"] = "country"
    out.loc[at_country, "geo_precision"] = "country"
    return out


def geo_audit(sites: pd.DataFrame) -> pd.DataFrame:
    """Sites by ``geo_source`` and ``geo_precision`` ("none" where no coordinates).

    Returns
    -------
    DataFrame
        ``geo_source``, ``geo_precision``, ``n_sites``, ``share`` (of all
        sites), in ladder order.
    """
    keys = sites[["geo_source", "geo_precision"]].astype("string").fillna("none")
    counts = keys.value_counts().rename("n_sites").reset_index()
    order = {s: i for i, s in enumerate((*SOURCES, "none"))}
    counts = counts.sort_values(
        "geo_source", key=lambda s: s.map(order).fillna(len(order)), kind="stable", ignore_index=True
    )
    total = counts["n_sites"].sum()
    counts["share"] = (counts["n_sites"] / total).round(4) if total else 0.0
    return counts


def unmatched_keys(sites: pd.DataFrame) -> pd.DataFrame:
    """(city, state, country) keys placed no better than their country, with counts.

    These are the places a user may fix with an overrides file.

    Returns
    -------
    DataFrame
        ``city``, ``state``, ``country``, ``iso3``, ``geo_source`` ("country"
        or "none"), ``n_sites``, ``n_trials``; most sites first.
    """
    cols = ["city", "state", "country", "iso3"]
    worse = sites[sites["geo_precision"].isna() | (sites["geo_precision"] == "country")]
    src = worse["geo_source"].astype("string").fillna("none")
    g = worse.assign(geo_source=src).groupby([*cols, "geo_source"], dropna=False)
    res = g.agg(n_sites=("nct_id", "size"), n_trials=("nct_id", "nunique")).reset_index()
    return res.sort_values(
        ["n_sites", "country", "city"], ascending=[False, True, True], ignore_index=True
    )
