"""Tests of the vendored country boundaries (no Natural Earth wheel needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import shapely

from trialmap import boundaries
from trialmap.errors import BoundariesError, TrialmapError

REPO = Path(__file__).resolve().parents[1]

# (lon0, lat0, lon1, lat1) boxes a country's point must fall in.
MAINLAND = {
    "FRA": (-5.0, 41.0, 10.0, 52.0),  # metropolitan France, not French Guiana
    "USA": (-125.0, 24.0, -66.0, 50.0),  # contiguous US, not Alaska
    "NOR": (4.0, 57.0, 32.0, 72.0),  # not Svalbard
    "NLD": (3.0, 50.5, 7.5, 54.0),  # not the Caribbean
    "RUS": (30.0, 41.0, 180.0, 82.0),  # not Kaliningrad
    "CHL": (-76.0, -56.0, -66.0, -17.0),  # not Easter Island
    "REU": (55.1, -21.5, 56.0, -20.8),
    "GUF": (-54.7, 1.9, -51.3, 6.0),
}


@pytest.fixture(scope="module")
def world():
    return boundaries.load_world()


@pytest.fixture(scope="module")
def points():
    return boundaries.country_points()


def _in_box(lon, lat, box):
    lon0, lat0, lon1, lat1 = box
    return lon0 <= lon <= lon1 and lat0 <= lat <= lat1


def test_import_does_not_load_geopandas():
    code = (
        "import sys, trialmap.boundaries; "
        "print(sorted(m for m in ('geopandas', 'shapely', 'pyogrio') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_vendored_file_is_package_data():
    ref = resources.files("trialmap").joinpath("data", boundaries.DATA_FILE)
    assert ref.is_file()
    assert boundaries.world_path() == Path(str(ref))


def test_columns_crs_and_geometry(world):
    assert list(world.columns) == [
        "iso3",
        "ne_a3",
        "name",
        "ne_name",
        "continent",
        "area_km2",
        "rep_lon",
        "rep_lat",
        "tiny",
        "geometry",
    ]
    assert world.crs.to_epsg() == 4326
    geoms = world.geometry.to_numpy()
    assert set(world.geom_type) == {"MultiPolygon"}
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    minx, miny, maxx, maxy = world.total_bounds
    assert (minx, maxx) == pytest.approx((-180.0, 180.0), abs=1e-9)
    assert miny >= -90.0
    assert maxy <= 90.0


def test_simplified_as_a_coverage(world):
    # Neighbours share their borders exactly: no gaps or overlaps to render.
    assert shapely.coverage_is_valid(world.geometry.to_numpy())


def test_iso3_is_never_missing_or_minus_99(world):
    assert world["iso3"].notna().all()
    assert not world["iso3"].isin(["-99", "-099"]).any()
    codes = world.loc[world["iso3"] != "", "iso3"]
    assert codes.str.fullmatch(r"[A-Z]{3}").all()


def test_units_without_iso3_are_kept(world):
    # Disputed areas and bases keep their polygons, so the map has no holes.
    no_code = world[world["iso3"] == ""]
    assert set(no_code["ne_a3"]) == {"", "BRT", "ESB", "PGA", "SCR", "USG", "WSB"}
    # Land no Natural Earth row covers is filled with units of its own.
    assert {"Abyei Area", "Golan Heights"} <= set(no_code.loc[no_code["ne_a3"] == "", "name"])
    assert "Unassigned land" not in set(no_code["name"])


def test_map_has_no_holes_but_the_caspian(world):
    union = shapely.coverage_union_all(world.geometry.to_numpy())
    holes = [shapely.Polygon(r) for part in shapely.get_parts(union) for r in part.interiors]
    assert len(holes) == 1
    assert holes[0].contains(shapely.Point(51.0, 42.0))  # the Caspian Sea


def test_iso3_fixes(world):
    # ISO_A3 is -99 for all three; France and Norway have ISO_A3_EH, Kosovo nothing.
    for a3, iso3 in {"FRA": "FRA", "NOR": "NOR", "KOS": "XKX"}.items():
        rows = world[world["ne_a3"] == a3]
        assert iso3 in set(rows["iso3"])
        assert rows.sort_values("area_km2")["iso3"].iloc[-1] == iso3
    assert world.loc[world["ne_a3"] == "PGA", "name"].item() == "Spratly Islands"


def test_iso3_unique_except_small_outliers(world):
    # One unit per country, except tiny Natural Earth units filed under a
    # larger country: Clipperton (FRA), Ashmore/Coral Sea (AUS), Brazilian I.
    codes = world.loc[world["iso3"] != "", ["iso3", "ne_a3", "area_km2"]]
    dup = codes[codes["iso3"].duplicated(keep=False)]
    assert set(dup["iso3"]) == {"AUS", "BRA", "FRA"}
    main = dup.sort_values("area_km2").drop_duplicates("iso3", keep="last")
    assert set(main["ne_a3"]) == {"AUS", "BRA", "FRA"}


def test_largest_unit_first_within_iso3(world):
    # Plotting code may drop_duplicates("iso3"): it must keep France, not Clipperton.
    first = world.drop_duplicates("iso3").set_index("iso3")
    assert first.loc["FRA", "ne_a3"] == "FRA"
    assert first.loc["AUS", "ne_a3"] == "AUS"
    assert first.loc["BRA", "ne_a3"] == "BRA"
    largest = world.groupby("iso3")["area_km2"].max()
    assert (first["area_km2"] == largest.loc[first.index]).all()


@pytest.mark.parametrize("iso3", ["FRA", "NOR", "XKX", "CHN", "USA", "IND", "TWN", "PSE", "ESH"])
def test_main_countries_present(world, iso3):
    assert (world["iso3"] == iso3).sum() >= 1


def test_split_territories_have_own_units(world):
    split = world[world["iso3"] != world["ne_a3"]].set_index("iso3")["ne_a3"]
    for iso3, parent in {
        "GUF": "FRA",
        "GLP": "FRA",
        "MTQ": "FRA",
        "REU": "FRA",
        "MYT": "FRA",
        "SJM": "NOR",
        "BVT": "NOR",
        "BES": "NLD",
        "CXR": "IOA",
        "CCK": "IOA",
        "TKL": "NZL",
    }.items():
        assert split[iso3] == parent
    # ... and are no longer part of France: Réunion is not filled as France.
    france = world.loc[world["ne_a3"].eq("FRA") & world["iso3"].eq("FRA"), "geometry"].item()
    assert not france.intersects(shapely.Point(55.5, -21.1))


@pytest.mark.parametrize("iso3", sorted(MAINLAND))
def test_rep_point_in_largest_polygon(world, iso3):
    row = world[world["iso3"] == iso3].sort_values("area_km2").iloc[-1]
    assert _in_box(row["rep_lon"], row["rep_lat"], MAINLAND[iso3])


def test_area_is_plausible(world):
    area = world.groupby("iso3")["area_km2"].sum()
    assert 9.0e6 < area["USA"] < 10.0e6
    assert 16.5e6 < area["RUS"] < 17.5e6
    assert 500 < area["SGP"] < 800
    assert 2_400 < area["LUX"] < 2_800


def test_country_points_one_per_iso3(points):
    assert list(points.columns) == ["iso3", "lat", "lon"]
    assert points["iso3"].is_unique
    assert points[["lat", "lon"]].notna().all().all()
    assert points["lat"].between(-90, 90).all()
    assert points["lon"].between(-180, 180).all()


@pytest.mark.parametrize(
    "iso3",
    [
        "HKG", "MAC", "SGP", "MLT", "BHR", "TWN", "XKX", "PRI", "GIB", "MCO",
        "LIE", "AND", "SMR", "VAT", "LUX", "REU", "GLP", "MTQ", "GUF", "MYT",
        "BES", "SJM", "CXR", "CCK", "TKL", "ANT", "SCG", "YUG",
    ],
)  # fmt: skip
def test_country_points_cover_small_places(points, iso3):
    assert iso3 in set(points["iso3"])


def test_country_points_use_mainland(points):
    by_code = points.set_index("iso3")
    for iso3, box in MAINLAND.items():
        assert _in_box(by_code.loc[iso3, "lon"], by_code.loc[iso3, "lat"], box), iso3


def test_country_points_lie_on_their_country(world, points):
    # Within ~25 km of the simplified polygons: the point is taken before
    # simplification, which narrows thin atoll rings (Marshall Is. ~0.11 deg).
    units = world[world["iso3"] != ""].dissolve("iso3")
    merged = points.merge(units[["geometry"]], left_on="iso3", right_index=True)
    dist = shapely.distance(shapely.points(merged["lon"], merged["lat"]), merged["geometry"].to_numpy())
    far = merged.loc[dist > 0.25, "iso3"].tolist()
    assert far == []


def test_every_country_in_the_country_table_has_a_point(points):
    ref = resources.files("trialmap").joinpath("data", "countries.csv")
    if not ref.is_file():
        pytest.skip("no trialmap/data/countries.csv")
    table = pd.read_csv(ref, usecols=["iso3"], keep_default_na=False)
    assert sorted(set(table["iso3"]) - set(points["iso3"])) == []


def test_tiny_flags(world):
    tiny = world.groupby("iso3")["tiny"].agg(["all", "any"])
    for iso3 in ["SGP", "MLT", "BHR", "HKG", "LUX", "MAC", "MCO", "VAT", "PRI", "REU"]:
        assert tiny.loc[iso3, "all"], iso3
    for iso3 in ["CHN", "FRA", "USA", "DEU", "BEL", "ISR", "AUS", "BRA"]:
        assert not tiny.loc[iso3, "any"], iso3  # Clipperton does not make France tiny
    assert not world.loc[world["iso3"] == "", "tiny"].any()


def test_tiny_countries(world):
    tiny = boundaries.tiny_countries()
    assert list(tiny.columns) == ["iso3", "name", "lat", "lon", "area_km2", "has_polygon"]
    with_polygon = tiny[tiny["has_polygon"]]
    assert (with_polygon["area_km2"] < boundaries.TINY_AREA_KM2).all()
    assert set(with_polygon["iso3"]) == set(world.loc[world["tiny"], "iso3"])
    assert set(tiny.loc[~tiny["has_polygon"], "iso3"]) == {"ANT", "SCG", "YUG"}
    assert {"SGP", "MLT", "BHR", "HKG"} <= set(tiny["iso3"])
    assert not {"CHN", "FRA"} & set(tiny["iso3"])


def test_load_world_returns_a_copy():
    first = boundaries.load_world()
    first.loc[:, "iso3"] = "ZZZ"
    first.geometry.array[0] = None
    again = boundaries.load_world()
    assert "ZZZ" not in set(again["iso3"])
    assert again.geometry.notna().all()
    points = boundaries.country_points()
    points.loc[:, "lat"] = 0.0
    assert (boundaries.country_points()["lat"] != 0.0).any()


@pytest.fixture
def fresh_cache():
    boundaries._world.cache_clear()
    boundaries._points.cache_clear()
    yield
    boundaries._world.cache_clear()
    boundaries._points.cache_clear()


def test_missing_file_is_a_clear_error(monkeypatch, tmp_path, fresh_cache):
    monkeypatch.setattr(boundaries, "world_path", lambda: tmp_path / "missing.gpkg")
    with pytest.raises(BoundariesError, match=r"python -m trialmap\.boundaries") as info:
        boundaries.load_world()
    assert isinstance(info.value, TrialmapError)



@pytest.mark.parametrize("read", [boundaries.load_world, boundaries.country_points], ids=["world", "points"])
def test_a_damaged_file_is_a_clear_error(monkeypatch, tmp_path, fresh_cache, read):
    damaged = tmp_path / "world_admin0.gpkg"
    damaged.write_bytes(b"made up: not a GeoPackage\n" * 200)
    monkeypatch.setattr(boundaries, "world_path", lambda: damaged)
    with pytest.raises(BoundariesError, match="cannot read the vendored country boundaries"):
        read()
    boundaries._points.cache_clear()
    monkeypatch.setattr(boundaries, "world_path", lambda: tmp_path / "missing.gpkg")
    with pytest.raises(BoundariesError, match=r"python -m trialmap\.boundaries"):
        read()


def test_country_points_come_from_the_attribute_table_alone(fresh_cache):
    """Read without the polygons (sqlite3, no geopandas), the same points as the world table's."""
    import subprocess
    import sys

    code = ("import sys; from trialmap import boundaries; boundaries.country_points(); "
            "print('geopandas' in sys.modules, 'shapely' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    world = boundaries.load_world()
    coded = world[world["iso3"] != ""]
    largest = (coded.sort_values(["iso3", "area_km2"], ascending=[True, False], kind="stable")
               .drop_duplicates("iso3").set_index("iso3"))
    points = boundaries.country_points().set_index("iso3").loc[largest.index]
    assert (points["lat"] == largest["rep_lat"]).all() and (points["lon"] == largest["rep_lon"]).all()
    assert len(points) == coded["iso3"].nunique() > 240
