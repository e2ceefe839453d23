"""Geocoding benchmark: speed, memory, and accuracy against the registry's own coordinates.

``python -m trialmap.bench geocode [--rows N] [--misses]``

Speed (targets from issue 5): the gazetteer index loads well under a second;
at least 100,000 site rows per second once it is loaded; the whole bundled
snapshot's sites in under a second. Peak memory is Python's (tracemalloc) for
load + geocode, and the process's maximum resident set size.

Accuracy: the real API v2 website exports in tests/data/ctgov/ (50 and 10
studies; the 10 are among the 50) carry the registry's ``geoPoint`` for most
sites. The points are stripped, the sites geocoded from (city, state, country)
alone, and the distance to the registry's point measured. Each miss (> 10 km
or no city-level point) is listed with the GeoNames place nearest to the
registry's point, which shows when the registry's point, not ours, is the odd
one (e.g. a Tokyo ward placed at a namesake in another prefecture).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from trialmap import boundaries, countries, gazetteer, geocode
from trialmap.sources import read_snapshot, v2

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = [ROOT / "tests/data/ctgov/ctg-studies-50.json", ROOT / "tests/data/ctgov/ctg-studies-10.json"]
BUNDLED = ("ctgov-classic-2022-01-21", ROOT / "data" / "raw")
EARTH_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km (NaN where either point is missing)."""
    a1, o1, a2, o2 = (np.radians(np.asarray(x, dtype=float)) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((a2 - a1) / 2) ** 2 + np.cos(a1) * np.cos(a2) * np.sin((o2 - o1) / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(h))


def strip_coordinates(sites: pd.DataFrame) -> pd.DataFrame:
    return sites.assign(lat=pd.NA, lon=pd.NA, geo_source=pd.NA, geo_precision=pd.NA).astype(
        {"lat": "Float64", "lon": "Float64", "geo_source": "string", "geo_precision": "string"}
    )


def accuracy(gaz: gazetteer.Gazetteer, points: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Geocode the v2 sites without their geoPoints; compare with the registry's points."""
    t = v2.read(EXPORTS)
    sites = t.sites.assign(iso3=countries.to_iso3(t.sites["country"]))
    truth = sites[sites["lat"].notna()].reset_index(drop=True)
    placed = geocode.place_sites(strip_coordinates(truth), points, gaz)
    err = haversine_km(truth["lat"], truth["lon"], placed["lat"], placed["lon"])
    city = placed["geo_precision"].eq("city").to_numpy()
    err_city = np.where(city, err, np.inf)  # a country point is not a hit even if close
    stats = {
        "sites with a registry point": len(truth),
        "of all sites in the exports": len(sites),
        "within 10 km": float(np.mean(err_city <= 10)),
        "within 25 km": float(np.mean(err_city <= 25)),
        "median error km (all placed)": float(np.nanmedian(err)),
        "city-level (gazetteer)": float(np.mean(city)),
        "country-level only": float(placed["geo_precision"].eq("country").mean()),
        "no coordinates": float(placed["lat"].isna().mean()),
    }
    misses = truth.assign(
        err_km=err, geo_source=placed["geo_source"], our_lat=placed["lat"], our_lon=placed["lon"]
    )[~(err_city <= 10)]
    return stats, misses


def nearest_place(gaz: gazetteer.Gazetteer, iso3: str, lat: float, lon: float) -> str:
    """'name (admin1 code, d km)' of the GeoNames place nearest to a point in a country."""
    arr = gaz.arrays
    cc = gaz.iso2.get(iso3, "")
    keys = arr["key"]
    lo, hi = np.searchsorted(keys, [f"{cc}:", f"{cc}:\x7f"])
    rows = np.arange(lo, hi)[arr["main"][lo:hi]]
    place = arr["place"][rows]
    d = haversine_km(lat, lon, arr["lat"][place], arr["lon"][place])
    if not len(d):
        return "-"
    i = int(np.argmin(d))
    return f"{keys[rows[i]].split(':', 1)[1]} ({cc}.{arr['admin1'][place[i]]}, {d[i]:.1f} km)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trialmap.bench geocode", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows for the throughput test")
    p.add_argument("--misses", action="store_true", help="list every accuracy miss")
    args = p.parse_args(argv)

    path = gazetteer.default_path()
    size = sum(f.stat().st_size for f in path.iterdir())
    loads = []
    for _ in range(5):
        gazetteer._load_cached.cache_clear()
        t0 = time.perf_counter()
        gaz = gazetteer.load()
        loads.append(time.perf_counter() - t0)
    print(f"index      {path}: {size / 1e6:.2f} MB, {gaz.meta['n_places']} places, "  # noqa: T201
          f"{gaz.meta['n_names']} names")
    print(f"load       median {np.median(loads):.3f} s, min {min(loads):.3f} s (5 cold loads)")  # noqa: T201

    points = boundaries.country_points()
    snap = __import__("trialmap.snapshot", fromlist=["open_snapshot"]).open_snapshot(*BUNDLED)
    tables = read_snapshot(snap)
    sites = tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"]))
    n_keys = len(sites[["city", "state", "iso3"]].drop_duplicates())

    # whole bundled snapshot, index load included (cold) and excluded
    gazetteer._load_cached.cache_clear()
    t0 = time.perf_counter()
    gaz = gazetteer.load()
    t1 = time.perf_counter()
    placed = geocode.place_sites(sites, points, gaz)
    t2 = time.perf_counter()
    # peak memory in a second pass: tracemalloc slows what it watches
    gazetteer._load_cached.cache_clear()
    tracemalloc.start()
    gaz = gazetteer.load()
    geocode.place_sites(sites, points, gaz)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"snapshot   {len(sites)} sites, {n_keys} unique (city, state, iso3) keys: "  # noqa: T201
          f"{t2 - t1:.3f} s geocoding, {t2 - t0:.3f} s with the cold index load; "
          f"peak Python memory (load + geocode) {peak / 2**20:.0f} MiB")

    # throughput once loaded: the snapshot's rows repeated to --rows
    big = pd.concat([sites] * (args.rows // len(sites) + 1), ignore_index=True).iloc[: args.rows]
    t0 = time.perf_counter()
    geocode.place_sites(big, points, gaz)
    dt = time.perf_counter() - t0
    # baseline in the same run: the country-only ladder (no gazetteer) on the same rows
    t0 = time.perf_counter()
    geocode.place_sites(big, points, None)
    base = time.perf_counter() - t0
    # and one look-up per row instead of per unique key, on a sample
    sample = sites.sample(500, random_state=0)
    t0 = time.perf_counter()
    for i in range(len(sample)):
        gaz.match(sample.iloc[[i]][["city", "state", "iso3"]])
    per_row = (time.perf_counter() - t0) / len(sample)
    print(f"throughput {len(big):,} rows in {dt:.2f} s = {len(big) / dt:,.0f} rows/s "  # noqa: T201
          f"(country-only ladder on the same rows {len(big) / base:,.0f} rows/s, x{dt / base:.1f} "
          f"time; one look-up per row would give {1 / per_row:,.0f} rows/s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory     max resident set size of this process {rss:.0f} MiB")  # noqa: T201

    audit = geocode.geo_audit(placed)
    print("audit      bundled snapshot, all sites: " + ", ".join(  # noqa: T201
        f"{r.geo_source}/{r.geo_precision} {r.n_sites}" for r in audit.itertuples()))
    unmatched = geocode.unmatched_keys(placed)
    print(f"           {len(unmatched)} keys ({unmatched['n_sites'].sum()} sites) at country level "  # noqa: T201
          "or unplaced; most frequent: " + "; ".join(
              f"{r.city}/{r.state if pd.notna(r.state) else ''}/{r.iso3} {r.n_sites}"
              for r in unmatched.head(8).itertuples()))

    stats, misses = accuracy(gaz, points)
    print("accuracy   registry geoPoints stripped from the real v2 exports, then geocoded:")  # noqa: T201
    for k, v in stats.items():
        shown = f"{v:.1%}" if isinstance(v, float) and "error km" not in k else (
            f"{v:.2f}" if isinstance(v, float) else f"{v}")
        print(f"           {k}: {shown}")  # noqa: T201
    nearest = [nearest_place(gaz, r.iso3, r.lat, r.lon) for r in misses.itertuples()]
    # does the registry's own point lie in the state the registry's own record names?
    outside = []
    for r, near in zip(misses.itertuples(), nearest, strict=True):
        cc = gaz.iso2.get(r.iso3, "")
        codes = gaz.resolve_state(cc, r.state) if pd.notna(r.state) else None
        code = near.split("(", 1)[-1].split(",")[0].split(".", 1)[-1] if near != "-" else None
        outside.append(codes is not None and code not in codes)
    misses = misses.assign(registry_nearest=nearest, registry_outside_state=outside)
    n_out = int(np.sum(outside))
    print(f"           misses whose registry point lies outside the state the registry names: "  # noqa: T201
          f"{n_out} of {len(misses)} sites")
    grouped = (
        misses.groupby(["city", "state", "iso3", "geo_source", "registry_nearest",
                        "registry_outside_state"], dropna=False)
        .agg(n=("err_km", "size"), err_km=("err_km", "first"))
        .reset_index().sort_values(["n", "err_km"], ascending=False)
    )
    shown = grouped if args.misses else grouped.head(25)
    print(f"misses     {len(misses)} sites ({len(grouped)} keys) not within 10 km at city level"  # noqa: T201
          f"{'' if args.misses else '; top 25 (all: --misses)'}:")
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 40):
        print(shown.to_string(index=False))  # noqa: T201
    return 0
