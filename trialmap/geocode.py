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
    n = len(sites)
    lat = sites["lat"].to_numpy(dtype=float, na_value=np.nan, copy=True)
    lon = sites["lon"].to_numpy(dtype=float, na_value=np.nan, copy=True)
    has = ~(np.isnan(lat) | np.isnan(lon))
    # What trialmap placed, as codes into SOURCES and PRECISIONS (-1: not placed); the
    # text columns are built once at the end (setting rows of an Arrow string column
    # copies all of it: 170 MiB a time for 1.7 million sites).
    source = np.full(n, -1, dtype=np.int8)
    precision = np.full(n, -1, dtype=np.int8)
    need = ~has

    if need.any() and (overrides is not None or gazetteer is not None):
        rows = np.flatnonzero(need)
        code, first = _key_codes(sites, rows)
        keys = sites.iloc[rows[first]][KEY]
        k_lat = pd.Series(np.nan, index=keys.index)
        k_lon = pd.Series(np.nan, index=keys.index)
        k_src = pd.Series(-1, index=keys.index, dtype=np.int8)
        if overrides is not None and len(overrides):
            ov = overrides.assign(**{f"_{c}": _norm(overrides[c]) for c in KEY})
            ov = ov.drop_duplicates([f"_{c}" for c in KEY], keep="last")
            k = keys.assign(**{f"_{c}": _norm(keys[c]) for c in KEY}).reset_index()
            hit = k.merge(ov[[*(f"_{c}" for c in KEY), "lat", "lon"]], on=[f"_{c}" for c in KEY])
            hit = hit.set_index("index")
            k_lat[hit.index] = hit["lat"].astype(float)
            k_lon[hit.index] = hit["lon"].astype(float)
            k_src[hit.index] = SOURCES.index("override")
        if gazetteer is not None:
            todo = keys[k_src.to_numpy() < 0]
            if len(todo):
                m = gazetteer.match(todo)
                found = m["lat"].notna()
                k_lat[m.index[found]] = m.loc[found, "lat"]
                k_lon[m.index[found]] = m.loc[found, "lon"]
                k_src[m.index[found]] = SOURCES.index("gazetteer")
        placed = k_src.to_numpy()[code] >= 0
        at = rows[placed]
        lat[at] = k_lat.to_numpy()[code[placed]]
        lon[at] = k_lon.to_numpy()[code[placed]]
        source[at] = k_src.to_numpy()[code[placed]]
        precision[at] = PRECISIONS.index("city")
        need = np.isnan(lat) | np.isnan(lon)

    pts = country_points.drop_duplicates("iso3").set_index("iso3")
    at_country = need & sites["iso3"].isin(pts.index).to_numpy(dtype=bool)
    iso = pd.Index(sites["iso3"].array[at_country])
    lat[at_country] = pts["lat"].reindex(iso).to_numpy(dtype=float)
    lon[at_country] = pts["lon"].reindex(iso).to_numpy(dtype=float)
    source[at_country] = SOURCES.index("country")
    precision[at_country] = PRECISIONS.index("country")

    out = sites.copy()
    mask = np.isnan(lat)
    out["lat"] = pd.arrays.FloatingArray(np.where(mask, 0.0, lat), mask)
    mask = np.isnan(lon)
    out["lon"] = pd.arrays.FloatingArray(np.where(mask, 0.0, lon), mask)
    # The registry's own coordinates keep their source and precision, if set.
    out["geo_source"] = _labelled(source, SOURCES, sites["geo_source"], "registry", has)
    out["geo_precision"] = _labelled(precision, PRECISIONS, sites["geo_precision"], "site", has)
    return out


def _key_codes(sites: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``rows`` of ``sites``: each row's (city, state, iso3) key number, and each key's first row.

    Keys are numbered in order of first appearance; <NA> equals <NA>, as in
    ``drop_duplicates``. Integer codes per column, combined pairwise, instead of
    hashing three text columns as Python objects.
    """
    code = np.zeros(len(rows), dtype=np.int64)
    for col in KEY:
        c, uniques = pd.factorize(sites[col].iloc[rows], use_na_sentinel=True)
        c = c.astype(np.int64) + 1  # <NA> -> 0
        code, _ = pd.factorize(code * (len(uniques) + 1) + c)
    _, first = np.unique(code, return_index=True)
    return code, first


def _labelled(codes: np.ndarray, labels: tuple[str, ...], given: pd.Series, default: str,
              keep: np.ndarray) -> pd.Series:
    """The text column: ``labels[code]`` (<NA> for -1), or where ``keep``, ``given`` (<NA> -> ``default``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from trialmap.tables import arrow_strings

    placed = pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=codes < 0), pa.array(labels, pa.large_string())).cast(pa.large_string())
    own = arrow_strings(given).fill_null(default)
    text = pc.if_else(pa.array(keep), own, placed)
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([text])), index=given.index, dtype="string")


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
