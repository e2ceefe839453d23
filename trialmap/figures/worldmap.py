"""Figure 1: world choropleth of trials per country, with a Europe inset and a ranked panel.

Design choices a reviewer may ask about:

- **Projection**: Equal Earth (EPSG:8857) for the world, an equal-area projection, so a
  country's visual weight is its true area; the Europe inset is drawn in the European
  LAEA projection (EPSG:3035). The inset's extent is outlined on the world map.
- **Classes** are derived from the data (:func:`data_classes`): "nice" breaks (1, 2,
  5, 10, 20, 50...) of which only those that hold at least one country are kept, the
  last class closed at the maximum, so no legend entry is empty.
- **Palette**: ColorBrewer ``YlGnBu`` (colour-blind safe) whose CIE L* lightness falls
  monotonically; land without trials is a light grey tint (:data:`~trialmap.figures.style.LAND`),
  lighter than every class and visible on white paper, borders 0.3 pt.
- **Labels**: ISO 3166-1 alpha-3 code and count, defined in the caption; inside a
  country when it holds the label, otherwise beside it with a leader line, never over
  another label or a small country (:class:`~trialmap.figures.layout.LabelPlacer`).
  Tiny countries with trials get a marker and a label.
- **Europe**: the inset states which Europe it counts (UN M49 Europe; the paper's
  reading adds Cyprus and Türkiye).
- **Boundaries**: Natural Earth admin-0; :data:`BOUNDARY_DISCLAIMER` goes in the caption.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trialmap.figures import style
from trialmap.figures.export import DOUBLE_COLUMN_MM, MM

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

EQUAL_EARTH = "EPSG:8857"
LAEA_EUROPE = "EPSG:3035"
# The Europe inset's extent in EPSG:3035 metres (x0, y0, x1, y1): Iceland to the Urals' foot,
# Crete and Cyprus to the North Cape.
EUROPE_EXTENT = (2_500_000.0, 1_380_000.0, 6_600_000.0, 5_450_000.0)
NICE_STEPS = (1, 2, 5)
NO_TRIALS_COLOR = style.LAND
EDGE_COLOR = style.BORDER
CMAP = style.COUNT_CMAP
CMAP_RANGE = style.COUNT_RANGE
# Kept for callers of the fixed classes of earlier versions; figures derive theirs from the data.
BIN_EDGES = (1, 2, 5, 10, 20, 50, 100)
BOUNDARY_DISCLAIMER = (
    "Country boundaries: Natural Earth (public domain), 1:10m admin-0 v5.1.1, simplified. "
    "The boundaries and names shown do not imply the expression of any opinion "
    "concerning the legal status of any country, territory or area, or of its authorities, "
    "or concerning the delimitation of its frontiers."
)


def plot_geo(geo: gpd.GeoDataFrame, ax: Axes, **kwargs) -> None:
    """``geo.plot(ax=ax, **kwargs)`` without the full canvas draw geopandas ends with."""
    canvas = ax.figure.canvas
    canvas.draw_idle = lambda *args, **kw: None  # instance attribute: shadows the method
    try:
        geo.plot(ax=ax, **kwargs)
    finally:
        del canvas.draw_idle


def polygon_paths(geoms) -> list:
    """One matplotlib Path per (multi)polygon, built with vectorised shapely calls.

    The same paths geopandas' plotting makes (exterior and holes of every part, closed),
    about three times faster for a world map of 250 countries and their islands.
    """
    import shapely
    from matplotlib.path import Path

    geoms = np.asarray(list(geoms), dtype=object)
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), Path.LINETO, dtype=np.uint8)
    starts = np.flatnonzero(np.r_[True, coord_ring[1:] != coord_ring[:-1]])
    ends = np.r_[starts[1:] - 1, len(coords) - 1]
    codes[starts] = Path.MOVETO
    codes[ends] = Path.CLOSEPOLY
    coord_geom = part_geom[ring_part[coord_ring]] if len(coords) else np.zeros(0, int)
    bounds = np.searchsorted(coord_geom, np.arange(len(geoms) + 1))
    return [Path(coords[a:b], codes[a:b]) if b > a else Path(np.zeros((0, 2))) for a, b in
            itertools.pairwise(bounds)]


def fill_polygons(ax: Axes, geo: gpd.GeoDataFrame, colors, *, edgecolor=None, linewidth=0.3,
                  zorder: float = 1, **kw):
    """Draw ``geo``'s polygons as one PathCollection (one face per row); return it."""
    from matplotlib.collections import PathCollection

    coll = PathCollection(polygon_paths(geo.geometry), facecolors=colors, edgecolors=edgecolor,
                          linewidths=linewidth, transform=ax.transData, zorder=zorder, **kw)
    ax.add_collection(coll, autolim=True)
    return coll


def lightness(color) -> float:
    """CIE L* (0 black .. 100 white) of a matplotlib colour: what a greyscale print keeps."""
    from matplotlib.colors import to_rgb

    c = np.asarray(to_rgb(color), float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = float(lin @ np.array([0.2126, 0.7152, 0.0722]))
    return 116 * np.cbrt(y) - 16 if y > 216 / 24389 else y * 24389 / 27


# ---------------------------------------------------------------------------
# Classes


def _nice_numbers(lo: float, hi: float) -> list[float]:
    out = []
    e = int(np.floor(np.log10(max(lo, 1e-9))))
    while True:
        for s in NICE_STEPS:
            v = s * 10.0**e
            if v > hi:
                return out
            if v >= lo * 0.999:
                out.append(round(v, 10))
        e += 1


def data_classes(
    values: Iterable[float], *, max_classes: int = 6, integer: bool = True, start: float | None = None
) -> list[float]:
    """Lower class edges derived from the data: nice breaks, none empty.

    Parameters
    ----------
    values
        The positive values to map (zeros and NaN are "no data", not classed).
    max_classes
        At most this many classes; the emptiest neighbours are merged first.
    integer
        Counts (classes start at 1) rather than rates.
    start
        The first edge (default: 1 for counts, the nice number at or below the minimum).

    Returns
    -------
    list of float
        Increasing lower edges; class ``i`` is ``[edges[i], edges[i+1])``, the last
        ``[edges[-1], max]``.
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], float)
    if v.size == 0:
        return [1.0]
    lo = (
        start
        if start is not None
        else (1.0 if integer else max(_nice_numbers(v.min() / 10, v.min()) or [v.min()]))
    )
    edges = [e for e in _nice_numbers(lo, v.max()) if e >= lo] or [lo]
    if edges[0] > lo:
        edges.insert(0, lo)

    def counts(es: list[float]) -> list[int]:
        idx = np.searchsorted(np.asarray(es), v, side="right") - 1
        return [int((idx == i).sum()) for i in range(len(es))]

    # drop empty classes (merge into the class below), then merge the smallest neighbours
    while True:
        c = counts(edges)
        empty = [i for i, n in enumerate(c) if n == 0]
        if empty:
            i = empty[-1]
            edges.pop(i if i > 0 else 1) if len(edges) > 1 else None
            if len(edges) == 1:
                break
            continue
        if len(edges) <= max_classes:
            break
        pair = min(range(len(c) - 1), key=lambda i: c[i] + c[i + 1])
        edges.pop(pair + 1)
    return edges


def _fmt(n: float) -> str:
    """A count as printed: whole numbers without decimals, shares and rates with one or two."""
    n = float(n)
    if n.is_integer():
        return f"{int(n)}"
    return f"{n:.1f}" if abs(n) >= 1 else f"{n:.2f}"


def class_labels(edges: Sequence[float], vmax: float, *, integer: bool = True) -> list[str]:
    """Legend text per class: ``1``, ``2–4``, ``50–71`` (counts) or ``0.5–1`` (rates, lower edge "
    "inclusive)."""
    labels = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        if integer:
            top = (hi - 1) if hi is not None else vmax
            labels.append(_fmt(lo) if top <= lo else f"{_fmt(lo)}–{_fmt(top)}")
        else:
            labels.append(f"{_fmt(lo)}–{_fmt(hi if hi is not None else vmax)}")
    return labels


def bin_labels(edges: Sequence[int] = BIN_EDGES) -> list[str]:
    """Labels of fixed integer classes, the last open (``≥100``)."""
    labels = class_labels(edges[:-1], edges[-1] - 1)
    return [*labels, f"≥{edges[-1]}"]


def class_colors(n: int, cmap: str = CMAP, value_range: tuple[float, float] = CMAP_RANGE) -> list:
    """One RGBA colour per class, light to dark."""
    from matplotlib import colormaps

    cm = colormaps[cmap]
    if n == 1:
        return [tuple(float(x) for x in cm(value_range[1] * 0.75 + value_range[0] * 0.25))]
    return [tuple(float(x) for x in cm(t)) for t in np.linspace(*value_range, n)]


bin_colors = class_colors


def classify(values: Iterable[float], edges: Sequence[float]) -> np.ndarray:
    """Class index per value (-1: no data, zero or NaN)."""
    v = pd.to_numeric(pd.Series(list(values), dtype="float64"), errors="coerce").fillna(0).to_numpy()
    idx = np.searchsorted(np.asarray(edges, float), v, side="right") - 1
    # positive values below the first edge (a fractional share) fall in the first class
    idx = np.where((v > 0) & (idx < 0), 0, idx)
    return np.where(v > 0, idx, -1)


def count_colors(
    values,
    edges: Sequence[float] = BIN_EDGES,
    cmap: str = CMAP,
    value_range: tuple[float, float] = CMAP_RANGE,
) -> list:
    """RGBA fill per value: its class colour, the land tint for none."""
    from matplotlib.colors import to_rgba

    colors = class_colors(len(edges), cmap, value_range)
    land = to_rgba(style.LAND)
    return [colors[i] if i >= 0 else land for i in classify(values, edges)]


# The maps' projections as PROJ pipelines: EPSG:3035 from WGS 84 is a null datum shift
# (ETRS89 = WGS 84 at map scale), but pyproj's search of the EPSG database for it takes
# ~90 ms per transformer; the pipeline gives the same coordinates (tests/test_figures.py).
_LAEA = "proj=laea lat_0=52 lon_0=10 x_0=4321000 y_0=3210000 ellps=GRS80"
_EQEARTH = "proj=eqearth lon_0=0 x_0=0 y_0=0 ellps=WGS84"
_DEG = "proj=unitconvert xy_in=deg xy_out=rad"
PIPELINES = {
    ("EPSG:4326", "EPSG:3035"): f"proj=pipeline step {_DEG} step {_LAEA}",
    ("EPSG:3035", "EPSG:4326"): f"proj=pipeline step inv {_LAEA} step inv {_DEG}",
    ("EPSG:4326", "EPSG:8857"): f"proj=pipeline step {_DEG} step {_EQEARTH}",
}


@functools.lru_cache(maxsize=16)
def _transformer(src: str, dst: str):
    """A pyproj Transformer, reused (it is immutable)."""
    from pyproj import Transformer

    pipeline = PIPELINES.get((src, dst))
    return Transformer.from_pipeline(pipeline) if pipeline else Transformer.from_crs(src, dst, always_xy=True)


def to_crs(geo: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """``geo.to_crs(crs)`` through the maps' cached transformers (no copy of the input)."""
    import geopandas as gpd
    import shapely

    src = geo.crs.to_string() if geo.crs is not None else None
    if (src, crs) not in PIPELINES:
        return geo.to_crs(crs)
    tr = _transformer(src, crs)
    moved = shapely.transform(geo.geometry.to_numpy(),
                              lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return gpd.GeoDataFrame(geo.drop(columns=geo.geometry.name), geometry=moved, crs=crs)


def _projected_points(lon: Iterable[float], lat: Iterable[float], crs: str) -> np.ndarray:
    tr = _transformer("EPSG:4326", str(crs))
    x, y = tr.transform(np.asarray(list(lon), float), np.asarray(list(lat), float))
    return np.column_stack([x, y])


def anchors(geo: gpd.GeoDataFrame) -> pd.DataFrame:
    """One label anchor per iso3 of a projected ``geo``: the boundaries' point inside the
    country's largest polygon (``rep_lon``/``rep_lat``), else a point inside its geometry."""
    first = geo.drop_duplicates("iso3").set_index("iso3")
    if {"rep_lon", "rep_lat"} <= set(first.columns):
        xy = _projected_points(first["rep_lon"], first["rep_lat"], geo.crs.to_string())
        return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}, index=first.index)
    pts = first.geometry.representative_point()
    return pd.DataFrame({"x": pts.x.to_numpy(), "y": pts.y.to_numpy()}, index=first.index)


@dataclass(frozen=True)
class Classes:
    """Classes of one mapped quantity: edges, labels and colours."""

    edges: tuple[float, ...]
    labels: tuple[str, ...]
    colors: tuple
    title: str

    @classmethod
    def from_values(
        cls,
        values: Iterable[float],
        title: str,
        *,
        integer: bool = True,
        cmap: str = CMAP,
        value_range: tuple[float, float] = CMAP_RANGE,
        max_classes: int = 6,
    ) -> Classes:
        vals = [float(x) for x in values if pd.notna(x)]
        edges = data_classes(vals, integer=integer, max_classes=max_classes)
        vmax = max(vals) if vals else 1
        labels = class_labels(edges, vmax, integer=integer)
        if integer and vals and min(v for v in vals if v > 0) < 1:  # fractional shares
            labels[0] = f"<{_fmt(edges[1])}" if len(edges) > 1 else labels[0]
        return cls(tuple(edges), tuple(labels), tuple(class_colors(len(edges), cmap, value_range)), title)

    def colors_for(self, values) -> list:
        from matplotlib.colors import to_rgba

        land = to_rgba(style.LAND)
        return [self.colors[i] if i >= 0 else land for i in classify(values, self.edges)]


# ---------------------------------------------------------------------------
# Drawing


def choropleth(
    ax: Axes,
    geo: gpd.GeoDataFrame,
    values: pd.Series,
    classes: Classes,
    *,
    marker_size: float = 9.0,
    tiny: bool = True,
) -> pd.DataFrame:
    """Fill ``geo`` (projected, ``iso3``) by ``values`` (per iso3) into ``ax``.

    The fills are the collection with gid ``"countries"`` (one face per row of
    ``geo``, attribute ``trialmap_data`` marks the faces with data); tiny
    countries with data get a marker (gid ``"tiny-countries"``).

    Returns
    -------
    DataFrame
        The tiny countries drawn as markers: ``iso3``, ``x``, ``y``, ``value``.
    """
    v = geo["iso3"].map(values.dropna()).astype("float64").fillna(0.0)
    v[geo["iso3"].isna() | (geo["iso3"] == "")] = 0.0
    coll = fill_polygons(ax, geo, classes.colors_for(v), edgecolor=style.BORDER, linewidth=style.BORDER_LW)
    coll.set_gid("countries")
    coll.trialmap_data = (v > 0).to_numpy()
    if not tiny or "tiny" not in geo:
        return pd.DataFrame(columns=["iso3", "x", "y", "value"])
    t = geo[geo["tiny"] & (v > 0)].assign(value=v).drop_duplicates("iso3")
    if t.empty:
        return pd.DataFrame(columns=["iso3", "x", "y", "value"])
    anchor = anchors(geo)
    t = t[t["iso3"].isin(anchor.index)]
    xy = anchor.loc[t["iso3"], ["x", "y"]].to_numpy()
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=marker_size,
        c=classes.colors_for(t["value"]),
        edgecolors="#222222",
        linewidths=0.5,
        zorder=5,
        gid="tiny-countries",
    )
    return pd.DataFrame(
        {"iso3": t["iso3"].to_numpy(), "x": xy[:, 0], "y": xy[:, 1], "value": t["value"].to_numpy()}
    )


def frame_map(ax: Axes, extent: Sequence[float]) -> None:
    """No axes; the (x0, y0, x1, y1) extent, widened to the panel's shape so one unit is as long
    in x as in y. Call after drawing the layers (geopandas autoscales) and before placing labels:
    nothing moves at draw time, so labels are placed in final display coordinates."""
    ax.set_axis_off()
    ax.set_xlabel("")
    ax.set_ylabel("")
    x0, y0, x1, y1 = (float(v) for v in extent)
    pos = ax.get_position(original=True)
    fw, fh = ax.figure.get_size_inches()
    box = (pos.width * fw) / max(pos.height * fh, 1e-9)
    data = (x1 - x0) / max(y1 - y0, 1e-9)
    if data < box:  # widen
        cx, half = (x0 + x1) / 2, (y1 - y0) * box / 2
        x0, x1 = cx - half, cx + half
    else:
        cy, half = (y0 + y1) / 2, (x1 - x0) / box / 2
        y0, y1 = cy - half, cy + half
    ax.set_aspect("auto")
    ax.set_autoscale_on(False)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.apply_aspect()  # back to the panel's own box (geopandas asked for an equal aspect)


def world_extent(geo: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = geo[geo["iso3"] != "ATA"].total_bounds
    return float(xmin), float(ymin), float(xmax), float(ymax)


def frame_world(ax: Axes, geo: gpd.GeoDataFrame) -> None:
    """Frame a projected world map: no axes, equal aspect, the land without Antarctica."""
    frame_map(ax, world_extent(geo))


def label_map(
    ax: Axes,
    geo: gpd.GeoDataFrame,
    values: pd.Series,
    classes: Classes,
    keys: Sequence[str],
    *,
    size: float,
    fmt=None,
    occupied: Sequence = (),
    gid_prefix: str = "label-",
    draw: bool = True,
    fill_in: Sequence[str] = (),
    also_data: Sequence[str] = (),
) -> Any:
    """Label countries ``keys`` (in order) with "ISO3 value", placed without collisions; then
    the countries of ``fill_in`` whose label fits inside them, in the room left. Labels keep
    off the countries of ``also_data`` as off those with a value (the change map's "had
    trials, none new" hatch is data too), though these get no label.

    Returns the :class:`~trialmap.figures.layout.LabelPlacer` (``placed``, ``skipped``;
    with ``draw=False`` the labels are planned, not drawn: ``plan()``).
    """
    from trialmap.figures.layout import LabelPlacer

    fmt = fmt or _fmt
    has = values[values > 0]
    shown = geo[geo["iso3"].isin(set(has.index))]
    data_keys = [*shown["iso3"].unique(), *(k for k in also_data if k not in has.index)]
    placer = LabelPlacer(ax, list(geo.geometry), list(geo["iso3"]), data_keys=data_keys, draw=draw)
    ax.trialmap_shapes = {k: g for k, g in placer.data_items}
    for b in occupied:
        if hasattr(b, "geom_type"):
            placer.occupy_shape(b)
        else:
            placer.occupy(b)
    for coll in ax.collections:  # markers of tiny and small-population countries stay visible
        if coll.get_gid() in ("tiny-countries", "small-population"):
            placer.occupy_markers(coll)
    first = geo.drop_duplicates("iso3").set_index("iso3")
    anchor = anchors(geo)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    def in_view(isos: Sequence[str]) -> list[tuple[str, float, float]]:
        out = []
        for iso in isos:
            if iso not in first.index or iso not in has.index:
                continue
            px, py = float(anchor.at[iso, "x"]), float(anchor.at[iso, "y"])
            if x0 <= px <= x1 and y0 <= py <= y1:
                out.append((iso, px, py))
        return out

    todo = in_view(keys)
    # First the labels that fit inside their country, then the others with leader lines,
    # so a neighbour's leader label never takes the room a country needs for its own.
    placed = set()
    for iso, px, py in todo:
        if bool(first.loc[iso].get("tiny", False)):
            continue
        fill = classes.colors_for([has[iso]])[0]
        art = placer.place(iso, f"{iso} {fmt(has[iso])}", (px, py), size=size, inside=True, leader=False,
                           color_inside=style.text_color_on(fill), gid=f"{gid_prefix}{iso}")
        if art is not None:
            placed.add(iso)
    # Leader labels: the smallest countries first (they have the fewest good spots nearby).
    area = {k: g.area for k, g in placer.shapes.items()}
    rest = sorted((t for t in todo if t[0] not in placed), key=lambda t: area.get(t[0], 0.0))
    for iso, px, py in rest:
        placer.place(iso, f"{iso} {fmt(has[iso])}", (px, py), size=size, inside=False,
                     gid=f"{gid_prefix}{iso}")
    labelled = set(keys)
    for iso, px, py in in_view([k for k in fill_in if k not in labelled]):
        if not bool(first.loc[iso].get("tiny", False)):
            placer.place(iso, f"{iso} {fmt(has[iso])}", (px, py), size=size, inside=True, leader=False,
                         color_inside=style.text_color_on(classes.colors_for([has[iso]])[0]),
                         gid=f"{gid_prefix}{iso}")
    ax.trialmap_skipped = placer.skipped  # labels no free spot was found for (tests assert none)
    return placer


def legend_panel(
    ax: Axes,
    classes: Classes,
    *,
    size: float,
    ncol: int = 1,
    loc: str = "upper left",
    bbox: tuple[float, float] = (0.0, 1.0),
    zero_label: str | None = "0",
    extra: Sequence = (),
) -> Any:
    """The class legend (patches drawn like the map's fills) in ``ax`` (a blank panel)."""
    from matplotlib.patches import Patch

    handles = []
    if zero_label:
        handles.append(Patch(fc=style.LAND, ec=style.BORDER, lw=style.BORDER_LW, label=zero_label))
    handles += [
        Patch(fc=c, ec=style.BORDER, lw=style.BORDER_LW, label=lab)
        for c, lab in zip(classes.colors, classes.labels, strict=True)
    ]
    handles += list(extra)
    leg = ax.legend(
        handles=handles,
        title=classes.title,
        fontsize=size,
        title_fontsize=size,
        frameon=False,
        loc=loc,
        bbox_to_anchor=bbox,
        ncol=ncol,
        handlelength=1.3,
        handleheight=0.9,
        labelspacing=0.3,
        columnspacing=0.8,
        handletextpad=0.4,
        borderaxespad=0.0,
        alignment="left",
    )
    return leg


def figure_size_mm(width: float, layout: str = "figure1") -> tuple[float, dict]:
    """Height (mm) and panel boxes (left, bottom, width, height in mm) of a map figure layout."""
    world_h = round(width / 2.2408, 1)
    src = 5.0 if width >= 120 else 8.0
    if layout == "figure1":
        if width >= 120:
            band = 60.0
            h = world_h + band + src
            boxes = {
                "world": (0.0, src + band, width, world_h),
                "europe": (1.0, src + 1.0, 62.0, band - 6.0),
                "ranked": (96.0, src + 7.0, 46.0, band - 13.0),
                "legend": (152.0, src + 2.0, 31.0, band - 6.0),
            }
        else:
            # 89 mm: the inset as wide as the column, the legend in one row under it
            inset, legend = 60.0, 10.0
            h = world_h + 2.0 + inset + legend + src
            boxes = {
                "world": (0.0, h - world_h, width, world_h),
                "europe": (0.5, src + legend, width - 1.0, inset),
                "legend": (1.0, src + 0.5, width - 2.0, legend - 1.0),
            }
        return round(h, 1), boxes
    msg = f"unknown layout {layout!r}"
    raise ValueError(msg)


def _europe_geo(world: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    import shapely

    # Clip before projecting (LAEA far from its centre folds over); clip_by_rect is a fast,
    # rectangle-only intersection.
    box = (-45.0, 20.0, 75.0, 84.0)
    near = world[world.geometry.intersects(shapely.box(*box))]
    clipped = shapely.clip_by_rect(near.geometry.to_numpy(), *box)
    return to_crs(near.assign(geometry=clipped), LAEA_EUROPE)


def europe_outline_on_world(crs: str = EQUAL_EARTH, extent: Sequence[float] = EUROPE_EXTENT) -> np.ndarray:
    """The inset's extent (EPSG:3035) as a closed line in the world map's projection."""
    x0, y0, x1, y1 = extent
    t = np.linspace(0, 1, 30)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(30, x1), x1 - (x1 - x0) * t, np.full(30, x0)])
    ys = np.concatenate([np.full(30, y0), y0 + (y1 - y0) * t, np.full(30, y1), y1 - (y1 - y0) * t])
    lon, lat = _transformer(LAEA_EUROPE, "EPSG:4326").transform(xs, ys)
    fx, fy = _transformer("EPSG:4326", crs).transform(lon, lat)
    return np.column_stack([fx, fy])


def figure1(
    counts: pd.DataFrame,
    world: gpd.GeoDataFrame,
    *,
    europe: Mapping[str, Any] | None = None,
    regions: Mapping[str, tuple[int, Collection[str]]] | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    value: str = "n_trials",
    unit: str = "trials",
    classes: Classes | None = None,
    ranked: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw Figure 1: trials per country on a world map, a Europe inset and (183 mm) a ranked panel.

    Parameters
    ----------
    counts
        ``iso3``, ``country`` and ``value`` (as from :func:`trialmap.aggregate.country_counts`).
    world
        Country polygons with ``iso3`` and ``tiny`` (:func:`trialmap.boundaries.load_world`).
    europe
        What the inset states: ``{"n": trials in UN M49 Europe, "n_paper": with Cyprus and
        Türkiye, "members": iso3 codes}``; ``regions={"Europe": (n, members)}`` (the earlier
        form) is accepted too.
    source_line
        The short source line printed along the bottom (see :func:`trialmap.provenance.source_line`).
    width
        ``"single"`` (89 mm), ``"double"`` (183 mm) or millimetres: each width has its own layout.
    value, unit
        The counts column to map and the word for it.
    classes
        Classes to use (then-and-now panels share theirs); default: derived from ``counts``.
    ranked
        Countries in the ranked panel (183 mm layout only).
    ax
        Ignored for the layout (Figure 1 is a figure of several panels); when given, the map is
        drawn as a single world panel into it.
    title
        Not drawn: titles belong in the caption (kept for old callers).

    Returns
    -------
    Axes
        The world map. The figure's other axes have gids ``"europe-inset"``, ``"ranked"`` and
        ``"legend"``. Country fills: collection gid ``"countries"``; labels ``"label-<ISO3>"``;
        tiny-country markers ``"tiny-countries"``; the source line ``"source-line"``.
    """
    import matplotlib.pyplot as plt

    from trialmap import forked
    from trialmap.figures.export import add_source_line, width_mm
    from trialmap.figures.layout import add_axes_mm, draw_plan

    del title
    col = counts.assign(_v=counts[value].astype(float))
    col = col[col["iso3"].notna()]
    values = col.set_index("iso3")["_v"]
    integer = bool(np.allclose(values % 1, 0))
    classes = classes or Classes.from_values(
        values[values > 0], f"{unit.capitalize()} per country", integer=True
    )
    if europe is None and regions:
        n, members = next(iter(regions.values()))
        europe = {"n": n, "members": members}
    if ax is not None:
        geo = to_crs(world, EQUAL_EARTH)
        world_panel(ax, geo, values, classes, size=6.0)
        return ax
    w = width_mm(width)
    h, boxes = figure_size_mm(w, "figure1")
    fig = plt.figure(figsize=(w * MM, h * MM))
    fig.set_facecolor("white")
    sz = style.sizes(w)
    geo = to_crs(world, EQUAL_EARTH)
    ax_e = add_axes_mm(fig, *boxes["europe"])
    ax_e.set_gid("europe-inset")
    geo_e = _europe_geo(world)
    label_europe = europe_panel(
        ax_e,
        geo_e,
        values,
        classes,
        europe or {},
        size=sz["label"],
        marker_size=sz["marker"],
        heading_size=sz["body"],
        unit=unit,
    )
    # The inset's labels are placed by a forked copy of this process while this one draws
    # the rest (the inset's labels were a quarter of the drawing time; the two maps' labels
    # never meet), then drawn here.
    with forked.beside(lambda: label_europe(draw=False).plan()) as europe_labels:
        ax_w = add_axes_mm(fig, *boxes["world"])
        ax_w.set_gid("world")
        (ex0, ex1), (ey0, ey1) = ax_e.get_xlim(), ax_e.get_ylim()
        outline = europe_outline_on_world(extent=(ex0, ey0, ex1, ey1))
        world_panel(
            ax_w,
            geo,
            values,
            classes,
            size=sz["label"],
            outline=outline,
            marker_size=sz["marker"],
            integer=integer,
            # 89 mm: the world map has room for the countries with two or more trials (and the
            # tiny ones, whose dots need a name); the one-trial countries read from their colour
            min_label=2 if w < 120 else 0,
        )

        ax_l = add_axes_mm(fig, *boxes["legend"])
        ax_l.set_axis_off()
        ax_l.set_gid("legend")
        if w >= 120:
            legend_panel(ax_l, classes, size=sz["small"])
        else:
            legend_panel(ax_l, classes, size=sz["small"], ncol=len(classes.labels) + 1, loc="upper center",
                         bbox=(0.5, 1.0))

        if "ranked" in boxes and ranked:
            ax_r = add_axes_mm(fig, *boxes["ranked"])
            ax_r.set_gid("ranked")
            ranked_panel(
                ax_r, col.rename(columns={"_v": "value"}), classes, top=ranked, size=sz["small"], unit=unit
            )
        if source_line:
            add_source_line(fig, source_line, fontsize=sz["source"], layout=False)
        draw_plan(ax_e, europe_labels())
    return ax_w


def world_panel(
    ax: Axes,
    geo: gpd.GeoDataFrame,
    values: pd.Series,
    classes: Classes,
    *,
    size: float,
    exclude: Collection[str] = (),
    outline: np.ndarray | None = None,
    marker_size: float = 9.0,
    integer: bool = True,
    label: bool = True,
    fmt=None,
    min_label: float = 0,
) -> Any:
    """One world choropleth in ``ax`` with collision-free labels (countries in ``exclude``, and
    those below ``min_label`` unless tiny, unlabelled)."""
    choropleth(ax, geo, values, classes, marker_size=marker_size)
    frame_map(ax, world_extent(geo))
    occupied = []
    if outline is not None:
        ax.plot(outline[:, 0], outline[:, 1], color="#333333", lw=0.5, zorder=6, gid="europe-frame")
        import shapely

        # Europe's own labels are in the inset: keep the frame's inside free of world labels
        occupied.append(shapely.Polygon(ax.transData.transform(outline)).buffer(1.0))
    if not label:
        return None
    order = values[values > 0].sort_values(ascending=False)
    tiny = set(geo.loc[geo["tiny"], "iso3"]) if "tiny" in geo else set()
    keys = [k for k in order.index if k not in set(exclude) and (order[k] >= min_label or k in tiny)]
    if outline is not None:  # countries inside the inset's frame are labelled in the inset
        import shapely

        frame = shapely.Polygon(outline)
        a = anchors(geo)
        keys = [
            k
            for k in keys
            if k not in a.index or not frame.contains(shapely.Point(a.at[k, "x"], a.at[k, "y"]))
        ]
    return label_map(ax, geo, values, classes, keys, size=size, occupied=occupied, fmt=fmt)


def europe_panel(
    ax: Axes,
    geo: gpd.GeoDataFrame,
    values: pd.Series,
    classes: Classes,
    europe: Mapping[str, Any],
    *,
    size: float,
    marker_size: float,
    heading_size: float,
    unit: str = "trials",
) -> Callable[..., Any]:
    """The Europe inset (EPSG:3035): fills and a heading; returns its labelling (every
    country with data), :func:`label_map` with its arguments but ``draw``, to be called."""
    from matplotlib.patches import Rectangle

    choropleth(ax, geo, values, classes, marker_size=marker_size)
    frame_map(ax, EUROPE_EXTENT)
    ax.add_patch(
        Rectangle(
            (0, 0),
            1,
            1,
            transform=ax.transAxes,
            fill=False,
            lw=0.6,
            ec="#333333",
            zorder=8,
            gid="europe-frame",
        )
    )
    heading = "Europe (inset)"
    if europe.get("n") is not None:
        heading = f"Europe (UN M49): {_fmt(europe['n'])} {unit}"
        if europe.get("n_paper") is not None:
            heading += f"\nwith Cyprus and Türkiye: {_fmt(europe['n_paper'])}"
    t = ax.text(
        0.02,
        0.98,
        heading,
        transform=ax.transAxes,
        fontsize=heading_size,
        va="top",
        ha="left",
        zorder=9,
        gid="europe-heading",
        linespacing=1.1,
        bbox={"boxstyle": "square,pad=0.25", "fc": "white", "ec": "none"},
    )
    has = values[values > 0]
    a = anchors(geo)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    keys = [
        k
        for k in has.sort_values(ascending=False).index
        if k in a.index and x0 <= a.at[k, "x"] <= x1 and y0 <= a.at[k, "y"] <= y1
    ]
    from trialmap.figures.layout import renderer

    return functools.partial(label_map, ax, geo, values, classes, keys, size=size,
                             occupied=[t.get_window_extent(renderer(ax.figure))])


def ranked_panel(
    ax: Axes, counts: pd.DataFrame, classes: Classes, *, top: int, size: float, unit: str = "trials"
) -> Axes:
    """Horizontal bars of the ``top`` countries (name and count), in their class colours."""
    d = counts.sort_values(["value", "iso3"], ascending=[False, True]).head(top).iloc[::-1]
    y = np.arange(len(d))
    colors = classes.colors_for(d["value"])
    ax.barh(
        y,
        d["value"],
        color=colors,
        edgecolor=style.BORDER,
        linewidth=style.BORDER_LW,
        height=0.72,
        gid="ranked-bars",
    )
    for yi, v in zip(y, d["value"], strict=True):
        ax.annotate(
            _fmt(v),
            (v, yi),
            xytext=(1.5, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=size,
            gid="ranked-value",
        )
    ax.set_yticks(y, [f"{c} ({i})" for c, i in zip(d["country"], d["iso3"], strict=True)], fontsize=size)
    ax.tick_params(axis="y", length=0, pad=1.5)
    ax.tick_params(axis="x", labelsize=size, width=0.4, length=2)
    ax.set_xlim(0, float(d["value"].max()) * 1.18 if len(d) else 1)
    ax.set_ylim(-0.6, len(d) - 0.4)
    ax.set_xlabel(f"{unit.capitalize()}", fontsize=size, labelpad=1.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.4)
    ax.set_title(f"Leading {len(d)} countries", fontsize=size, loc="left", pad=2)
    return ax


def caption(
    counts: pd.DataFrame,
    *,
    n_trials: int,
    data_date: str,
    title: str = "",
    europe: Mapping[str, Any] | None = None,
    regions: Mapping[str, int] | None = None,
    counting_rule: str = "distinct trials with at least one site in the country",
    codes: Mapping[str, str] | None = None,
    classes: Classes | None = None,
    disclaimer: bool = True,
    value: str = "n_trials",
    unit: str = "trials",
) -> str:
    """A figure legend for Figure 1, numbers taken from ``counts``, boundary disclaimer appended.

    Parameters
    ----------
    counts
        The country counts drawn (``iso3``, ``country``, ``value``).
    n_trials
        Trials in the study set (a multinational trial counts in each of its countries).
    title
        The study set's title (``run.definition.title``), which opens the legend.
    europe
        ``{"n": ..., "n_paper": ..., "n_countries": ...}`` for the inset's sentence.
    regions
        Region name -> value, for other regions named (earlier form).
    codes
        iso3 -> country name of every code printed on the figure (defined here).
    classes
        The classes drawn, to state them.
    """
    with_trials = counts[counts["iso3"].notna() & (counts[value] > 0)]
    top = with_trials.sort_values(value, ascending=False).head(3)
    leaders = ", ".join(f"{r.country} ({_fmt(getattr(r, value))})" for r in top.itertuples())
    head = f"{title}: number" if title else "Number"
    text = (
        f"{head} of {unit} per country (ClinicalTrials.gov, registry data date {data_date}; "
        f"{n_trials} trials in {len(with_trials)} countries; counting: {counting_rule}). "
        f"Leading countries: {leaders}."
    )
    if classes is not None:
        text += (
            f" Classes (derived from the data, none empty): {', '.join(classes.labels)}; "
            "light grey: no trials."
        )
    if europe and europe.get("n") is not None:
        text += (
            f" Inset: Europe in the European LAEA projection (EPSG:3035); Europe is counted as "
            f"UN M49 Europe ({_fmt(europe['n'])} distinct trials"
        )
        if europe.get("n_countries") is not None:
            text += f" in {europe['n_countries']} countries"
        text += ")"
        if europe.get("n_paper") is not None:
            text += (
                f"; with Cyprus and Türkiye, as Wang, Yuan & Xie (2018) grouped Europe, "
                f"{_fmt(europe['n_paper'])}"
            )
        text += ". A multinational trial counts once in each of its countries and once in Europe."
    if regions:
        word = "distinct trials" if unit == "trials" else unit
        text += " Regions: " + "; ".join(f"{k}, {_fmt(v)} {word}" for k, v in regions.items()) + "."
    text += (
        " World map: Equal Earth projection (EPSG:8857); countries too small to see are marked with a dot."
    )
    if codes:
        text += (
            " Codes (ISO 3166-1 alpha-3): " + "; ".join(f"{k}, {v}" for k, v in sorted(codes.items())) + "."
        )
    if disclaimer:
        text += " " + BOUNDARY_DISCLAIMER
    return text


def drawn_codes(fig) -> dict[str, str]:
    """iso3 codes printed as labels on a drawn figure (gid ``label-<ISO3>``)."""
    from matplotlib.text import Text

    out = {}
    for t in fig.findobj(Text):
        gid = t.get_gid() or ""
        if gid.startswith("label-") and t.get_visible():
            out[gid.split("-", 1)[1]] = t.get_text()
    return out


def world_figure(
    width: str | float, *, panels: int = 1, legend_mm: float | None = None, panel_letters: bool = False
):
    """A figure of ``panels`` stacked world maps, a legend band and a source band.

    Returns
    -------
    (Figure, list of Axes, Axes)
        The figure, the world axes top to bottom, and the (blank) legend axes.
    """
    import matplotlib.pyplot as plt

    from trialmap.figures.export import width_mm
    from trialmap.figures.layout import add_axes_mm

    w = width_mm(width)
    world_h = round(w / 2.2408, 1)
    src = 5.0 if w >= 120 else 8.0
    legend_mm = legend_mm if legend_mm is not None else (13.0 if w >= 120 else 19.0)
    gap = 3.5 if panel_letters else 0.0
    h = src + legend_mm + panels * (world_h + gap)
    fig = plt.figure(figsize=(w * MM, h * MM))
    fig.set_facecolor("white")
    axes = []
    for i in range(panels):
        bottom = src + legend_mm + (panels - 1 - i) * (world_h + gap)
        axes.append(add_axes_mm(fig, 0.0, bottom, w, world_h))
    leg = add_axes_mm(fig, 1.0, src + 0.5, w - 2.0, legend_mm - 1.0)
    leg.set_axis_off()
    leg.set_gid("legend")
    return fig, axes, leg


def then_now(
    before: pd.DataFrame,
    after: pd.DataFrame,
    world: gpd.GeoDataFrame,
    *,
    before_label: str,
    after_label: str,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    value: str = "n_trials",
    unit: str = "trials",
) -> Axes:
    """Two world maps with the same classes: trials per country at two dates (a above b).

    Returns
    -------
    Axes
        Panel a (``before``, gid ``"panel-a"``); panel b has gid ``"panel-b"``. Labels
        ``"label-<ISO3>"`` in each panel; panel headings ``"panel-letter"``.
    """
    from trialmap.figures.export import add_source_line, width_mm

    w = width_mm(width)
    sz = style.sizes(w)
    vb = before[before["iso3"].notna()].set_index("iso3")[value].astype(float)
    va = after[after["iso3"].notna()].set_index("iso3")[value].astype(float)
    both = pd.concat([vb[vb > 0], va[va > 0]])
    classes = Classes.from_values(both, f"{unit.capitalize()} per country (both panels)")
    legend_mm = 10.0 if w >= 120 else 11.0
    fig, (ax_a, ax_b), ax_l = world_figure(w, panels=2, panel_letters=True, legend_mm=legend_mm)
    geo = to_crs(world, EQUAL_EARTH)
    top = 12 if w >= 120 else 6
    for ax, v, letter, label in ((ax_a, vb, "a", before_label), (ax_b, va, "b", after_label)):
        ax.set_gid("panel-a" if letter == "a" else "panel-b")
        choropleth(ax, geo, v, classes, marker_size=sz["marker"])
        frame_map(ax, world_extent(geo))
        n_countries = int((v > 0).sum())
        t = ax.text(
            0.0,
            1.0,
            f"{letter}  {label}: {n_countries} countries",
            transform=ax.transAxes,
            fontsize=sz["body"],
            fontweight="bold",
            va="bottom",
            ha="left",
            gid="panel-letter",
        )
        del t
        tiny = set(geo.loc[geo["tiny"], "iso3"]) if "tiny" in geo else set()
        ranked = list(v[v > 0].sort_values(ascending=False).index)
        keys = ranked[:top] + [k for k in ranked[top:] if k in tiny]  # tiny countries: always named
        label_map(ax, geo, v, classes, keys, size=sz["label"])
    legend_panel(
        ax_l, classes, size=sz["small"], ncol=len(classes.labels) + 1, loc="upper center", bbox=(0.5, 1.0)
    )
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"], layout=False)
    return ax_a


def per_capita_map(
    rates: pd.DataFrame,
    world: gpd.GeoDataFrame,
    *,
    per_label: str = "10 million",
    min_population: float = 1e6,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
) -> Axes:
    """Trials per ``per_label`` inhabitants, classes derived from the rates; small countries marked.

    Parameters
    ----------
    rates
        :func:`trialmap.aggregate.per_capita` (``iso3``, ``rate``, ``small_population``, ``count``).

    Returns
    -------
    Axes
        The map; countries with trials but fewer than ``min_population`` inhabitants get a hollow
        marker (gid ``"small-population"``) and no rate.
    """
    from matplotlib.lines import Line2D

    from trialmap.figures.export import add_source_line, width_mm

    w = width_mm(width)
    sz = style.sizes(w)
    r = rates.set_index("iso3")["rate"].astype("float64").fillna(0.0)
    classes = Classes.from_values(
        r[r > 0],
        f"Trials per {per_label} inhabitants",
        integer=False,
        cmap=style.RATE_CMAP,
        value_range=style.RATE_RANGE,
        max_classes=6,
    )
    fig, (ax,), ax_l = world_figure(w, legend_mm=13.0 if w >= 120 else 12.0)
    ax.set_gid("world")
    geo = to_crs(world, EQUAL_EARTH)
    choropleth(ax, geo, r, classes, marker_size=sz["marker"])
    frame_map(ax, world_extent(geo))
    small = rates[rates["small_population"]]
    first = geo.drop_duplicates("iso3").set_index("iso3")
    sm = small[small["iso3"].isin(first.index)]
    anchor = anchors(geo)
    if len(sm):
        pts = anchor.loc[sm["iso3"][sm["iso3"].isin(anchor.index)]]
        ax.scatter(
            pts["x"],
            pts["y"],
            s=sz["marker"],
            facecolors="white",
            edgecolors="#222222",
            linewidths=0.6,
            marker="o",
            zorder=5,
            gid="small-population",
        )
    ranked = list(r[r > 0].sort_values(ascending=False).index)
    keys = ranked[: (12 if w >= 120 else 6)]

    def fmt(x: float) -> str:  # one significant digit below 0.1: India's 0.007 is no "0.0"
        return f"{x:.1g}" if x < 0.1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"

    # The highest rates get a label wherever it goes; the others where it fits inside the
    # country (the United States, Canada, China...), so no large filled country goes unnamed.
    lab = label_map(ax, geo, r, classes, keys, size=sz["label"], fmt=fmt, fill_in=ranked)
    # countries under the minimum population: labelled with their trial count
    placer = lab
    for row in sm.itertuples():
        if row.iso3 not in first.index:
            continue
        placer.place(
            row.iso3,
            f"{row.iso3} ({_fmt(row.count)} trial{'s' if row.count != 1 else ''})",
            (float(anchor.at[row.iso3, "x"]), float(anchor.at[row.iso3, "y"])),
            size=sz["label"],
            inside=False,
            gid=f"label-{row.iso3}",
        )
    extra = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=np.sqrt(sz["marker"]),
            markerfacecolor="white",
            markeredgecolor="#222222",
            markeredgewidth=0.6,
            label=f"under {min_population / 1e6:g} million inhabitants: no rate",
        )
    ]
    legend_panel(
        ax_l,
        classes,
        size=sz["small"],
        ncol=(len(classes.labels) + 2) if w >= 120 else 4,
        loc="upper center",
        bbox=(0.5, 1.0),
        zero_label="no trials",
        extra=extra,
    )
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"], layout=False)
    return ax
