"""Site maps: one dot per place with trial sites, over the trials-per-country choropleth.

The world map is drawn in Equal Earth; a regional map in an equal-area projection centred
on its region (Europe: LAEA Europe, EPSG:3035; East Asia and the others: a Lambert
azimuthal equal-area projection centred on the region), framed on the region's sites so
no quarter of the frame is empty ocean. Fills are opaque and match their legend; the
legend's dots are drawn exactly as the map's (same face, edge and width). Legends sit
outside the map, so they hide no land. The counts are given per map: the trials with a
site in the region, and the region's sites known only by country (not drawn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trialmap.aggregate import site_places
from trialmap.figures import style
from trialmap.figures.export import DOUBLE_COLUMN_MM, MM
from trialmap.figures.worldmap import (
    EQUAL_EARTH,
    EUROPE_EXTENT,
    LAEA_EUROPE,
    Classes,
    choropleth,
    frame_map,
    legend_panel,
    world_extent,
)

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

__all__ = ["DOT_COLOR", "REGIONS", "Region", "dot_sizes", "site_points", "sitemap"]


@dataclass(frozen=True)
class Region:
    """A zoom: its projection, the lon/lat box of its sites, a fixed extent (projected) if any."""

    name: str
    crs: str
    box: tuple[float, float, float, float]  # lon0, lat0, lon1, lat1 of the places framed
    extent: tuple[float, float, float, float] | None = None
    members: str | None = None  # countries.region_members() name for the per-region counts


REGIONS: dict[str, Region] = {
    "Europe": Region("Europe", LAEA_EUROPE, (-25.0, 34.0, 45.0, 71.5), EUROPE_EXTENT, "Europe"),
    "East Asia": Region("East Asia", "+proj=laea +lat_0=32 +lon_0=118 +datum=WGS84 +units=m +no_defs",
                        (97.0, 17.0, 146.0, 48.0), None, "Eastern Asia"),
    "North America": Region("North America", "+proj=laea +lat_0=40 +lon_0=-96 +datum=WGS84 +units=m",
                            (-128.0, 14.0, -55.0, 57.0), None, "Northern America"),
    "South America": Region("South America", "+proj=laea +lat_0=-20 +lon_0=-60 +datum=WGS84 +units=m",
                            (-85.0, -56.0, -32.0, 13.0), None, "South America"),
}
DOT_COLOR = style.SITE
DOT_EDGE = "white"
DOT_EDGE_LW = 0.3
SIZE_STEPS = (1, 5, 20)  # trials per place shown in the size legend

site_points = site_places  # the derivation lives in trialmap.aggregate


def dot_sizes(n_trials: pd.Series | np.ndarray | Sequence[float], scale: float = 4.0) -> np.ndarray:
    """Marker area (points^2) per place: proportional to trials, so area reads as count."""
    return scale * np.asarray(n_trials, dtype=float) + 2.0


def _region_extent(region: Region, points: pd.DataFrame) -> tuple[float, float, float, float]:
    from trialmap.figures.worldmap import _projected_points

    if region.extent is not None:
        return region.extent
    lon0, lat0, lon1, lat1 = region.box
    p = points[points["lon"].between(lon0, lon1) & points["lat"].between(lat0, lat1)]
    if len(p) < 2:
        t = np.linspace(0, 1, 20)
        lons = np.concatenate([lon0 + (lon1 - lon0) * t, np.full(20, lon1), lon0 + (lon1 - lon0) * t,
                               np.full(20, lon0)])
        lats = np.concatenate([np.full(20, lat0), lat0 + (lat1 - lat0) * t, np.full(20, lat1),
                               lat0 + (lat1 - lat0) * t])
        xy = _projected_points(lons, lats, region.crs)
    else:
        xy = _projected_points(p["lon"], p["lat"], region.crs)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    span = max(x1 - x0, y1 - y0, 1.2e6)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = span / 2 * 1.15
    return (cx - half, cy - half, cx + half, cy + half)


def _clip_world(world: gpd.GeoDataFrame, region: Region) -> gpd.GeoDataFrame:
    import shapely

    lon0, lat0, lon1, lat1 = region.box
    clip = shapely.box(max(lon0 - 40, -180), max(lat0 - 25, -89), min(lon1 + 40, 180), min(lat1 + 20, 89))
    near = world[world.geometry.intersects(clip)]
    return near.assign(geometry=near.geometry.intersection(clip)).to_crs(region.crs)


def sitemap(
    points: pd.DataFrame,
    world: gpd.GeoDataFrame,
    counts: pd.DataFrame | None = None,
    *,
    region: str | None = None,
    region_label: str | None = None,
    n_trials: int | None = None,
    n_country_only: int | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    title: str | None = None,
    ax: Axes | None = None,
    crs: str | None = None,
) -> Axes:
    """Draw trial sites as dots sized by trials per place, over the country choropleth.

    Parameters
    ----------
    points
        ``lat``, ``lon``, ``n_trials`` (see :func:`trialmap.aggregate.site_places`).
    world
        Country polygons with ``iso3`` (see :func:`trialmap.boundaries.load_world`).
    counts
        ``iso3``, ``n_trials`` per country for the choropleth underneath; the land tint when ``None``.
    region
        ``None``/"World" or a name in :data:`REGIONS`.
    n_trials
        Trials with a site in the region (stated in the legend).
    region_label
        How the legend names the counted region (e.g. "Europe (UN M49)").
    n_country_only
        The region's sites placed only at country level (not drawn; stated in the legend).
    source_line
        The short source line.
    width
        ``"single"`` or ``"double"`` (or mm): each has its own layout.
    title, ax, crs
        Not used (no titles in figures; the figure sizes its own panels; the projection is
        the region's); kept for old callers.

    Returns
    -------
    Axes
        Country fills have gid ``"countries"``, the dots gid ``"sites"`` (one offset per row
        of ``points``, smallest drawn last so none is hidden).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from trialmap.figures.export import add_source_line, width_mm
    from trialmap.figures.layout import add_axes_mm
    from trialmap.figures.worldmap import _projected_points

    del title, ax, crs
    w = width_mm(width)
    sz = style.sizes(w)
    small = w < 120
    reg = None if region in (None, "World") else REGIONS.get(str(region))
    if region not in (None, "World") and reg is None:
        msg = f"no zoom called {region!r}; use one of {', '.join(['World', *REGIONS])}"
        raise ValueError(msg)
    src = 5.0 if not small else 8.0
    if reg is None:
        geo = world.to_crs(EQUAL_EARTH)
        extent = world_extent(geo)
        map_w = w
        map_h = round(w / 2.2408, 1)
        legend_box = (1.0, src + 0.5, w - 2.0, (16.0 if not small else 24.0) - 1.0)
        h = src + legend_box[3] + 1.0 + map_h
        map_box = (0.0, h - map_h, map_w, map_h)
        crs_used = EQUAL_EARTH
    else:
        geo = _clip_world(world, reg)
        extent = _region_extent(reg, points)
        crs_used = reg.crs
        if small:
            map_w, map_h = w, 78.0
            legend_box = (1.0, src + 0.5, w - 2.0, 19.0)
            h = src + 20.0 + map_h
            map_box = (0.0, h - map_h, map_w, map_h)
        else:
            map_w, map_h = 128.0, 108.0
            h = src + map_h + 1.0
            map_box = (0.0, src + 1.0, map_w, map_h)
            legend_box = (map_w + 4.0, src + 1.0, w - map_w - 5.0, map_h)
    fig = plt.figure(figsize=(w * MM, h * MM))
    fig.set_facecolor("white")
    mx = add_axes_mm(fig, *map_box)
    mx.set_gid("map")
    if counts is not None:
        values = counts[counts["iso3"].notna()].set_index("iso3")["n_trials"].astype(float)
        classes = Classes.from_values(values[values > 0], "Trials per country")
    else:
        values = pd.Series(dtype=float)
        classes = Classes.from_values([1], "Trials per country")
    choropleth(mx, geo, values, classes, tiny=False)
    frame_map(mx, extent)
    if reg is not None:
        from matplotlib.patches import Rectangle

        mx.add_patch(Rectangle((0, 0), 1, 1, transform=mx.transAxes, fill=False, lw=0.5, ec="#333333",
                               zorder=8))

    pts = points.sort_values("n_trials", ascending=False)  # big first, small on top
    xy = _projected_points(pts["lon"], pts["lat"], crs_used) if len(pts) else np.zeros((0, 2))
    mx.scatter(xy[:, 0], xy[:, 1], s=dot_sizes(pts["n_trials"]), c=DOT_COLOR, edgecolors=DOT_EDGE,
               linewidths=DOT_EDGE_LW, zorder=5, gid="sites")

    lx = add_axes_mm(fig, *legend_box)
    lx.set_axis_off()
    lx.set_gid("legend")
    size_steps = [k for k in SIZE_STEPS if not len(pts) or k <= max(int(pts["n_trials"].max()), 1)] or [1]
    dots = [
        Line2D([], [], ls="", marker="o", markersize=float(np.sqrt(dot_sizes([k])[0])),
               markerfacecolor=DOT_COLOR, markeredgecolor=DOT_EDGE, markeredgewidth=DOT_EDGE_LW,
               label=f"{k} trial{'s' if k > 1 else ''}")
        for k in size_steps
    ]
    note = []
    if n_trials is not None:
        where = f"\nin {region_label or region}" if reg is not None else ""
        note.append(f"n = {n_trials} trials with a site{where}")
    if n_country_only:
        note.append(f"{n_country_only} site{'s' if n_country_only != 1 else ''} known only by country"
                    "\n(not drawn)")
    dot_title = "Trials per place" + ("\n" + "\n".join(note) if note else "")
    if reg is None or small:
        leg1 = lx.legend(handles=dots, title=dot_title, loc="upper left", bbox_to_anchor=(0.0, 1.0),
                         fontsize=sz["small"], title_fontsize=sz["small"], frameon=False,
                         ncol=len(dots), borderaxespad=0.0, alignment="left", columnspacing=0.8)
        lx.add_artist(leg1)
        leg2 = legend_panel(lx, classes, size=sz["small"], loc="upper right", bbox=(1.0, 1.0),
                            ncol=(len(classes.labels) + 1) if not small else 3)
    else:
        leg1 = lx.legend(handles=dots, title=dot_title, loc="upper left", bbox_to_anchor=(0.0, 1.0),
                         fontsize=sz["small"], title_fontsize=sz["small"], frameon=False,
                         borderaxespad=0.0, alignment="left")
        lx.add_artist(leg1)
        leg2 = legend_panel(lx, classes, size=sz["small"], loc="lower left", bbox=(0.0, 0.0))
    del leg2
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"], layout=False)
    return mx
